import { withLock } from "../storage/mod.ts";

// Same-process holders queue here instead of polling the lock file.
const local = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding an exclusive lock at `path`: in this process a queue per path, across
 * processes the store's lock file (O_EXCL, owner pid, taken over when the owner is gone),
 * so a killed build cannot wedge a snapshot.
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  timeoutMs = 600_000,
): Promise<T> {
  const before = local.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => release = r);
  const tail = before.then(() => mine);
  local.set(path, tail);
  await before;
  try {
    return await withLock(path, fn, timeoutMs);
  } finally {
    release();
    if (local.get(path) === tail) local.delete(path);
  }
}
