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
 * - {@linkcode diffDirectories} / {@linkcode diffOverlayUpper}: changes as a reproducible
 *   layer ({@linkcode createLayer}: diff_id and digest in one pass).
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
 * @module
 */
export {
  type Compression,
  decompress,
  detectCompression,
  type LayerSource,
  openLayer,
} from "./open_layer.ts";
export type { EntryType, TarEntry, TarHeader } from "./tar_entry.ts";
export { InvalidLayerError, PathError, TarFormatError } from "./errors.ts";
export {
  buildMergedTree,
  type BuildMergedTreeOptions,
  type ChangeCount,
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
export { applyLayer, type ApplyLayerOptions } from "./apply_layer.ts";
export {
  createLayer,
  type CreateLayerOptions,
  type LayerBlob,
  type LayerDigests,
} from "./create_layer.ts";
export type { WriteEntry, WriteHeader } from "./_tar_writer.ts";
export { diffDirectories, type DiffOptions, diffOverlayUpper } from "./diff.ts";
export {
  mountOverlay,
  openWorkspace,
  overlaySupported,
  unmountOverlay,
  type Workspace,
} from "./overlay.ts";
export { CowLayer, type CowMeta, type CowStat } from "./cow_layer.ts";
export {
  diffLayerStacks,
  type DiffLayerStacksOptions,
  diffTrees,
  type TreeChange,
} from "./diff_trees.ts";
export { fileLayer, fileStream } from "./file_layer.ts";
export { chainIds, type SnapshotGcResult, type SnapshotLayer, SnapshotStore } from "./snapshots.ts";
