import process from "node:process";
import { type FileHandle, open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { soleChunk } from "./release_chunk.ts";

// 1 MiB reads: a registry GET of a 552 MB blob spent ~20% less CPU than with 256 KiB (fewer
// read ops, socket writes and stream steps).
const CHUNK = 1 << 20;

/** Streams bytes `[start, end)` of an open file and closes it when done or cancelled. */
export function readFileStream(
  fh: FileHandle,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  let pos = start;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const n = Math.min(CHUNK, end - pos);
      if (n <= 0) {
        await fh.close();
        c.close();
        return;
      }
      const buf = soleChunk(n);
      const { bytesRead } = await fh.read(buf, 0, n, pos);
      if (bytesRead === 0) {
        await fh.close();
        c.error(new Error(`File ended at byte ${pos}, expected ${end}`));
        return;
      }
      pos += bytesRead;
      c.enqueue(bytesRead === n ? buf : buf.subarray(0, bytesRead));
    },
    async cancel() {
      await fh.close();
    },
  }, { highWaterMark: 2 });
}

/** Flushes a directory's entries (after a rename into it) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` with `bytes` atomically: temp file beside it, fsync, rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/** Writes all of `chunk` at the file's current position (a single write may be partial). */
export async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}
