import { type Digest, type DigestResult, DigestStream } from "../digest/mod.ts";
import { dropChunk } from "../storage/mod.ts";
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
  const tarHash = new DigestStream();
  const blobHash = new DigestStream();
  const gzip = (options.compression ?? "gzip") === "gzip";
  let stream = writeTar(entries).pipeThrough(tarHash);
  if (gzip) stream = compressed(stream);
  stream = stream.pipeThrough(blobHash);
  const digests = Promise.all([tarHash.result, blobHash.result]).then((
    [tar, blob]: DigestResult[],
  ) => ({
    digest: blob.digest,
    size: blob.size,
    diffId: tar.digest,
    uncompressedSize: tar.size,
    mediaType: gzip ? GZIP : TAR,
  }));
  digests.catch(() => {});
  return { stream, digests };
}
