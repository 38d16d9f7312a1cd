import { open, readFile, stat, unlink } from "node:fs/promises";
import { currentOwner, formatOwner, ownerAlive, parseOwner } from "./owner.ts";

/**
 * Runs `fn` holding an exclusive lock file at `path` (created with O_EXCL, holding the
 * owner's pid). A lock whose owner process is gone is taken over, so a killed process
 * cannot wedge the store.
 */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  timeoutMs = 60_000,
): Promise<T> {
  const release = await acquireLock(path, { timeoutMs });
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Options for {@linkcode acquireLock}. */
export interface AcquireOptions {
  /** Give up after this long while a live owner holds the lock. @default {60_000} */
  timeoutMs?: number;
  /** Longest pause between tries. @default {50} */
  maxWaitMs?: number;
}

/**
 * Takes the lock file at `path` and returns the function that releases it. While a live
 * process holds it this waits (up to `timeoutMs`, which may be `Infinity`); a lock of a
 * dead owner is taken over.
 */
export async function acquireLock(
  path: string,
  options: AcquireOptions = {},
): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const record = formatOwner(await currentOwner());
  let wait = 2;
  for (;;) {
    try {
      const fh = await open(path, "wx");
      try {
        await fh.writeFile(record);
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (await isStale(path)) {
        await breakStale(path, record);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for the store lock ${path}`);
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, options.maxWaitMs ?? 50);
    }
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await unlink(path).catch(() => {});
  };
}

/**
 * Removes the stale lock at `path`. Two waiters that both saw it stale must not both
 * unlink, or the second would remove the lock the first has just made: the removal
 * happens under a second O_EXCL file, after checking again that the lock is stale.
 */
async function breakStale(path: string, record: string): Promise<void> {
  const guard = `${path}.takeover`;
  let fh;
  try {
    fh = await open(guard, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    // Someone else is taking over; only a taker that died leaves this behind.
    if (await isStale(guard)) await unlink(guard).catch(() => {});
    return;
  }
  try {
    try {
      await fh.writeFile(record);
    } finally {
      await fh.close();
    }
    if (await isStale(path)) await unlink(path).catch(() => {});
  } finally {
    await unlink(guard).catch(() => {});
  }
}

// A lock file whose pid was never written (its owner died between create and write) is
// taken over once it is this old.
const UNWRITTEN_LOCK_MS = 5_000;

/** True when the lock at `path` is held by no live process (and may be taken over). */
export async function isStale(path: string): Promise<boolean> {
  let text: string;
  let age: number;
  try {
    text = await readFile(path, "utf8");
    age = Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return false; // gone already: try again
  }
  const owner = parseOwner(text);
  if (!owner) return age > UNWRITTEN_LOCK_MS;
  return !(await ownerAlive(owner));
}
