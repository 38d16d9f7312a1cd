import { type Digest, type DigestResult, DigestStream } from "../digest/mod.ts";
import type { Descriptor } from "../image/mod.ts";
import { type BlobStore, dropChunk } from "../storage/mod.ts";
import { type WriteEntry, writeTar } from "./_tar_writer.ts";

/** The digests of a layer, known once its stream has been read to the end. */
export interface LayerDigests {
  /** Digest of the compressed blob: what a manifest names. */
  digest: Digest;
  /** Size of the compressed blob in bytes. */
  size: number;
  /** Digest of the uncompressed tar: what `rootfs.diff_ids` lists. */
  diffId: Digest;
  /** Size of the uncompressed tar in bytes. */
  uncompressedSize: number;
  /** The layer's media type. */
  mediaType: string;
}

/** A layer being produced: read `stream` (once) and `digests` settles. */
export interface LayerBlob {
  /** The blob's bytes. */
  stream: ReadableStream<Uint8Array>;
  /** Digest, diff_id and sizes; rejects if the stream fails or is cancelled. */
  digests: Promise<LayerDigests>;
}

/** Options for {@linkcode createLayer}. */
export interface CreateLayerOptions {
  /** `gzip` (the default) or `none` for an uncompressed tar. */
  compression?: "gzip" | "none";
}

const GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR = "application/vnd.oci.image.layer.v1.tar";

/**
 * `tar` through gzip. A chunk gzip has taken is dead (the tar writer and the diff_id hash
 * are done with it): one that only its stream held (`soleChunk`, a file read) is freed
 * then, not at V8's next collection, which let a 512 MiB file's reads pile up by the
 * tens of megabytes.
 */
function compressed(tar: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const gzip = new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
  const writer = gzip.writable.getWriter();
  tar.pipeTo(
    new WritableStream<Uint8Array>({
      async write(chunk) {
        await writer.write(chunk);
        dropChunk(chunk);
      },
      close: () => writer.close(),
      abort: (reason) => writer.abort(reason),
    }),
  ).catch((reason) => writer.abort(reason).catch(() => {}));
  return gzip.readable;
}

/** The blob's bytes, with the digest of the tar inside (settled once they are read). */
function layerStream(
  entries: AsyncIterable<WriteEntry> | Iterable<WriteEntry>,
  options: CreateLayerOptions,
): { stream: ReadableStream<Uint8Array>; tar: Promise<DigestResult>; mediaType: string } {
  const tarHash = new DigestStream();
  const gzip = (options.compression ?? "gzip") === "gzip";
  const stream = writeTar(entries).pipeThrough(tarHash);
  return {
    stream: gzip ? compressed(stream) : stream,
    tar: tarHash.result,
    mediaType: gzip ? GZIP : TAR,
  };
}

/**
 * Writes entries as a layer blob, hashing the tar before compression (diff_id) and the
 * blob after it (digest) in the same pass. Entries are taken in the order given: sort
 * them for a reproducible layer. The gzip header carries no name or time, so the same
 * entries give the same digest on the same runtime.
 */
export function createLayer(
  entries: AsyncIterable<WriteEntry> | Iterable<WriteEntry>,
  options: CreateLayerOptions = {},
): LayerBlob {
  const layer = layerStream(entries, options);
  const blobHash = new DigestStream();
  const stream = layer.stream.pipeThrough(blobHash);
  const digests = Promise.all([layer.tar, blobHash.result]).then((
    [tar, blob]: DigestResult[],
  ) => ({
    digest: blob.digest,
    size: blob.size,
    diffId: tar.digest,
    uncompressedSize: tar.size,
    mediaType: layer.mediaType,
  }));
  digests.catch(() => {});
  return { stream, digests };
}

/** A layer written into a blob store: its descriptor and what the config lists for it. */
export interface StoredLayer {
  /** The blob as a manifest names it. */
  descriptor: Descriptor;
  /** Digest of the uncompressed tar: what `rootfs.diff_ids` lists. */
  diffId: Digest;
  /** Size of the uncompressed tar in bytes. */
  uncompressedSize: number;
}

/**
 * Writes entries as a layer blob into `blobs`, like {@linkcode createLayer} then
 * `put()`, but with the blob hashed once: by the store, which hashes what it writes to
 * commit it, rather than also on the way there.
 *
 * @example
 * ```ts ignore
 * const { descriptor, diffId } = await storeLayer(store.blobs, entries);
 * ```
 */
export async function storeLayer(
  blobs: Pick<BlobStore, "put">,
  entries: AsyncIterable<WriteEntry> | Iterable<WriteEntry>,
  options: CreateLayerOptions = {},
): Promise<StoredLayer> {
  const layer = layerStream(entries, options);
  layer.tar.catch(() => {});
  const stored = await blobs.put(layer.stream);
  const tar = await layer.tar;
  return {
    descriptor: { mediaType: layer.mediaType, digest: stored.digest as Digest, size: stored.size },
    diffId: tar.digest,
    uncompressedSize: tar.size,
  };
}
