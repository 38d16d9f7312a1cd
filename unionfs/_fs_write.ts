import {
  chmodSync,
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  lutimesSync,
  openSync,
  writeSync,
} from "node:fs";
import { chmod, lchown, link, lutimes, mkdir, open, symlink } from "node:fs/promises";
import process from "node:process";
import { mknod } from "./_platform.ts";
import type { BodyReader } from "./_tar_reader.ts";

/** A file's bytes: a stream, or the tar reader's plain reads (no stream per entry). */
export type Body = ReadableStream<Uint8Array> | BodyReader;

function readerOf(body: Body): BodyReader {
  if (!(body instanceof ReadableStream)) return body;
  const reader = body.getReader();
  return {
    async read() {
      const { done, value } = await reader.read();
      return done ? null : value;
    },
  };
}

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

/**
 * {@linkcode setMeta} with direct calls, for the final pass over a layer's directories:
 * hundreds of them cost three thread-pool round trips each otherwise.
 */
export function setMetaSync(path: string, m: Meta, opts: WriteOptions): void {
  if (opts.owners) lchownSync(path, m.uid, m.gid);
  if (m.type !== "symlink") chmodSync(path, m.mode & 0o7777);
  lutimesSync(path, m.mtime, m.mtime);
}

/** Files up to this size are gathered in memory and written with synchronous calls. */
export const SMALL_FILE = 256 * 1024;

const umask = process.umask();
const selfUid = process.getuid?.() ?? -1;
const selfGid = process.getgid?.() ?? -1;

/** Reads a body of at most `size` bytes into one array (the tar header's size). */
export async function gather(body: BodyReader, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for (let chunk; (chunk = await body.read()) !== null;) {
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
  body: Body,
  m: Meta,
  opts: WriteOptions,
): Promise<void> {
  const size = m.size;
  if (m.type === "file" && size !== undefined && size <= SMALL_FILE) {
    return writeFileBytes(path, await gather(readerOf(body), size), m, opts);
  }
  await writeLargeFile(path, readerOf(body), m, opts);
}

/**
 * Writes a regular file from bytes in memory, then its metadata, with direct calls: open
 * (exclusive, so nothing already there is followed), write, fchown and fchmod only where
 * they change something, futimes, close.
 */
export function writeFileBytes(path: string, bytes: Uint8Array, m: Meta, opts: WriteOptions): void {
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
}

/** Bytes gathered before one write call: decompressors hand out chunks of a few KiB. */
const WRITE_BUFFER = 1 << 20;
/** Writes in flight per file: the disk works while the next bytes are decompressed. */
const WRITES_IN_FLIGHT = 2;

/**
 * Writes a regular file from a stream, then its metadata, through one file handle. Chunks
 * are gathered into a few reused 1 MiB buffers, so memory stays bounded whatever the
 * file's size and each write call carries a megabyte, not a chunk.
 */
async function writeLargeFile(
  path: string,
  body: BodyReader,
  m: Meta,
  opts: WriteOptions,
): Promise<void> {
  const fh = await open(path, "wx", 0o600);
  const pending: Promise<unknown>[] = [];
  try {
    const free = Array.from({ length: WRITES_IN_FLIGHT }, () => new Uint8Array(WRITE_BUFFER));
    let buf = free.pop()!;
    let fill = 0;
    let position = 0;
    const flush = async () => {
      const out = buf;
      const length = fill;
      const at = position;
      position += length;
      const done = writeAll(fh, out, length, at).then(() => free.push(out));
      pending.push(done);
      while (free.length === 0) await pending.shift();
      buf = free.pop()!;
      fill = 0;
    };
    for (let chunk; (chunk = await body.read()) !== null;) {
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(chunk.length - at, WRITE_BUFFER - fill);
        buf.set(chunk.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === WRITE_BUFFER) await flush();
      }
    }
    if (fill > 0) await flush();
    await Promise.all(pending.splice(0));
    if (opts.owners) await fh.chown(m.uid, m.gid);
    await fh.chmod(m.mode & 0o7777);
    await fh.utimes(m.mtime, m.mtime);
  } finally {
    // A failed write must not leave another one running on a closed handle.
    await Promise.allSettled(pending);
    await fh.close();
  }
}

async function writeAll(
  fh: Awaited<ReturnType<typeof open>>,
  bytes: Uint8Array,
  length: number,
  position: number,
): Promise<void> {
  for (let at = 0; at < length;) {
    const { bytesWritten } = await fh.write(bytes, at, length - at, position + at);
    at += bytesWritten;
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
