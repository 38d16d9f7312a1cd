/**
 * A big image for memory tests and benchmarks, made as a stream so the maker's own memory
 * stays small: one uncompressed layer holding one file of `bytes` bytes (random per 64 KiB
 * block, so no stage of a pipeline can shrink it by accident). {@linkcode writeBigImage}
 * puts it in an on-disk store; {@linkcode bigDockerArchive} streams it as a `docker save`
 * archive without touching the disk.
 */
import { randomFillSync } from "node:crypto";
import { createHasher } from "../digest/mod.ts";
import { MediaType, parseReference, serializeManifest } from "../image/mod.ts";
import { openStore, putBytes } from "../storage/mod.ts";

const BLOCK = 64 << 10;

/** A ustar header for one regular file `name` of `size` bytes (under 8 GiB: octal fits). */
function ustarHeader(name: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (s: string, off: number) => h.set(enc.encode(s), off);
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
  put(name, 0);
  put(oct(0o644, 8), 100);
  put(oct(0, 8), 108);
  put(oct(0, 8), 116);
  put(oct(size, 12), 124);
  put(oct(0, 12), 136);
  put("        ", 148);
  put("0", 156);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  put(oct(sum, 7) + " ", 148);
  return h;
}

/** A layer tar with one file of `bytes` random bytes, produced on demand (pull-driven). */
export function bigLayerStream(bytes: number, name = "big.bin"): ReadableStream<Uint8Array> {
  const pad = (512 - bytes % 512) % 512;
  let sent = -1;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent < 0) {
        sent = 0;
        return c.enqueue(ustarHeader(name, bytes));
      }
      if (sent < bytes) {
        const n = Math.min(BLOCK, bytes - sent);
        const chunk = new Uint8Array(n);
        randomFillSync(chunk);
        sent += n;
        return c.enqueue(chunk);
      }
      c.enqueue(new Uint8Array(pad + 1024));
      c.close();
    },
  }, { highWaterMark: 0 });
}

/** Writes an image `name` with one layer of a `bytes`-byte file into the store at `dir`. */
export async function writeBigImage(dir: string, name: string, bytes: number): Promise<void> {
  const store = await openStore(dir);
  // Uncompressed, so the blob digest is the diff_id too.
  const layer = await store.blobs.put(bigLayerStream(bytes));
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/big.bin"] },
    rootfs: { type: "layers", diff_ids: [layer.digest] },
    history: [{ created_by: `big file of ${bytes} bytes` }],
  }));
  const c = await putBytes(store.blobs, config);
  const m = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: c.digest, size: c.size },
    layers: [{ mediaType: MediaType.OCI_LAYER, digest: layer.digest, size: layer.size }],
  });
  await putBytes(store.blobs, m.bytes);
  await store.tags.set(parseReference(name).toString(), {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.bytes.length,
  });
}

/** The size of {@linkcode bigLayerStream}'s tar for a file of `bytes` bytes. */
export function bigLayerSize(bytes: number): number {
  return 512 + bytes + (512 - bytes % 512) % 512 + 1024;
}

/**
 * A `docker save` archive of an image `name` whose one layer is
 * {@linkcode bigLayerStream}`(bytes)`, produced on demand. The layer comes first and the
 * config and manifest.json after it (a loader reads the whole archive before it decides),
 * so its diff_id is hashed as it streams by, with no first pass and no file.
 */
export function bigDockerArchive(bytes: number, name: string): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  async function* parts(): AsyncGenerator<Uint8Array> {
    const layerSize = bigLayerSize(bytes);
    yield ustarHeader("layer.tar", layerSize);
    const hasher = await createHasher();
    for await (const chunk of bigLayerStream(bytes)) {
      hasher.update(chunk);
      yield chunk;
    }
    const config = enc.encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/big.bin"] },
      rootfs: { type: "layers", diff_ids: [hasher.digest()] },
      history: [{ created_by: `big file of ${bytes} bytes` }],
    }));
    const manifest = enc.encode(JSON.stringify([
      { Config: "config.json", RepoTags: [name], Layers: ["layer.tar"] },
    ]));
    for (const [file, body] of [["config.json", config], ["manifest.json", manifest]] as const) {
      yield ustarHeader(file, body.length);
      yield body;
      yield new Uint8Array((512 - body.length % 512) % 512);
    }
    yield new Uint8Array(1024);
  }
  const it = parts();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const { done, value } = await it.next();
      if (done) c.close();
      else c.enqueue(value);
    },
  }, { highWaterMark: 0 });
}
