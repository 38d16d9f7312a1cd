import { chmod, lchown, link, lutimes, mkdir, open, symlink } from "node:fs/promises";
import { mknod } from "./_platform.ts";

/** Metadata to put on a path once it exists. */
export interface Meta {
  type: string;
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

/** Writes a regular file from a stream, then its metadata, through one file handle. */
export async function writeFile(
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
