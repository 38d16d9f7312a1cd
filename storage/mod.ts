/**
 * The content-addressed store.
 *
 * A {@linkcode BlobStore} holds blobs by digest (on disk: {@linkcode FsBlobStore}, in
 * memory: {@linkcode MemoryBlobStore}); every write is verified and invisible until
 * committed. A {@linkcode TagStore} holds names apart from the blobs. On disk the two
 * together are an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`, and
 * `blobs/sha512/` for content a descriptor names by sha512; image IDs stay sha256).
 * {@linkcode ImageStore} resolves names and IDs like docker and does tag, remove, gc and
 * fsck; {@linkcode ImageStore.withLease} holds what an operation in flight writes
 * against gc in any process (containerd's leases). {@linkcode loadArchive} (docker and
 * OCI archives), {@linkcode saveDockerArchive}, {@linkcode saveOciArchive},
 * {@linkcode exportOciLayout} and {@linkcode importOciLayout} move images in and out.
 *
 * @example Store an image, then move it to another store as a `docker save` archive
 * ```ts
 * import { loadArchive, memoryStore, putBytes, saveDockerArchive } from "@stratum/stratum/storage";
 * import { MediaType } from "@stratum/stratum/image";
 *
 * // On disk: `await openStore("/var/lib/stratum")`, an OCI layout skopeo and umoci read.
 * const store = memoryStore();
 * const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
 * const config = await putBytes(store.blobs, json({
 *   architecture: "amd64",
 *   os: "linux",
 *   rootfs: { type: "layers", diff_ids: [] },
 * }));
 * const manifest = json({
 *   schemaVersion: 2,
 *   mediaType: MediaType.OCI_MANIFEST,
 *   config: { mediaType: MediaType.OCI_CONFIG, ...config },
 *   layers: [],
 * });
 * const stored = await putBytes(store.blobs, manifest); // verified, then committed
 * await store.tags.set("docker.io/library/empty:1", {
 *   mediaType: MediaType.OCI_MANIFEST,
 *   digest: stored.digest,
 *   size: stored.size,
 * });
 * console.log((await store.resolve("empty:1")).config.os); // linux, by docker's short name
 *
 * // `docker save` out, `docker load` in: streams, hashed as they pass.
 * const copy = memoryStore();
 * const loaded = await loadArchive(copy, saveDockerArchive(store, ["empty:1"]));
 * console.log(loaded.map((image) => image.id)); // the same image ID in the second store
 * console.log((await copy.images()).map((row) => row.name));
 * ```
 *
 * @module
 */
export {
  type BlobInfo,
  type BlobReadOptions,
  type BlobStore,
  type BlobWriter,
  type BlobWriterOptions,
  type ExpectedBlob,
  putBytes,
  readBlob,
  readLayers,
} from "./blob_store.ts";
export { ArchiveError, BlobNotFoundError, ConflictError, ImageNotFoundError } from "./errors.ts";
export { FsBlobStore } from "./fs_blob_store.ts";
export { MemoryBlobStore } from "./memory_blob_store.ts";
export { MemoryTagStore, type TagRecord, type TagStore, TagStoreBase } from "./tag_store.ts";
export {
  DIGEST_REF_ANNOTATION,
  OciIndexTagStore,
  REF_NAME_ANNOTATION,
} from "./oci_index_tag_store.ts";
export { ImageStore } from "./image_store.ts";
export {
  type FsckProblem,
  type GcOptions,
  type GcResult,
  imageSize,
  type ImageStoreOptions,
  type ImageSummary,
  type RemoveResult,
  type ResolvedImage,
} from "./image_store_types.ts";
export {
  familiarTag,
  loadArchive,
  type LoadedImage,
  type LoadOptions,
  saveDockerArchive,
} from "./docker_archive.ts";
export { exportOciLayout, importOciLayout, saveOciArchive } from "./oci_layout.ts";
export { blobAge, memoryStore, openStore, type StoreOptions } from "./open_store.ts";
export { FsLeaseManager, type Lease, type LeaseManager, MemoryLeaseManager } from "./lease.ts";
export {
  currentOwner,
  formatOwner,
  type Owner,
  ownerAlive,
  ownerTag,
  parseOwner,
} from "./owner.ts";
export { sweepStore, type SweepStoreOptions, type SweepStoreResult } from "./sweep.ts";
export { withLock } from "./_lock.ts";
export { adoptChunk, dropChunk, releaseChunk, soleChunk } from "./release_chunk.ts";
export { concatBytes } from "./bytes.ts";

// Types of lower modules that this module's API names, re-exported so that its
// documentation links them and users import them from one door.
export type { Digest, DigestResult } from "../digest/mod.ts";
export type {
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Layer,
  LayerRef,
  ParsedManifest,
  Platform,
  Reference,
  RootFS,
} from "../image/mod.ts";
