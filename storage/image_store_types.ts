/**
 * The shapes of the image store's API: a resolved image, a listing row, and what
 * remove, gc and fsck report, with the options they take.
 *
 * @module
 */
import type { Digest } from "../digest/mod.ts";
import type {
  Descriptor,
  ImageConfig,
  ImageManifest,
  Layer,
  Platform,
  Reference,
} from "../image/mod.ts";
import type { LeaseManager } from "./lease.ts";

/** An image resolved from a name or ID: its manifest, config and where it was found. */
export interface ResolvedImage {
  /** The descriptor of the single-platform manifest. */
  descriptor: Descriptor;
  /** The manifest, with its exact bytes and digest. */
  manifest: ImageManifest;
  /** The manifest's digest. */
  manifestDigest: Digest;
  /** The image config. */
  config: ImageConfig;
  /** The layers, bottom first: each manifest blob with its diff ID, read from the store. */
  layers: Layer[];
  /** The image ID: the sha256 of the exact config bytes (even when a sha512 names them). */
  id: Digest;
  /** The record(s) that name this image (same manifest or same index). */
  names: string[];
  /** When the tag pointed at an index, its digest. */
  indexDigest?: Digest;
}

/** One row of {@linkcode ImageStore.images}: an image with each name it has. */
export interface ImageSummary {
  /** The image ID. */
  id: Digest;
  /** The manifest (or index) digest the name points at. */
  digest: Digest;
  /** A fully qualified name with tag, or undefined for an untagged image. */
  name?: string;
  /** The parsed name. */
  reference?: Reference;
  /** The config's `created`, if any. */
  created?: string;
  /** Bytes of config plus layers, as stored. */
  size: number;
}

/** What {@linkcode ImageStore.remove} did, in docker's words: untagged names, deleted IDs. */
export interface RemoveResult {
  /** Names removed, fully qualified. */
  untagged: string[];
  /** Image IDs whose data was deleted. */
  deleted: Digest[];
}

/** What {@linkcode ImageStore.gc} removed. */
export interface GcResult {
  /** Digests of the removed blobs. */
  removed: Digest[];
  /** Their total size in bytes. */
  bytes: number;
}

/** A blob that failed {@linkcode ImageStore.fsck}. */
export interface FsckProblem {
  /** The blob's name in the store. */
  digest: string;
  /** What is wrong: its content hashes to another digest, or a referenced blob is missing. */
  problem: string;
}

/** Options for {@linkcode ImageStore.gc}. */
export interface GcOptions {
  /**
   * Keep unreferenced blobs younger than this many milliseconds, since an operation in
   * progress (a pull, a build) writes blobs before it names them. Only the filesystem
   * backend knows ages; others ignore it. @default {0}
   */
  graceMs?: number;
  /** Returns a blob's age in milliseconds, or undefined when unknown. */
  age?: (digest: Digest) => Promise<number | undefined>;
  /**
   * More roots besides the names: content other parts keep (the build cache's layers and
   * configs). Manifests among them are followed like named ones. A function is called
   * once no lease can change, so roots recorded by an operation that just ended count.
   */
  roots?: Descriptor[] | (() => Promise<Descriptor[]>);
}

/** Options for the {@linkcode ImageStore} constructor. */
export interface ImageStoreOptions {
  /** The platform chosen when a name points at an index. @default {the host's} */
  platform?: Platform;
  /**
   * Where leases live; gc and remove keep what they hold. Stores shared by processes
   * need a shared manager ({@linkcode FsLeaseManager}). @default {in this process}
   */
  leases?: LeaseManager;
  /**
   * The directory of a store on disk, where the parts beside the image layout live (the
   * build cache, snapshots, layer sizes). Unset for a store in memory.
   */
  root?: string;
}

/** Config plus layer sizes as stored. */
export function imageSize(img: ResolvedImage): number {
  return img.manifest.config.size + img.manifest.layers.reduce((n, l) => n + l.size, 0);
}
