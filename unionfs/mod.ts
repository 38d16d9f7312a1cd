/**
 * unionfs: layer tars resolved the way overlayfs resolves them.
 *
 * - {@linkcode openLayer} reads a layer blob (gzip, zstd or plain, told by magic bytes) as
 *   a stream of tar entries whose bodies stream with backpressure.
 * - {@linkcode buildMergedTree} / {@linkcode MergedTree}: the merged view of a layer stack
 *   with OCI whiteout rules, provenance per path and wasted space per layer.
 * - {@linkcode flattenToDirectory} / {@linkcode flattenToTar}: the merged tree written
 *   out, each surviving file once; {@linkcode applyLayer} applies one layer onto a
 *   directory in place. Both resolve every path inside the target.
 * - {@linkcode unpack}: an image of the store as an OCI runtime bundle (`rootfs` flattened,
 *   `config.json` from the image config), as `umoci unpack` makes it, for `runc run`.
 * - {@linkcode resolveInRoot}: the one rooted path resolver (securejoin semantics) every
 *   walk of an image root goes through, over disk ({@linkcode diskLookup}), the merged
 *   tree or any other tree.
 * - {@linkcode diffDirectories} / {@linkcode diffOverlayUpper}: changes as a reproducible
 *   layer ({@linkcode createLayer}: diff_id and digest in one pass; {@linkcode storeLayer}
 *   writes one into a blob store, which hashes the blob once as it stores it).
 * - {@linkcode diffTrees}: added/changed/removed paths between two merged trees.
 * - {@linkcode CowLayer}: an in-memory writable layer over read-only lowers.
 * - {@linkcode mountOverlay} / {@linkcode openWorkspace}: kernel overlayfs over plain
 *   directories, with a copy fallback where overlay cannot be mounted.
 * - {@linkcode SnapshotStore}: one unpacked directory per layer chain in the store, in
 *   overlay form, reused across images as the lowers of RUN steps.
 *
 * OS features the runtimes lack (xattrs, mknod, mount) go through standard commands in
 * one private file, `_platform.ts`.
 *
 * The tar codec is our own (`_tar_reader.ts`, `_tar_writer.ts`): `modern-tar` 0.8.6 drops
 * device major/minor numbers, and both it and `tar-stream` 3.2.2 decode PAX values as
 * UTF-8, which corrupts binary `SCHILY.xattr.*` values such as `security.capability`;
 * `tar-stream` also ignores PAX `uid`, `gid` and `mtime`. Layers need all of these.
 *
 * @example Make two layers and merge them the way overlayfs does
 * ```ts
 * import { buildMergedTree, createLayer } from "@stratum/stratum/unionfs";
 *
 * const file = (name: string, text: string) => {
 *   const body = new TextEncoder().encode(text);
 *   return { header: { name, type: "file" as const, size: body.length, mode: 0o644 }, body };
 * };
 * // Two layers; the upper one deletes a file with a whiteout and overrides another.
 * const lower = createLayer([file("etc/motd", "lower\n"), file("etc/old", "gone soon\n")]);
 * const upper = createLayer([file("etc/motd", "upper\n"), file("etc/.wh.old", "")]);
 * const blobs = [
 *   new Uint8Array(await new Response(lower.stream).arrayBuffer()),
 *   new Uint8Array(await new Response(upper.stream).arrayBuffer()),
 * ];
 * const digests = [await lower.digests, await upper.digests];
 * console.log(digests[0].digest, digests[0].diffId); // compressed and uncompressed, one pass
 *
 * const tree = await buildMergedTree(blobs.map((bytes, i) => ({
 *   digest: digests[i].digest,
 *   open: () => Promise.resolve(new Blob([bytes]).stream()),
 * })));
 * console.log(tree.get("etc/motd")?.layer); // 1: the upper layer wins
 * console.log(tree.get("etc/old")); // undefined: whited out
 * ```
 *
 * @module
 */
export {
  type Compression,
  decompress,
  detectCompression,
  type LayerSource,
  openLayer,
  openLayerEntries,
} from "./open_layer.ts";
export { pullThroughZlib, type PullThroughZlibOptions } from "./zlib_pull.ts";
export type { Body } from "./_fs_write.ts";
export type { BodyReader, RawTarEntry } from "./_tar_reader.ts";
export type { EntryType, TarEntry, TarHeader } from "./tar_entry.ts";
export { InvalidLayerError, PathError, TarFormatError } from "./errors.ts";
export {
  buildMergedTree,
  type BuildMergedTreeOptions,
  type ChangeCount,
  type FileStat,
  type LayerStats,
  MergedTree,
  type NodeType,
  scanLayer,
  type ScannedEntry,
  type TreeEntry,
} from "./merged_tree.ts";
export {
  type FlattenOptions,
  type FlattenResult,
  flattenToDirectory,
  flattenToTar,
  type FlattenToTarOptions,
} from "./flatten.ts";
export { unpack, type UnpackOptions, type UnpackResult } from "./unpack.ts";
export {
  applyEntries,
  type ApplyEntriesOptions,
  type ApplyEntry,
  applyLayer,
  type ApplyLayerOptions,
} from "./apply_layer.ts";
export {
  diskLookup,
  type DiskNode,
  lstatOrNull,
  MAX_SYMLINK_HOPS,
  type ResolvedPath,
  resolveInRoot,
  type ResolveInRootOptions,
  resolveInRootSync,
  resolveOnDisk,
  type RootedLookup,
} from "./resolve_in_root.ts";
export {
  createLayer,
  type CreateLayerOptions,
  type LayerBlob,
  type LayerDigests,
  type StoredLayer,
  storeLayer,
} from "./create_layer.ts";
export type { WriteEntry, WriteHeader } from "./_tar_writer.ts";
export { DirectApplyPlan, type HeaderFacts } from "./_direct_apply.ts";
export {
  diffDirectories,
  type DiffOptions,
  diffOverlayUpper,
  directoryChanges,
  overlayUpperChanges,
} from "./diff.ts";
export {
  mountOverlay,
  type MountOverlayOptions,
  openWorkspace,
  type OpenWorkspaceOptions,
  overlaySupported,
  unmountOverlay,
  type Workspace,
} from "./overlay.ts";
export { CowLayer, type CowMeta } from "./cow_layer.ts";
export {
  diffLayerStacks,
  type DiffLayerStacksOptions,
  diffTrees,
  type TreeChange,
} from "./diff_trees.ts";
export {
  type DescribedEntry,
  type DescribedLayer,
  type DescribedStep,
  type DescribedWhiteout,
  describeImage,
  type DescribeImageOptions,
  type ImageDescription,
} from "./describe_image.ts";
export { fileLayer, fileStream } from "./file_layer.ts";
export {
  chainIds,
  type PrepareOptions,
  type SnapshotGcResult,
  SnapshotStore,
} from "./snapshots.ts";

// Types of lower modules that this module's API names, re-exported so that its
// documentation links them and users import them from one door.
export type { Digest, DigestResult } from "../digest/mod.ts";
export type {
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  IdMapping,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Layer,
  LayerRef,
  ParsedManifest,
  Platform,
  Reference,
  RootFS,
  RuntimeMount,
  RuntimeSpec,
} from "../image/mod.ts";
export type {
  BlobInfo,
  BlobReadOptions,
  BlobStore,
  BlobWriter,
  BlobWriterOptions,
  ExpectedBlob,
  FsckProblem,
  GcOptions,
  GcResult,
  ImageStore,
  ImageSummary,
  Lease,
  LeaseManager,
  RemoveResult,
  ResolvedImage,
  TagRecord,
  TagStore,
} from "../storage/mod.ts";
