/**
 * The one shape of an image layer that every module speaks: the blob a manifest names, the
 * diff ID the config lists for it, and how to read its bytes. A build's cache, the snapshot
 * store, inspection, export and unpack all pass these around, so a layer is never re-described
 * as a descriptor here and a digest pair there.
 *
 * @module
 */
import type { Digest } from "../digest/mod.ts";
import type { Descriptor } from "./descriptor.ts";

/** A layer as an image names it: its blob and the digest of its uncompressed tar. */
export interface LayerRef {
  /** The layer blob (compressed, as the manifest names it). */
  descriptor: Descriptor;
  /** The digest of the uncompressed tar (`rootfs.diff_ids`). */
  diffId: Digest;
}

/**
 * A layer that can be read. `digest` and `mediaType` repeat the descriptor's so that a Layer
 * is also what unionfs reads (its `LayerSource`) without a wrapper.
 */
export interface Layer extends LayerRef {
  /** The blob's digest (`descriptor.digest`). */
  digest: Digest;
  /** The blob's media type (`descriptor.mediaType`). */
  mediaType: string;
  /** Opens the blob's bytes as stored, from the start; may be called more than once. */
  open(): Promise<ReadableStream<Uint8Array>>;
}

/** Makes a {@linkcode Layer} of `ref` whose bytes come from `open(digest)`. */
export function readableLayer(
  ref: LayerRef,
  open: (digest: Digest) => Promise<ReadableStream<Uint8Array>>,
): Layer {
  const { descriptor, diffId } = ref;
  return {
    descriptor,
    diffId,
    digest: descriptor.digest,
    mediaType: descriptor.mediaType,
    open: () => open(descriptor.digest),
  };
}

/** Pairs a manifest's layer descriptors with the config's diff IDs, bottom first. */
export function layerRefs(
  descriptors: readonly Descriptor[],
  diffIds: readonly Digest[],
): LayerRef[] {
  return descriptors.map((descriptor, i) => ({ descriptor, diffId: diffIds[i] }));
}
