/**
 * What every stage and step of one build shares: its options, the store, the build cache,
 * the context, the clock and the progress stream, plus the stages' results. Steps reach
 * other stages and images only through it (`fromSource`), so `stage.ts` and the steps
 * import this module and never each other in a cycle.
 *
 * @module
 */
import type { Platform } from "../image/mod.ts";
import type { ImageStore, ResolvedImage } from "../storage/mod.ts";
import type { DirectApplyPlan, SnapshotStore } from "../unionfs/mod.ts";
import type { TransferOptions } from "../registry_client/mod.ts";
import type { BuildCache, LastRun, LayerRef, RecordedStep } from "./build_cache.ts";
import type { BuildContext } from "./build_context.ts";
import type { ContextFs } from "./context_walk.ts";
import { type BuildGraph, findStage } from "./build_graph.ts";
import type { BuildOutput } from "./build_output.ts";
import type { BuildEvent } from "./build_progress.ts";
import type { StageConfig } from "./instructions.ts";
import type { RegistryCache } from "./registry_cache.ts";
import type { ExecutorKind } from "./run_executor.ts";

/** Options of `build()` (`build.ts`). */
export interface BuildOptions {
  /** The store the base images come from and the image goes to. */
  store: ImageStore;
  /**
   * The directory the build cache, context metadata and snapshots live in.
   * @default {the store's own `root`; a store in memory needs one given}
   */
  storeRoot?: string;
  /** The context directory. One of `contextDir` and `contextTar` is needed. */
  contextDir?: string;
  /** The context as a tar stream (`docker build -`). */
  contextTar?: ReadableStream<Uint8Array>;
  /** The Dockerfile's text. Default: read from `dockerfilePath`. */
  dockerfile?: string;
  /**
   * The Dockerfile's path, relative to the context (or absolute); it also picks
   * `<path>.dockerignore`. Default `"Dockerfile"`.
   */
  dockerfilePath?: string;
  /** Names for the image (`-t`, several). Default none (a digest-only record). */
  tags?: string[];
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** `--target`: the stage to build. Default: the last. */
  target?: string;
  /** `--platform` (`linux/amd64`). Default: the store's platform. */
  platform?: string;
  /** `--no-cache`: run every step (results still go into the cache). */
  noCache?: boolean;
  /** How the context directory is read; see {@linkcode ContextFs}. Default `node:fs`. */
  contextFs?: ContextFs;
  /** Fetches a base image into the store; without it a missing base is an error. */
  pull?: (ref: string) => Promise<void>;
  /** `--pull`: fetch base images even when the store has them (needs `pull`). */
  alwaysPull?: boolean;
  /** `--network` for RUN: `host` (default) or `none`. */
  network?: "host" | "none";
  /** `--secret id=...,src=...`: secret id → file path, for `RUN --mount=type=secret`. */
  secrets?: Record<string, string>;
  /** `--label`s added to the image. */
  labels?: Record<string, string>;
  /** SOURCE_DATE_EPOCH: clamps times in new layers, the config and new history entries. */
  sourceDateEpoch?: number;
  /** `--output`s besides the store. */
  outputs?: BuildOutput[];
  /** `--iidfile`: where to write the image ID. */
  iidfile?: string;
  /** `--metadata-file`: where to write the build's metadata JSON. */
  metadataFile?: string;
  /** Progress events (see `createProgress`). */
  progress?: (event: BuildEvent) => void;
  /** `--dry-run`: compute keys and report hits without running or writing anything. */
  dryRun?: boolean;
  /** Fetch for ADD of URLs. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Which RUN executor to use. Default `auto`. */
  executor?: ExecutorKind | "auto";
  /** Cancels the build. */
  signal?: AbortSignal;
  /**
   * `--cache-from`: registry caches (`type=registry,ref=REF` or a bare `REF`) whose steps
   * count as cache hits; a hit downloads only the layers the store lacks.
   */
  cacheFrom?: string[];
  /** `--cache-to`: where this build's step records and their layers are exported. */
  cacheTo?: string[];
  /** `--push`: push the image to each of `tags` once it is stored. */
  push?: boolean;
  /** How `cacheFrom`, `cacheTo` and `push` reach registries (fetch, auth, insecure hosts). */
  registry?: TransferOptions;
}

/** The options a build runs with: the store's directory settled. */
export type SettledBuildOptions = BuildOptions & { storeRoot: string };

/** One step of the build as it ran (or would run). */
export interface StepReport {
  /** The stage's label (`builder`, `stage-0`). */
  stage: string;
  /** The instruction as written in the Dockerfile. */
  instruction: string;
  /** True when the cache had it. */
  cached: boolean;
  /** The step's cache key. */
  cacheKey: string;
  /** Why it missed the cache (when it ran). */
  missReason?: string;
  /** For a hit found in a `cacheFrom` registry cache: its ref. */
  cachedFrom?: string;
  /** Time it took; 0 for cache hits and dry runs. */
  durationMs: number;
}

/** A stage as built: its state after the last step, its layers and its last key. */
export interface StageResult {
  /** The config (and whether CMD was set) after the stage's last step. */
  state: StageConfig;
  /** The stage's layers, base first. */
  layers: LayerRef[];
  /** The key of its last step. */
  key: string;
  /** The first step that missed the cache, for explaining the steps after it. */
  firstMiss?: string;
}

/** The state one build shares across its stages and steps. */
export interface Session {
  /** The build's options, with `sourceDateEpoch` settled. */
  options: SettledBuildOptions;
  /** The stages and what each needs. */
  graph: BuildGraph;
  /** The Dockerfile's lines, for quoting instructions as written. */
  lines: string[];
  /** The Dockerfile's escape character. */
  escapeToken: "\\" | "`";
  /** The build context. */
  context: BuildContext;
  /** The persistent step cache. */
  cache: BuildCache;
  /** The platform built for, unless a stage names another. */
  platform: Platform;
  /** Every step reported so far, in the order they finished. */
  steps: StepReport[];
  /** Every step's key and components, kept for explaining the next build's misses. */
  runSteps: RecordedStep[];
  /** The previous build's steps, by position. */
  lastRun: LastRun;
  /** The `cacheFrom` caches, read before the first step. */
  remoteCaches: RegistryCache[];
  /** The build's scratch directory. */
  tmp: string;
  /** Seconds since the epoch: SOURCE_DATE_EPOCH when set, else the wall clock. */
  now: () => number;
  /** The same time as an ISO string, for history entries. */
  iso: () => string;
  /** Sends a progress event. */
  emit: (event: BuildEvent) => void;
  /** A new progress vertex id. */
  newId: () => number;
  /** The result of stage `index`, built once however many ask. */
  stage: (index: number) => Promise<StageResult>;
  /** The stages started so far, by index. */
  stageRuns: Map<number, Promise<StageResult>>;
  /** Base images resolved so far, by reference, so each is pulled once. */
  images: Map<string, Promise<ResolvedImage | null>>;
  /** The snapshots RUN lowers come from, opened on the first RUN. */
  snapshots?: SnapshotStore;
  /**
   * What a RUN needs to know of the layers this build wrote (COPY, ADD, WORKDIR) to make
   * their snapshots without a mount, by diff_id, until a RUN makes them.
   */
  written: Map<string, DirectApplyPlan>;
}

/**
 * Finds `ref` in the store, pulling it when it is missing (or always, with `alwaysPull`);
 * a dry run does not pull and gives null for a missing image.
 */
export function resolveImage(session: Session, ref: string): Promise<ResolvedImage | null> {
  let promise = session.images.get(ref);
  if (!promise) {
    promise = (async () => {
      const { store, pull, alwaysPull, dryRun } = session.options;
      if (alwaysPull && pull && !dryRun) await pull(ref);
      try {
        return await store.resolve(ref);
      } catch (error) {
        if ((error as Error).name !== "ImageNotFoundError") throw error;
      }
      if (dryRun) return null;
      if (!pull) {
        throw new Error(
          `Cannot build from "${ref}": the image is not in the store and no registry client was given to pull it`,
        );
      }
      await pull(ref);
      return await store.resolve(ref);
    })();
    session.images.set(ref, promise);
  }
  return promise;
}

/**
 * An image's layers as the build carries them: plain refs (the store checked that every blob
 * has its diff ID), so cache records hold no readers.
 */
export function imageLayers(image: ResolvedImage): LayerRef[] {
  return image.layers.map(({ descriptor, diffId }) => ({ descriptor, diffId }));
}

/** What a `--from` (of COPY or of a RUN mount) names: a stage of this build or an image. */
export type FromSource =
  | {
    kind: "stage";
    /** The stage's label. */
    name: string;
    /** The stage's result. */
    result: StageResult;
  }
  | {
    kind: "image";
    /** The reference as written. */
    name: string;
    /** The image, or null when it is not in the store (a dry run). */
    image: ResolvedImage | null;
  };

/**
 * Resolves a `--from` value: a stage name or index (built first), else an image
 * reference. `self` is the asking stage, which names an image of the same name instead.
 */
export async function fromSource(
  session: Session,
  from: string,
  self?: number,
): Promise<FromSource> {
  const index = findStage(session.graph.stages, from);
  if (index !== null && index !== self) {
    const result = await session.stage(index);
    return { kind: "stage", name: session.graph.stages[index].label, result };
  }
  return { kind: "image", name: from, image: await resolveImage(session, from) };
}
