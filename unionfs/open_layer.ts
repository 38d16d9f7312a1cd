import { type RawTarEntry, readTar, readTarEntries } from "./_tar_reader.ts";
import type { TarEntry } from "./tar_entry.ts";
import type { Transform } from "node:stream";
import { pullThroughZlib } from "./zlib_pull.ts";
import { builtin } from "./_builtin.ts";

/**
 * A layer blob as unionfs needs it: enough to name it in errors and to read it, as often
 * as needed. The store's blobs, an OCI layout and a registry client all fit this shape.
 */
export interface LayerSource {
  /** The blob's digest (compressed, as a manifest names it); used in error messages. */
  digest: string;
  /** The manifest's media type; informational only: compression is read off the bytes. */
  mediaType?: string;
  /** Opens the blob's bytes from the start. May be called more than once. */
  open(): Promise<ReadableStream<Uint8Array>>;
}

/** The compressions a layer blob may use, as told by its first bytes. */
export type Compression = "gzip" | "zstd" | "none";

/** Tells a blob's compression from its first bytes (at least 4 are needed for zstd). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (
    head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f &&
    head[3] === 0xfd
  ) return "zstd";
  return "none";
}

/** A stream whose first bytes are already read: they are put back in front. */
async function peek(
  stream: ReadableStream<Uint8Array>,
  n: number,
): Promise<[Uint8Array, ReadableStream<Uint8Array>]> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    parts.push(value);
    have += value.length;
  }
  const head = new Uint8Array(have);
  let at = 0;
  for (const p of parts) {
    head.set(p, at);
    at += p.length;
  }
  let sentHead = false;
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentHead) {
        sentHead = true;
        if (head.length > 0) {
          controller.enqueue(head);
          return;
        }
      }
      if (ended) return controller.close();
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return [head, rest];
}

type ZstdModule = typeof import("fzstd");

function loadZlib(): Promise<typeof import("node:zlib") | null> {
  return builtin<typeof import("node:zlib")>("node:zlib");
}

/** Largest chunk the gzip decoder hands out: a quarter as many buffers as the 16 KiB default. */
const GUNZIP_CHUNK = 64 * 1024;

async function gunzipStream(
  input: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const zlib = await loadZlib();
  if (zlib) {
    return pullThroughZlib(input, zlib.createGunzip({ chunkSize: GUNZIP_CHUNK }), {
      what: "a gzip layer",
    });
  }
  return input.pipeThrough(
    new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
}

async function zstdStream(input: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const zlib = await loadZlib();
  const create = (zlib as { createZstdDecompress?: () => Transform } | null)
    ?.createZstdDecompress;
  if (create) return pullThroughZlib(input, create(), { what: "a zstd layer" });
  // Node 20 has no zstd in zlib: a pure-JS streaming decoder stands in.
  const fzstd: ZstdModule = await import("fzstd");
  let d!: InstanceType<ZstdModule["Decompress"]>;
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        d = new fzstd.Decompress((chunk) => controller.enqueue(chunk));
      },
      transform(chunk) {
        d.push(chunk);
      },
      flush() {
        d.push(new Uint8Array(0), true);
      },
    }),
  );
}

/**
 * Decompresses a layer blob, whatever its compression, telling it by magic bytes rather
 * than by media type (registries mislabel).
 */
export async function decompress(
  stream: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const [head, rest] = await peek(stream, 4);
  const kind = detectCompression(head);
  if (kind === "none") return rest;
  return kind === "gzip" ? await gunzipStream(rest) : await zstdStream(rest);
}

/**
 * Reads a layer blob as tar entries. Each entry's body streams from the decompressor with
 * backpressure: read or cancel it before asking for the next entry.
 *
 * @example
 * ```ts ignore
 * for await (const { header, body } of openLayer(source)) {
 *   console.log(header.type, header.name);
 *   await body.cancel();
 * }
 * ```
 */
export async function* openLayer(source: LayerSource): AsyncGenerator<TarEntry> {
  yield* readTar(await openTar(source), source.digest);
}

/** {@linkcode openLayer} with bodies as plain reads, for flatten's hot path. */
export async function* openLayerEntries(source: LayerSource): AsyncGenerator<RawTarEntry> {
  yield* readTarEntries(await openTar(source), source.digest);
}

async function openTar(source: LayerSource): Promise<ReadableStream<Uint8Array>> {
  let raw: ReadableStream<Uint8Array>;
  try {
    raw = await source.open();
  } catch (e) {
    throw new Error(`Cannot open layer "${source.digest}": ${(e as Error).message}`, {
      cause: e,
    });
  }
  return await decompress(raw);
}
