import { closeSync, fchmodSync, fchownSync, futimesSync, openSync, writeSync } from "node:fs";
import { chmod, lchown, link, lutimes, mkdir, open, symlink } from "node:fs/promises";
import process from "node:process";
import { mknod } from "./_platform.ts";

/** Metadata to put on a path once it exists. */
export interface Meta {
  type: string;
  /** A regular file's size; lets small files take the fast path. */
  size?: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** What to do about ownership and special files. */
export interface WriteOptions {
  /** Set uid/gid (needs root). */
  owners: boolean;
  /** Make device nodes (needs root); otherwise they are skipped and reported. */
  devices: boolean;
}

/** Sets ownership, mode and times; the order matters: chown clears setuid bits. */
export async function setMeta(path: string, m: Meta, opts: WriteOptions): Promise<void> {
  if (opts.owners) await lchown(path, m.uid, m.gid);
  if (m.type !== "symlink") await chmod(path, m.mode & 0o7777);
  await lutimes(path, m.mtime, m.mtime);
}

/** Files up to this size are gathered in memory and written with synchronous calls. */
export const SMALL_FILE = 256 * 1024;

const umask = process.umask();
const selfUid = process.getuid?.() ?? -1;
const selfGid = process.getgid?.() ?? -1;

async function gather(body: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for await (const chunk of body) {
    out.set(chunk.subarray(0, Math.max(0, size - at)), at);
    at += chunk.length;
  }
  return out.subarray(0, Math.min(at, size));
}

/**
 * Writes a regular file from a stream, then its metadata. Small files take synchronous
 * calls: for thousands of tiny files, four direct syscalls beat four thread-pool round
 * trips each, and the decompressor keeps running meanwhile. Calls that would change
 * nothing (chown to our own ids, chmod to what `open` already gave) are skipped.
 */
export async function writeFile(
  path: string,
  body: ReadableStream<Uint8Array>,
  m: Meta,
  opts: WriteOptions,
): Promise<void> {
  const size = m.size;
  if (m.type === "file" && size !== undefined) {
    if (size <= SMALL_FILE) {
      const bytes = await gather(body, size);
      const fd = openSync(path, "wx", m.mode & 0o777);
      try {
        for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
        const chown = opts.owners && (m.uid !== selfUid || m.gid !== selfGid);
        if (chown) fchownSync(fd, m.uid, m.gid);
        if (chown || (m.mode & 0o7000) !== 0 || (m.mode & umask) !== 0) {
          fchmodSync(fd, m.mode & 0o7777);
        }
        futimesSync(fd, m.mtime, m.mtime);
      } finally {
        closeSync(fd);
      }
      return;
    }
  }
  await writeLargeFile(path, body, m, opts);
}

/** Writes a regular file from a stream, then its metadata, through one file handle. */
async function writeLargeFile(
  path: string,
  body: ReadableStream<Uint8Array>,
  m: Meta,
  opts: WriteOptions,
): Promise<void> {
  const fh = await open(path, "wx", 0o600);
  try {
    for await (const chunk of body) {
      let at = 0;
      while (at < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, at, chunk.length - at);
        at += bytesWritten;
      }
    }
    if (opts.owners) await fh.chown(m.uid, m.gid);
    await fh.chmod(m.mode & 0o7777);
    await fh.utimes(m.mtime, m.mtime);
  } finally {
    await fh.close();
  }
}

/**
 * Makes a node that has no body: directory, symlink, fifo, device, hardlink. Returns a
 * reason when it could not be made here (a device without root), else null.
 */
export async function makeSpecial(
  path: string,
  e: Meta & { linkTarget: string; devmajor: number; devminor: number; linkFrom?: string },
  opts: WriteOptions,
): Promise<string | null> {
  if (e.linkFrom !== undefined) {
    await link(e.linkFrom, path);
    return null;
  }
  switch (e.type) {
    case "directory":
      await mkdir(path, { mode: 0o700 });
      return null;
    case "symlink":
      await symlink(e.linkTarget, path);
      break;
    case "fifo":
      await mknod(path, "fifo", e.mode);
      break;
    case "char":
    case "block":
      if (!opts.devices) return `device ${e.devmajor}:${e.devminor} needs root`;
      await mknod(path, e.type, e.mode, e.devmajor, e.devminor);
      break;
    default:
      throw new TypeError(`Cannot make "${path}": unexpected type "${e.type}"`);
  }
  await setMeta(path, e, opts);
  return null;
}
