/**
 * Who owns a lock, an ingest ref, a lease or a scratch directory: a process, named by its
 * pid and, where /proc shows it, its start time, so that a pid reused by an unrelated
 * process after a reboot or a wrap-around does not keep a dead owner's debris alive.
 * Records are one line, `"<pid>"` or `"<pid> <start>"` (older stores wrote the pid alone).
 */
import { readFile } from "node:fs/promises";
import process from "node:process";

/** A process that owns something in the store. */
export interface Owner {
  /** Its pid. */
  pid: number;
  /** Its start time in clock ticks since boot (`/proc/PID/stat` field 22), when known. */
  start?: number;
}

let self: Promise<Owner> | undefined;

/** This process, as an owner. */
export function currentOwner(): Promise<Owner> {
  self ??= (async () => ({ pid: process.pid, start: await startTime(process.pid) }))();
  return self;
}

/** The one-line record of `owner`. */
export function formatOwner(owner: Owner): string {
  return owner.start === undefined ? String(owner.pid) : `${owner.pid} ${owner.start}`;
}

/** The owner in a record, or undefined when the text is not one (e.g. not written yet). */
export function parseOwner(text: string): Owner | undefined {
  const m = /^\s*(\d+)(?:[ .](\d+))?\s*$/.exec(text);
  if (!m) return undefined;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return m[2] === undefined ? { pid } : { pid, start: Number(m[2]) };
}

/** The short form used inside file names: `<pid>` or `<pid>.<start>`. */
export function ownerTag(owner: Owner): string {
  return owner.start === undefined ? String(owner.pid) : `${owner.pid}.${owner.start}`;
}

/**
 * True while `owner` runs. A killed process its parent has not reaped yet still answers
 * kill(0), so a zombie counts as dead; a pid now running a process that started at
 * another time is a different process.
 */
export async function ownerAlive(owner: Owner): Promise<boolean> {
  if (owner.pid === process.pid) {
    const me = await currentOwner();
    return owner.start === undefined || me.start === undefined || owner.start === me.start;
  }
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    // EPERM: alive, but not ours to signal.
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
  const stat = await procStat(owner.pid);
  if (stat === undefined) return true; // no /proc: trust kill(0)
  if (stat.state === "Z") return false;
  return owner.start === undefined || stat.start === undefined || stat.start === owner.start;
}

async function startTime(pid: number): Promise<number | undefined> {
  return (await procStat(pid))?.start;
}

async function procStat(
  pid: number,
): Promise<{ state: string; start: number | undefined } | undefined> {
  let s: string;
  try {
    s = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ")".
  const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
  const start = Number(rest[19]); // field 22; rest[0] is field 3
  return { state: rest[0], start: Number.isSafeInteger(start) ? start : undefined };
}
