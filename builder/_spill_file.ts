/**
 * A scratch file that only its descriptor reaches: the context table's pages and a copy's
 * waiting bodies go there so that memory stays flat. It is unlinked as soon as it is
 * opened, so a killed build leaves nothing behind. Private to builder/.
 *
 * @module
 */
import { closeSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import process from "node:process";

/** A new scratch file in `dir` named after `kind`, already unlinked. */
export function openSpillFile(dir: string, kind: string): number {
  mkdirSync(dir, { recursive: true });
  const random = crypto.getRandomValues(new Uint32Array(2)).join("");
  const path = `${dir}/${kind}-${process.pid}-${random}`;
  const fd = openSync(path, "wx+", 0o600);
  unlinkSync(path);
  return fd;
}

/** Writes all of `bytes` at `position`. */
export function writeAllAt(fd: number, bytes: Uint8Array, position: number): void {
  for (let at = 0; at < bytes.length;) {
    at += writeSync(fd, bytes, at, bytes.length - at, position + at);
  }
}

/** Fills `into` from `position`; a file shorter than that is an error naming `what`. */
export function readAllAt(fd: number, into: Uint8Array, position: number, what: string): void {
  for (let at = 0; at < into.length;) {
    const n = readSync(fd, into, at, into.length - at, position + at);
    if (n === 0) throw new Error(`${what} was cut short`);
    at += n;
  }
}

/** Closes a scratch file; it is already gone from its directory. */
export function closeSpillFile(fd: number): void {
  closeSync(fd);
}
