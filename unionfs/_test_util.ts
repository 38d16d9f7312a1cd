import { type WriteEntry, type WriteHeader, writeTar } from "./_tar_writer.ts";
import type { LayerSource } from "./open_layer.ts";

const enc = new TextEncoder();

/** A regular file entry. */
export function file(name: string, content = "", extra: Partial<WriteHeader> = {}): WriteEntry {
  const body = enc.encode(content);
  return { header: { name, type: "file", size: body.length, mode: 0o644, ...extra }, body };
}

/** A directory entry. */
export function dir(name: string, extra: Partial<WriteHeader> = {}): WriteEntry {
  return { header: { name, type: "directory", mode: 0o755, ...extra } };
}

/** A symlink entry. */
export function symlink(name: string, target: string): WriteEntry {
  return { header: { name, type: "symlink", linkname: target, mode: 0o777 } };
}

/** A hardlink entry. */
export function hardlink(name: string, target: string): WriteEntry {
  return { header: { name, type: "hardlink", linkname: target } };
}

/** A whiteout for `path`. */
export function whiteout(path: string): WriteEntry {
  const i = path.lastIndexOf("/");
  return file(`${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}`);
}

/** The opaque marker for directory `path`. */
export function opaque(path: string): WriteEntry {
  return file(`${path}/.wh..wh..opq`);
}

/** Bytes of a whole stream. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The tar bytes of `entries`. */
export function tarBytes(entries: WriteEntry[]): Promise<Uint8Array> {
  return collect(writeTar(entries));
}

/** Gzip of bytes. */
export function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return collect(
    new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new CompressionStream("gzip"),
    ),
  );
}

/** A stream of `bytes` in 64 KiB chunks, as a file or socket would deliver them. */
export function chunked(bytes: Uint8Array, size = 65536): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at += size));
    },
  });
}

/** A layer source over bytes held in memory. */
export function bytesLayer(bytes: Uint8Array, digest = "sha256:test"): LayerSource {
  return { digest, open: () => Promise.resolve(chunked(bytes)) };
}

let layerNo = 0;

/** An in-memory layer of `entries`, gzipped unless told otherwise. */
export async function layer(entries: WriteEntry[], compress = true): Promise<LayerSource> {
  const tar = await tarBytes(entries);
  return bytesLayer(compress ? await gzip(tar) : tar, `sha256:layer${++layerNo}`);
}

/** mulberry32: a small seeded PRNG, so a failing case can be rebuilt from its seed. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
