import { open, readFile, unlink } from "node:fs/promises";
import process from "node:process";

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
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    try {
      const fh = await open(path, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (await isStale(path)) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for the store lock ${path}`);
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 50);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
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
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}
