import { open, readFile, stat, unlink } from "node:fs/promises";
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

// A lock file whose pid was never written (its owner died between create and write) is
// taken over once it is this old.
const UNWRITTEN_LOCK_MS = 5_000;

async function isStale(path: string): Promise<boolean> {
  let text: string;
  let age: number;
  try {
    text = (await readFile(path, "utf8")).trim();
    age = Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return false; // gone already: try again
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return age > UNWRITTEN_LOCK_MS;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
  return await isZombie(pid);
}

/** A killed process its parent has not reaped still answers kill(0); Linux shows it as Z. */
async function isZombie(pid: number): Promise<boolean> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}
