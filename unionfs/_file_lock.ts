import { open, readFile, unlink } from "node:fs/promises";
import process from "node:process";

// Same-process holders queue here instead of polling the lock file.
const local = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding an exclusive lock at `path`: in this process a queue per path, across
 * processes a file created with O_EXCL holding the owner's pid. A lock whose owner is gone
 * is taken over, so a killed build cannot wedge a snapshot.
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
    await acquire(path, timeoutMs);
    try {
      return await fn();
    } finally {
      await unlink(path).catch(() => {});
    }
  } finally {
    release();
    if (local.get(path) === tail) local.delete(path);
  }
}

async function acquire(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    try {
      const fh = await open(path, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
      if (await isStale(path)) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for the lock ${path}`);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 100);
    }
  }
}

async function isStale(path: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number((await readFile(path, "utf8")).trim());
  } catch {
    return false; // gone already, or being written: try again
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  // The in-process queue lets one holder at a time reach the file: our own pid there is
  // left over from an earlier process that had it.
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === "ESRCH";
  }
}
