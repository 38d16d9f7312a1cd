/**
 * The content-addressed store.
 *
 * A {@linkcode BlobStore} holds blobs by digest (on disk: {@linkcode FsBlobStore}, in
 * memory: {@linkcode MemoryBlobStore}); every write is verified and invisible until
 * committed. A {@linkcode TagStore} holds names apart from the blobs. On disk the two
 * together are an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`).
 * {@linkcode ImageStore} resolves names and IDs like docker and does tag, remove, gc and
 * fsck; {@linkcode ImageStore.withLease} holds what an operation in flight writes
 * against gc in any process (containerd's leases). {@linkcode loadArchive} (docker and
 * OCI archives), {@linkcode saveDockerArchive}, {@linkcode saveOciArchive},
 * {@linkcode exportOciLayout} and {@linkcode importOciLayout} move images in and out.
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
export {
  type FsckProblem,
  type GcOptions,
  type GcResult,
  imageSize,
  ImageStore,
  type ImageStoreOptions,
  type ImageSummary,
  type RemoveResult,
  type ResolvedImage,
} from "./image_store.ts";
export { familiarTag, loadArchive, type LoadedImage, saveDockerArchive } from "./docker_archive.ts";
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
export { dropChunk, releaseChunk, soleChunk } from "./release_chunk.ts";
