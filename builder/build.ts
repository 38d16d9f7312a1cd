/**
 * `build()`: a Dockerfile and a context in, an image in the store out, with Docker
 * BuildKit's semantics. Stages run as a graph (independent ones in parallel, unneeded ones
 * skipped); each step is looked up in the persistent cache by its key and only run on a
 * miss; COPY/ADD and WORKDIR layers are written here, RUN steps go to the RUN executor
 * (`run_executor.ts`) over layer snapshots.
 *
 * @module
 */
import { type ExecutorKind, type RunMount, runStep } from "./run_executor.ts";
import { buildTempRoot, ownedTempDir, sweepDebris } from "./debris.ts";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { type Digest, sha256 } from "../digest/mod.ts";
import {
  formatPlatform,
  hostPlatform,
  type ImageConfig,
  parsePlatform,
  parseReference,
  type Platform,
} from "../image/mod.ts";
import type { ImageStore, ResolvedImage } from "../storage/mod.ts";
import {
  applyLayer,
  chainIds,
  createLayer,
  flattenToDirectory,
  overlaySupported,
  resolveOnDisk,
  SnapshotStore,
} from "../unionfs/mod.ts";
import {
  BuildCache,
  cacheKey,
  type CacheRecord,
  explainMiss,
  type KeyComponents,
  type LayerRef,
  type RunStep,
} from "./build_cache.ts";
import { BuildContext, contextPath } from "./build_context.ts";
import { type BuildGraph, findStage, planBuildGraph, type StageNode } from "./build_graph.ts";
import { type BuildOutput, storeImage, writeBuildFiles, writeOutput } from "./build_output.ts";
import type { BuildEvent } from "./build_progress.ts";
import {
  contextFs,
  contextInputs,
  CopyError,
  fetchUrl,
  type InlineSource,
  matchSource,
  planCopy,
  planEntries,
  type PlannedEntry,
  resolveChown,
  resolvePath,
  rootPath,
  type SourceFs,
  TreeFs,
} from "./copy.ts";
import { DockerfileSyntaxError } from "./errors.ts";
import {
  addHistory,
  applyMetadata,
  cleanAbsolute,
  commandLine,
  copyCreatedBy,
  expansionEnv,
  initialStageConfig,
  isMetadataInstruction,
  resolveWorkdir,
  runCreatedBy,
  type StageConfig,
} from "./instructions.ts";
import { type Instruction, parseDockerfile, parseHeredocWord } from "./parser.ts";
import { expandWord } from "./word_expansion.ts";
import { parseChmod } from "./chmod_mode.ts";
import { push, type PushResult, type TransferOptions } from "../registry_client/mod.ts";
import { exportCache, parseCacheSpec, RegistryCache } from "./registry_cache.ts";

/** Options of {@linkcode build}. */
export interface BuildOptions {
  /** The store the base images come from and the image goes to. */
  store: ImageStore;
  /** The store's root directory: the build cache, context metadata and snapshots live there. */
  storeRoot: string;
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

/** The result of {@linkcode build}. */
export interface BuildResult {
  /** The image ID (config digest); empty in a dry run. */
  imageId: string;
  /** The manifest digest; empty in a dry run. */
  manifestDigest: string;
  /** The image config. */
  config: ImageConfig;
  /** Every step of every stage built, in the order they finished. */
  steps: StepReport[];
  /** The stages in build order, for dry runs and progress. */
  stages: { label: string; base: string; dependsOn: string[] }[];
  /** Build args nobody used, and other warnings. */
  warnings: string[];
  /** What `push` wrote, one entry per tag. */
  pushed: PushResult[];
}

/** A RUN step failed: the exit code and the end of its output. */
export class BuildStepError extends Error {
  /** The step as written. */
  readonly instruction: string;
  /** Its 1-based line in the Dockerfile. */
  readonly line: number;
  /** The command's exit code, when a command ran. */
  readonly exitCode?: number;

  /**
   * Creates the error for the instruction at `line`.
   *
   * @param message What failed.
   */
  constructor(
    message: string,
    instruction: string,
    line: number,
    options: { exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "BuildStepError";
    this.instruction = instruction;
    this.line = line;
    this.exitCode = options.exitCode;
  }
}

interface StageResult {
  state: StageConfig;
  layers: LayerRef[];
  key: string;
  firstMiss?: string;
}

interface Engine {
  options: BuildOptions;
  graph: BuildGraph;
  lines: string[];
  escapeToken: "\\" | "`";
  context: BuildContext;
  cache: BuildCache;
  platform: Platform;
  steps: StepReport[];
  runSteps: RunStep[];
  lastRun: Map<string, RunStep>;
  stageRuns: Map<number, Promise<StageResult>>;
  images: Map<string, Promise<ResolvedImage | null>>;
  nextId: number;
  now: () => number;
  iso: () => string;
  emit: (event: BuildEvent) => void;
  run?: Promise<RunBackend>;
  tmp: string;
  /** The `cacheFrom` caches, read before the first step. */
  remoteCaches: RegistryCache[];
  /** The entries of layers this build wrote (COPY, ADD, WORKDIR), by diff_id. */
  written: Map<string, PlannedEntry[]>;
  /** Bytes of file bodies `written` keeps in memory. */
  keptBytes: number;
}

/** At most this many bytes of layer file bodies are kept for RUN snapshots. */
const KEPT_BYTES_LIMIT = 256 << 20;

/**
 * Builds an image from a Dockerfile, the way `docker build` (BuildKit) does.
 *
 * @throws {DockerfileSyntaxError} for a malformed Dockerfile (with its line).
 * @throws {BuildStepError} when a step fails (a RUN exits non-zero, a COPY source is
 *   missing), naming the step and its line.
 * @throws {Error} when a base image is not in the store and no `pull` is given.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  // Mounts, containers and scratch of builds killed earlier go first; this build's content
  // is held by a lease until its image is named, whatever gc runs meanwhile.
  await sweepDebris(options.storeRoot);
  return await options.store.withLease((store) => buildLeased({ ...options, store }));
}

async function buildLeased(options: BuildOptions): Promise<BuildResult> {
  const dockerfilePath = options.dockerfilePath ?? "Dockerfile";
  const inContext = !isAbsolute(dockerfilePath);
  const emit = options.progress ?? (() => {});
  const started = performance.now();
  let nextId = 1;
  const internal = (name: string) => {
    const id = nextId++;
    const t = performance.now();
    emit({ type: "start", id, name });
    return () => emit({ type: "done", id, durationMs: performance.now() - t });
  };

  const loadContext = internal("[internal] load build context");
  const context = await BuildContext.open({
    contextDir: options.contextDir,
    contextTar: options.contextTar,
    dockerfilePath, // for <Dockerfile>.dockerignore beside it, wherever it is
    storeRoot: options.storeRoot,
  });
  loadContext();
  try {
    const doneDefinition = internal(`[internal] load build definition from ${dockerfilePath}`);
    let text = options.dockerfile;
    if (text === undefined) {
      const path = inContext ? join(context.root, dockerfilePath) : dockerfilePath;
      try {
        text = await readFile(path, "utf8");
      } catch (error) {
        throw new Error(`Cannot read the Dockerfile "${dockerfilePath}": no such file`, {
          cause: error,
        });
      }
    }
    const parsed = parseDockerfile(text, { file: dockerfilePath });
    doneDefinition();
    const platform = options.platform
      ? parsePlatform(options.platform)
      : options.store.platform ?? hostPlatform();
    const sde = options.sourceDateEpoch ??
      (options.buildArgs?.SOURCE_DATE_EPOCH !== undefined
        ? Number(options.buildArgs.SOURCE_DATE_EPOCH)
        : undefined);
    if (sde !== undefined && (!Number.isInteger(sde) || sde < 0)) {
      throw new RangeError(`Invalid SOURCE_DATE_EPOCH ${sde}: expected whole seconds`);
    }
    const graph = planBuildGraph(parsed, {
      buildArgs: options.buildArgs,
      target: options.target,
      platform: formatPlatform(platform),
    });
    const cache = new BuildCache(options.storeRoot);
    const cacheTo = (options.cacheTo ?? []).map(parseCacheSpec);
    if (options.push && (options.tags ?? []).length === 0) {
      throw new TypeError("--push needs at least one tag (-t) to push to");
    }
    const remoteCaches: RegistryCache[] = [];
    for (const spec of (options.cacheFrom ?? []).map(parseCacheSpec)) {
      if (options.noCache) break;
      const done = internal(`importing cache manifest from ${spec.ref}`);
      remoteCaches.push(await RegistryCache.open(spec.ref, options.registry));
      done();
    }
    const runId = `${context.id}\0${dockerfilePath}\0${options.target ?? ""}`;
    const lastRun = new Map((await cache.lastRun(runId)).map((s) => [s.position, s]));
    await mkdir(join(options.storeRoot, "build-cache", "tmp"), { recursive: true });
    const engine: Engine = {
      options: { ...options, sourceDateEpoch: sde },
      graph,
      lines: text.split("\n"),
      escapeToken: parsed.escapeToken,
      context,
      cache,
      platform,
      steps: [],
      runSteps: [],
      lastRun,
      stageRuns: new Map(),
      images: new Map(),
      get nextId() {
        return nextId;
      },
      set nextId(v: number) {
        nextId = v;
      },
      now: () => (sde !== undefined ? sde : Math.floor(Date.now() / 1000)),
      iso:
        () => (sde !== undefined ? new Date(sde * 1000).toISOString() : new Date().toISOString()),
      emit,
      remoteCaches,
      written: new Map(),
      keptBytes: 0,
      tmp: await ownedTempDir(buildTempRoot(options.storeRoot), "build-"),
    };
    for (const w of graph.scoped.warnings) emit({ type: "warning", message: w });
    try {
      // Every needed stage starts at once; each awaits what it depends on.
      const results = await Promise.all(graph.needed.map((i) => runStage(engine, i)));
      const final = results[graph.needed.indexOf(graph.target)];
      await cache.saveRun(runId, engine.runSteps);
      const image = finalConfig(engine, final);
      const stages = graph.needed.map((i) => ({
        label: graph.stages[i].label,
        base: graph.stages[i].baseName,
        dependsOn: graph.stages[i].deps.map((d) => graph.stages[d].label),
      }));
      if (options.dryRun) {
        return {
          imageId: "",
          manifestDigest: "",
          config: image,
          steps: engine.steps,
          stages,
          warnings: graph.scoped.warnings,
          pushed: [],
        };
      }
      const exporting = internal("exporting to image");
      const stored = await storeImage(options.store, image, final.layers, options.tags ?? []);
      exporting();
      for (const output of options.outputs ?? []) {
        const done = internal(`exporting to ${output.type}: ${output.dest}`);
        await writeOutput(options.store, stored, final.layers, output);
        done();
      }
      await writeBuildFiles(stored, options);
      for (const spec of cacheTo) {
        const done = internal(`exporting cache to registry ${spec.ref}`);
        await exportCache(
          cache,
          options.store.blobs,
          engine.runSteps.map((s) => s.key),
          spec.ref,
          options.registry,
        );
        done();
      }
      const pushed: PushResult[] = [];
      for (const tag of options.push ? options.tags ?? [] : []) {
        const done = internal(`pushing ${tag}`);
        pushed.push(await push(options.store, tag, options.registry));
        done();
      }
      void started;
      return {
        imageId: stored.imageId,
        manifestDigest: stored.manifestDigest,
        config: stored.config,
        steps: engine.steps,
        stages,
        warnings: graph.scoped.warnings,
        pushed,
      };
    } finally {
      await rm(engine.tmp, { recursive: true, force: true });
    }
  } finally {
    await context.close();
  }
}

function finalConfig(engine: Engine, final: StageResult): ImageConfig {
  const image = structuredClone(final.state.image);
  if (engine.options.labels && Object.keys(engine.options.labels).length > 0) {
    image.config = {
      ...image.config,
      Labels: { ...image.config?.Labels, ...engine.options.labels },
    };
  }
  image.rootfs = { type: "layers", diff_ids: final.layers.map((l) => l.diffId) };
  image.created = image.history?.at(-1)?.created ?? engine.iso();
  return image;
}

/** The text of an instruction as written, continuation lines joined. */
function sourceText(engine: Engine, instruction: Instruction): string {
  if (instruction.startLine === 0) return instruction.keyword.toUpperCase();
  const last = instruction.heredocs.length > 0 ? instruction.startLine : instruction.endLine;
  const parts: string[] = [];
  for (let n = instruction.startLine; n <= last; n++) {
    const line = engine.lines[n - 1]?.replace(/\r$/, "").trim() ?? "";
    if (line.startsWith("#") && n > instruction.startLine) continue;
    const escape = engine.escapeToken;
    parts.push(line.endsWith(escape) ? line.slice(0, -1).trim() : line);
  }
  return parts.filter((p) => p !== "").join(" ");
}

function runStage(engine: Engine, index: number): Promise<StageResult> {
  let promise = engine.stageRuns.get(index);
  if (!promise) {
    promise = executeStage(engine, index);
    engine.stageRuns.set(index, promise);
  }
  return promise;
}

function resolveImage(engine: Engine, ref: string): Promise<ResolvedImage | null> {
  let promise = engine.images.get(ref);
  if (!promise) {
    promise = (async () => {
      const { store, pull, alwaysPull, dryRun } = engine.options;
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
    engine.images.set(ref, promise);
  }
  return promise;
}

/**
 * Runs what a stage's FROM needs (its platform, its base image); a failure names the
 * Dockerfile's line as BuildKit does (`Dockerfile:3`), with the FROM as written.
 */
async function atFrom<T>(engine: Engine, stage: StageNode, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof BuildStepError) throw error;
    const text = engine.lines[stage.line - 1]?.replace(/\r$/, "").trim() ?? "FROM";
    const file = engine.options.dockerfilePath ?? "Dockerfile";
    throw new BuildStepError(
      `${file}:${stage.line}: ${text}: ${(error as Error).message}`,
      text,
      stage.line,
      { cause: error },
    );
  }
}

function layersOf(image: ResolvedImage): LayerRef[] {
  const diffIds = image.config.rootfs.diff_ids;
  if (diffIds.length !== image.manifest.layers.length) {
    throw new Error(
      `Image ${
        image.names[0] ?? image.id
      } has ${image.manifest.layers.length} layers but ${diffIds.length} diff_ids`,
    );
  }
  return image.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i] }));
}

interface StepState {
  engine: Engine;
  stage: StageNode;
  state: StageConfig;
  layers: LayerRef[];
  key: string;
  firstMiss?: string;
  /** The view of the stage's root, rebuilt after a layer is added. */
  view?: TreeFs;
  /** 1-based number of the next progress vertex of this stage. */
  vertex: number;
  totalVertices: number;
  /** ARG names that win over ENV at the current step (build_args.ts ScopedStep). */
  argsOverEnv?: readonly string[];
}

async function executeStage(engine: Engine, index: number): Promise<StageResult> {
  const stage = engine.graph.stages[index];
  const { options } = engine;
  const stagePlatform = await atFrom(
    engine,
    stage,
    () => stage.platform ? parsePlatform(stage.platform) : engine.platform,
  );
  let base: StageResult;
  let baseName = stage.baseName;
  let fromVertex = false;
  let triggers: string[] = [];
  if (stage.baseStage !== null) {
    const parent = await runStage(engine, stage.baseStage);
    const image = structuredClone(parent.state.image);
    image.config ??= {};
    triggers = image.config.OnBuild ?? [];
    delete image.config.OnBuild;
    base = {
      state: { image, cmdSet: false },
      layers: [...parent.layers],
      key: await cacheKey({
        parent: parent.key,
        instruction: `FROM stage ${engine.graph.stages[stage.baseStage].label}`,
      }),
      firstMiss: parent.firstMiss,
    };
  } else if (stage.baseName.toLowerCase() === "scratch") {
    base = {
      state: initialStageConfig(null, stagePlatform),
      layers: [],
      key: await cacheKey({
        parent: "",
        instruction: `FROM scratch ${formatPlatform(stagePlatform)}`,
      }),
    };
  } else {
    fromVertex = true;
    baseName = await atFrom(engine, stage, () => parseReference(stage.baseName).toString());
    const image = await atFrom(engine, stage, () => resolveImage(engine, stage.baseName));
    const components: KeyComponents = {
      parent: "",
      instruction: `FROM ${baseName}`,
      inputs: { [`base:${baseName}`]: image?.manifestDigest ?? "not in the store" },
    };
    triggers = image?.config.config?.OnBuild ?? [];
    base = {
      state: initialStageConfig(image ? image.config : null, stagePlatform),
      layers: image ? layersOf(image) : [],
      key: await cacheKey(components),
    };
    if (!image) delete base.state.image.config?.WorkingDir;
    const position = `${index}/from`;
    const previous = engine.lastRun.get(position);
    if (previous && previous.key !== base.key) {
      base.firstMiss = `FROM ${baseName} (${
        explainMiss(components, previous, undefined, base.key)
      })`;
    }
    engine.runSteps.push({ position, label: `FROM ${baseName}`, key: base.key, components });
  }
  // ONBUILD triggers of the base run first, then the stage's own steps.
  const steps: {
    instruction: Instruction;
    args: Record<string, string>;
    argsOverEnv?: string[];
    position: string;
  }[] = [];
  for (const [i, trigger] of triggers.entries()) {
    let parsed;
    try {
      parsed = parseDockerfile(`FROM scratch\n${trigger}\n`, { file: `ONBUILD of ${baseName}` });
    } catch (error) {
      // BuildKit reports a trigger it cannot parse (`unknown instruction: FOO`, which the
      // parent accepted) at the child's FROM line.
      if (!(error instanceof DockerfileSyntaxError)) throw error;
      throw new DockerfileSyntaxError(error.reason, stage.line, {
        file: options.dockerfilePath,
        cause: error,
      });
    }
    const instruction = parsed.instructions[1];
    instruction.startLine = 0;
    steps.push({ instruction, args: {}, position: `${index}/onbuild-${i}` });
  }
  stage.steps.forEach((s, i) => steps.push({ ...s, position: `${index}/${i}` }));
  const totalVertices = (fromVertex ? 1 : 0) +
    steps.filter((s) => ["add", "copy", "run", "workdir"].includes(s.instruction.keyword)).length;
  const st: StepState = {
    engine,
    stage,
    state: base.state,
    layers: base.layers,
    key: base.key,
    firstMiss: base.firstMiss,
    vertex: 1,
    totalVertices,
  };
  if (fromVertex) {
    const id = engine.nextId++;
    engine.emit({ type: "start", id, name: `${vertexPrefix(st)} FROM ${baseName}` });
    engine.emit({ type: "done", id, durationMs: 0 });
  }
  // ARG defaults are expanded against ENV too, which only the running stage knows: these
  // values replace the ones scoping computed from ARGs alone.
  const argDefaults: Record<string, string> = {};
  for (const step of steps) {
    options.signal?.throwIfAborted();
    const args = { ...step.args, ...argDefaults };
    st.argsOverEnv = step.argsOverEnv;
    await runOneStep(st, step.instruction, args, step.position);
    if (step.instruction.keyword !== "arg") continue;
    for (const { name, default: fallback } of step.instruction.args) {
      if (fallback === null || Object.hasOwn(options.buildArgs ?? {}, name)) continue;
      const env = expansionEnv(st.state.image, { ...args, ...argDefaults }, st.argsOverEnv);
      argDefaults[name] = expandWord(fallback, env, { escapeToken: engine.escapeToken });
    }
  }
  return { state: st.state, layers: st.layers, key: st.key, firstMiss: st.firstMiss };
}

function vertexPrefix(st: StepState): string {
  const single = st.engine.graph.needed.length === 1;
  const n = `${st.vertex++}/${st.totalVertices}`;
  return single ? `[${n}]` : `[${st.stage.label} ${n}]`;
}

/** What a step needs computed before its cache lookup. */
interface Prepared {
  components: KeyComponents;
  /** Runs the step on a miss: returns the new state and layers. */
  execute: (onOutput: (chunk: Uint8Array, stream: "stdout" | "stderr") => void) => Promise<{
    state: StageConfig;
    layers: LayerRef[];
  }>;
  /** For a dry run: the state after the step without running it. */
  predict: () => StageConfig;
}

async function runOneStep(
  st: StepState,
  instruction: Instruction,
  args: Record<string, string>,
  position: string,
): Promise<void> {
  const { engine } = st;
  const text = sourceText(engine, instruction);
  const label = instruction.startLine === 0 ? `ONBUILD ${text}` : text;
  const showsVertex = ["add", "copy", "run", "workdir"].includes(instruction.keyword);
  let prepared: Prepared;
  try {
    prepared = await prepareStep(st, instruction, args);
  } catch (error) {
    throw stepError(error, label, instruction);
  }
  const key = await cacheKey(prepared.components);
  let record = engine.options.noCache ? undefined : await engine.cache.get(key);
  let hit = record !== undefined && await layersPresent(engine, record);
  let cachedFrom: string | undefined;
  if (!hit && !engine.options.noCache) {
    const remote = engine.remoteCaches.find((c) => c.get(key) !== undefined);
    if (remote) {
      record = remote.get(key)!;
      if (!engine.options.dryRun) {
        await remote.fetchLayers(record, engine.options.store.blobs);
        await engine.cache.put(key, record);
      }
      hit = true;
      cachedFrom = remote.ref;
    }
  }
  const previous = engine.lastRun.get(position);
  engine.runSteps.push({ position, label, key, components: prepared.components });
  const report: StepReport = {
    stage: st.stage.label,
    instruction: label,
    cached: hit,
    cacheKey: key,
    durationMs: 0,
    ...(cachedFrom ? { cachedFrom } : {}),
  };
  engine.steps.push(report);
  const id = showsVertex ? engine.nextId++ : 0;
  const name = showsVertex ? `${vertexPrefix(st)} ${text}` : "";
  if (hit) {
    if (showsVertex) {
      engine.emit({ type: "start", id, name });
      engine.emit({ type: "cached", id });
    }
    st.state = { image: record!.image, cmdSet: record!.cmdSet };
    st.layers = record!.layers;
    st.key = key;
    if (st.layers.length !== st.view?.sources.length) st.view = undefined;
    return;
  }
  report.missReason = engine.options.noCache
    ? "--no-cache"
    : explainMiss(prepared.components, previous, st.firstMiss, key);
  st.firstMiss ??= `${label} (${report.missReason})`;
  st.key = key;
  if (engine.options.dryRun) {
    st.state = prepared.predict();
    return;
  }
  const started = performance.now();
  if (showsVertex) engine.emit({ type: "start", id, name });
  try {
    const result = await prepared.execute((chunk, stream) => {
      if (showsVertex) engine.emit({ type: "output", id, stream, data: chunk });
    });
    st.state = result.state;
    if (result.layers !== st.layers) st.view = undefined;
    st.layers = result.layers;
  } catch (error) {
    const wrapped = stepError(error, label, instruction);
    if (showsVertex) engine.emit({ type: "error", id, message: wrapped.message });
    throw wrapped;
  }
  report.durationMs = performance.now() - started;
  if (showsVertex) engine.emit({ type: "done", id, durationMs: report.durationMs });
  await engine.cache.put(key, {
    image: st.state.image,
    cmdSet: st.state.cmdSet,
    layers: st.layers,
  });
}

function stepError(error: unknown, label: string, instruction: Instruction): Error {
  if (error instanceof DockerfileSyntaxError || error instanceof BuildStepError) return error;
  const e = error as Error & { exitCode?: number };
  const where = instruction.startLine > 0 ? ` (line ${instruction.startLine})` : "";
  return new BuildStepError(
    `Step "${label}"${where} failed: ${e.message}`,
    label,
    instruction.startLine,
    {
      exitCode: typeof e.exitCode === "number" ? e.exitCode : undefined,
      cause: error,
    },
  );
}

async function layersPresent(engine: Engine, record: CacheRecord): Promise<boolean> {
  for (const l of record.layers) {
    if (!(await engine.options.store.blobs.has(l.descriptor.digest))) return false;
  }
  return true;
}

function viewOf(st: StepState): TreeFs {
  return st.view ??= new TreeFs(st.engine.options.store.blobs, st.layers, "image being built");
}

async function prepareStep(
  st: StepState,
  instruction: Instruction,
  args: Record<string, string>,
): Promise<Prepared> {
  const { engine } = st;
  const parent = st.key;
  const escapeToken = engine.escapeToken;
  if (isMetadataInstruction(instruction)) {
    const result = applyMetadata(st.state, instruction, args, escapeToken, st.argsOverEnv);
    return {
      components: {
        parent,
        instruction: `${result.createdBy ?? `ONBUILD ${instruction.args[0]}`}`,
      },
      predict: () => result.state,
      execute: () => {
        if (result.createdBy !== null) {
          addHistory(result.state.image, result.createdBy, engine.iso(), true);
        }
        return Promise.resolve({ state: result.state, layers: st.layers });
      },
    };
  }
  const env = expansionEnv(st.state.image, args, st.argsOverEnv);
  const word = (w: string) => expandWord(w, env, { escapeToken });
  switch (instruction.keyword) {
    case "workdir":
      return prepareWorkdir(
        st,
        resolveWorkdir(st.state.image.config?.WorkingDir, word(instruction.args[0] as string)),
      );
    case "copy":
    case "add":
      return await prepareCopy(st, instruction, env);
    case "run":
      return await prepareRun(st, instruction, args);
    default:
      throw new DockerfileSyntaxError(
        `${instruction.keyword.toUpperCase()} is not allowed here`,
        instruction.startLine,
      );
  }
}

function nextState(st: StepState): StageConfig {
  return { image: structuredClone(st.state.image), cmdSet: st.state.cmdSet };
}

function prepareWorkdir(st: StepState, dir: string): Prepared {
  const { engine } = st;
  const user = st.state.image.config?.User ?? "";
  const predict = () => {
    const state = nextState(st);
    (state.image.config ??= {}).WorkingDir = dir;
    return state;
  };
  return {
    components: { parent: st.key, instruction: `WORKDIR ${dir}`, args: { user } },
    predict,
    async execute() {
      const state = predict();
      const clean = cleanAbsolute(dir);
      if (clean === "/") {
        addHistory(state.image, `WORKDIR ${dir}`, engine.iso(), true);
        return { state, layers: st.layers };
      }
      const view = viewOf(st);
      const owner = user === "" ? { uid: 0, gid: 0 } : await resolveChown(user, view);
      // BuildKit's mkdir -p goes to where the path leads inside the root (RootPath): a
      // symlink on the way is followed, a dangling one has its target made. The config
      // keeps the path as written; a RUN's working directory resolves the same way.
      const resolved = await rootPath(view, clean);
      if (resolved.stat && resolved.stat.type !== "directory") {
        throw new Error(
          `Cannot create WORKDIR ${dir}: "/${resolved.path}" is a ${resolved.stat.type}`,
        );
      }
      const entries: PlannedEntry[] = [];
      const now = engine.now();
      const parts = resolved.stat ? [] : resolved.path.split("/");
      for (let i = 1; i <= parts.length; i++) {
        const path = parts.slice(0, i).join("/");
        const existing = await view.lstat(path);
        if (existing?.type === "directory") {
          // The deepest existing directory gets the new one: its time changes.
          if (!(await view.lstat(parts.slice(0, i + 1).join("/")))) {
            entries.push({
              path,
              type: "directory",
              mode: existing.mode,
              uid: existing.uid,
              gid: existing.gid,
              mtime: now,
              size: 0,
              linkTarget: "",
            });
          }
          continue;
        }
        if (existing) {
          throw new Error(`Cannot create WORKDIR ${dir}: "/${path}" is a ${existing.type}`);
        }
        entries.push({
          path,
          type: "directory",
          mode: 0o755,
          ...owner,
          mtime: now,
          size: 0,
          linkTarget: "",
        });
      }
      const layer = await writeLayer(engine, entries);
      addHistory(state.image, `WORKDIR ${dir}`, engine.iso(), false);
      return { state, layers: [...st.layers, layer] };
    },
  };
}

async function writeLayer(engine: Engine, entries: PlannedEntry[]): Promise<LayerRef> {
  // The bytes read for the layer are kept (up to a budget) for the RUN snapshot of it, so
  // a RUN after a large COPY does not read the context again.
  const kept = entries.map((e) => {
    const body = e.body;
    if (!body) return e;
    let bytes: Uint8Array | undefined;
    return {
      ...e,
      body: async () => {
        if (bytes) return bytes;
        const read = await body();
        if (read instanceof Uint8Array && engine.keptBytes + read.length <= KEPT_BYTES_LIMIT) {
          engine.keptBytes += read.length;
          bytes = read;
        }
        return read;
      },
    };
  });
  const blob = createLayer(planEntries(kept));
  const { store } = engine.options;
  await store.blobs.put(blob.stream);
  const d = await blob.digests;
  engine.written.set(d.diffId, kept);
  return {
    descriptor: { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size },
    diffId: d.diffId as Digest,
  };
}

interface CopyFlags {
  from?: string;
  chown?: string;
  chmod?: string;
  parents: boolean;
  exclude: string[];
  checksum?: string;
  link: boolean;
}

function copyFlags(instruction: Instruction, word: (w: string) => string): CopyFlags {
  const flags: CopyFlags = { parents: false, exclude: [], link: false };
  for (const flag of instruction.flags) {
    const eq = flag.indexOf("=");
    const name = flag.slice(2, eq < 0 ? undefined : eq);
    const value = eq < 0 ? "true" : flag.slice(eq + 1);
    switch (name) {
      case "from":
        flags.from = word(value);
        break;
      case "chown":
        flags.chown = word(value);
        break;
      case "chmod":
        flags.chmod = word(value);
        break;
      case "parents":
        flags.parents = value.toLowerCase() !== "false";
        break;
      case "link":
        flags.link = value.toLowerCase() !== "false";
        break;
      case "exclude":
        flags.exclude.push(word(value));
        break;
      case "checksum":
        flags.checksum = word(value);
        break;
    }
  }
  return flags;
}

async function prepareCopy(
  st: StepState,
  instruction: Instruction,
  env: Record<string, string>,
): Promise<Prepared> {
  const { engine } = st;
  const keyword = instruction.keyword === "add" ? "ADD" : "COPY";
  const escapeToken = engine.escapeToken;
  const word = (w: string) => expandWord(w, env, { escapeToken });
  const flags = copyFlags(instruction, word);
  const raw = instruction.args as string[];
  const expanded = instruction.json ? raw.map(word) : raw.flatMap((w) => {
    if (parseHeredocWord(w)) return [w];
    return [word(w)]; // one word each, empty or with blanks, as BuildKit's ProcessWord gives
  });
  if (expanded.length < 2) {
    throw new DockerfileSyntaxError(
      `${keyword} requires at least two arguments`,
      instruction.startLine,
    );
  }
  const dest = expanded.at(-1)!;
  const inline: InlineSource[] = [];
  const sources: string[] = [];
  const inputs: Record<string, string> = {};
  const urls: string[] = [];
  const mtime = engine.now();
  for (const source of expanded.slice(0, -1)) {
    const heredoc = instruction.json ? undefined : parseHeredocWord(source);
    if (heredoc) {
      const body = instruction.heredocs.find((h) => h.name === heredoc.name);
      if (!body) throw new CopyError(`${keyword} failed: no heredoc body for "${heredoc.name}"`);
      let content = body.chomp ? body.content.replace(/^\t+/gm, "") : body.content;
      if (body.expand) content = expandHeredoc(content, env, escapeToken);
      const bytes = new TextEncoder().encode(content);
      inline.push({ name: heredoc.name, bytes, mode: 0o644, mtime });
      inputs[`heredoc:${heredoc.name}`] = await sha256(bytes);
    } else if (/^https?:\/\//.test(source) && keyword === "ADD") {
      urls.push(source);
    } else if (/^https?:\/\//.test(source)) {
      throw new CopyError(`COPY failed: source can't be a URL for COPY: "${source}"`);
    } else {
      sources.push(source);
    }
  }
  if (flags.checksum !== undefined && urls.length === 0) {
    throw new CopyError(`ADD failed: --checksum can only be used with an HTTP(S) source`);
  }
  for (const url of urls) {
    const fetched = await fetchUrl(url, flags.checksum, engine.options.fetch);
    inline.push({
      name: fetched.name,
      bytes: fetched.bytes,
      mode: 0o600,
      mtime: fetched.mtime ?? mtime,
    });
    inputs[`url:${url}`] = fetched.digest;
  }
  let from: SourceFs;
  if (flags.from !== undefined) {
    const stageIndex = findStage(engine.graph.stages, flags.from);
    if (stageIndex !== null && stageIndex !== st.stage.index) {
      const source = await runStage(engine, stageIndex);
      const label = engine.graph.stages[stageIndex].label;
      from = new TreeFs(engine.options.store.blobs, source.layers, `stage "${label}"`, {
        spool: engine.tmp,
      }).asSource();
      inputs[`stage:${label}`] = source.key;
    } else {
      const ref = flags.from;
      const image = await resolveImage(engine, ref);
      inputs[`image:${ref}`] = image?.manifestDigest ?? "not in the store";
      from = new TreeFs(
        engine.options.store.blobs,
        image ? layersOf(image) : [],
        `image "${ref}"`,
        {
          spool: engine.tmp,
        },
      ).asSource();
    }
  } else {
    from = contextFs(engine.context);
    const matched: string[] = [];
    for (const s of sources) {
      const m = await matchSource(from, s);
      // A wildcard that matches nothing is skipped (BuildKit's AllowEmptyWildcard).
      if (m.length === 1 && !(await from.lstat(m[0])) && !(await resolvePath(from, m[0], true))) {
        throw new CopyError(
          `${keyword} failed: file not found in build context or excluded by .dockerignore: "${s}"`,
        );
      }
      matched.push(...m);
    }
    Object.assign(inputs, await contextInputs(engine.context, matched));
  }
  const flagText = [
    flags.chown !== undefined ? `--chown=${flags.chown}` : "",
    flags.chmod !== undefined ? `--chmod=${flags.chmod}` : "",
    flags.parents ? "--parents" : "",
    flags.link ? "--link" : "",
    ...flags.exclude.map((e) => `--exclude=${e}`),
    flags.from !== undefined ? `--from=${flags.from}` : "",
  ].filter((f) => f !== "").join(" ");
  const components: KeyComponents = {
    parent: st.key,
    instruction: `${keyword} ${flagText} ${JSON.stringify(expanded)} workdir=${
      st.state.image.config?.WorkingDir ?? ""
    }`,
    inputs,
  };
  const chmod = flags.chmod === undefined ? undefined : parseChmod(flags.chmod);
  return {
    components,
    predict: () => nextState(st),
    async execute() {
      const state = nextState(st);
      const view = viewOf(st);
      const chown = flags.chown !== undefined ? await resolveChown(flags.chown, view) : undefined;
      const plan = await planCopy(from, view, {
        keyword,
        sources,
        inline,
        dest,
        workdir: st.state.image.config?.WorkingDir || "/",
        chown,
        chmod,
        parents: flags.parents,
        exclude: flags.exclude,
        now: engine.now(),
        sourceDateEpoch: engine.options.sourceDateEpoch,
        spool: engine.tmp,
      });
      const layer = await writeLayer(engine, plan.entries);
      addHistory(state.image, copyCreatedBy(keyword, expanded), engine.iso(), false);
      return { state, layers: [...st.layers, layer] };
    },
  };
}

/** Expands variables in a heredoc body as a here-document does: quotes and escapes stay. */
function expandHeredoc(
  content: string,
  env: Record<string, string>,
  escapeToken: "\\" | "`",
): string {
  return expandWord(content, env, { escapeToken, rawQuotes: true, rawEscapes: true });
}

// ---- RUN ----------------------------------------------------------------------------

/** The RUN executor and the snapshots its lowers come from, set up on the first RUN. */
interface RunBackend {
  runStep: typeof runStep;
  snapshots: SnapshotStore;
}

function loadRunBackend(engine: Engine): Promise<RunBackend> {
  return Promise.resolve({ runStep, snapshots: new SnapshotStore(engine.options.storeRoot) });
}

interface RunMountSpec {
  type: "cache" | "bind" | "secret" | "tmpfs";
  target: string;
  source?: string;
  id?: string;
  readonly?: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  sharing?: "shared" | "private" | "locked";
  required?: boolean;
  secretPath?: string;
  from?: string;
}

function parseMount(spec: string, engine: Engine, workdir: string): RunMountSpec {
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    fields.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? "true" : part.slice(eq + 1));
  }
  const type = (fields.get("type") ?? "bind") as RunMountSpec["type"];
  if (!["cache", "bind", "secret", "tmpfs"].includes(type)) {
    throw new SyntaxError(`Invalid --mount=${spec}: unknown type "${type}"`);
  }
  const id = fields.get("id");
  let target = fields.get("target") ?? fields.get("dst") ?? fields.get("destination");
  if (type === "secret" && !target) target = `/run/secrets/${id ?? ""}`;
  if (!target) throw new SyntaxError(`Invalid --mount=${spec}: target= is required`);
  if (!target.startsWith("/")) target = resolveWorkdir(workdir, target);
  const num = (
    k: string,
  ) => (fields.has(k) ? parseInt(fields.get(k)!, k === "mode" ? 8 : 10) : undefined);
  const mount: RunMountSpec = {
    type,
    target,
    source: fields.get("source") ?? fields.get("src"),
    id,
    readonly: ["ro", "readonly"].some((k) => fields.get(k) === "true") ||
      (type === "bind" && fields.get("rw") !== "true" && fields.get("readwrite") !== "true"),
    mode: num("mode"),
    uid: num("uid"),
    gid: num("gid"),
    sharing: fields.get("sharing") as RunMountSpec["sharing"],
    required: fields.get("required") === "true",
    from: fields.get("from"),
  };
  if (type === "secret") {
    const secretId = id ?? target.slice(target.lastIndexOf("/") + 1);
    mount.id = secretId;
    mount.secretPath = engine.options.secrets?.[secretId];
    if (mount.required && !mount.secretPath) {
      throw new Error(`secret ${secretId} is required but was not given with --secret`);
    }
  }
  return mount;
}

async function prepareRun(
  st: StepState,
  instruction: Instruction,
  args: Record<string, string>,
): Promise<Prepared> {
  const { engine } = st;
  const image = st.state.image;
  let argv = commandLine(instruction, image);
  if (!instruction.json && instruction.heredocs.length > 0) {
    const cmd = (instruction.args as string[])[0];
    const only = parseHeredocWord(cmd.trim());
    const [first] = instruction.heredocs;
    const body = first.chomp ? first.content.replace(/^\t+/gm, "") : first.content;
    argv = only && only.name === first.name
      ? [...commandLine({ ...instruction, args: [body] } as Instruction, image)]
      : [
        ...argv.slice(0, -1),
        `${cmd}\n${instruction.heredocs.map((h) => `${h.content}${h.name}\n`).join("")}`,
      ];
  }
  const workdir = image.config?.WorkingDir || "/";
  let network = engine.options.network ?? "host";
  const mounts: RunMountSpec[] = [];
  for (const flag of instruction.flags) {
    if (flag.startsWith("--network=")) network = flag.slice(10) === "none" ? "none" : "host";
    if (flag.startsWith("--mount=")) mounts.push(parseMount(flag.slice(8), engine, workdir));
  }
  const envMap: Record<string, string> = {
    ...engine.graph.scoped.proxyArgs,
    ...expansionEnv(image, args, st.argsOverEnv),
  };
  const env = Object.entries(envMap).map(([k, v]) => `${k}=${v}`);
  const flagText = instruction.flags.filter((f) => !f.startsWith("--mount=type=secret")).join(" ");
  return {
    components: {
      parent: st.key,
      instruction: `RUN ${flagText} ${JSON.stringify(argv)}`,
      args,
      inputs: await mountInputs(engine, mounts),
    },
    predict: () => nextState(st),
    async execute(onOutput) {
      const backend = await (engine.run ??= loadRunBackend(engine));
      const state = nextState(st);
      const resolvedMounts = [];
      for (const m of mounts) resolvedMounts.push(await resolveMount(engine, m));
      // Where overlay cannot be mounted the executor builds the rootfs from the layers.
      let lowers: string[] = [];
      if (await overlaySupported()) {
        const seeded = await seedEntries(engine, backend.snapshots, st.layers);
        lowers = await backend.snapshots.prepare(st.layers, engine.options.store.blobs, {
          entries: (layer) => {
            const held = seeded.get(layer.diffId);
            return held && planEntries(held);
          },
        });
      } else {
        // Nothing to seed: the executor applies the layers themselves.
        for (const l of st.layers) engine.written.delete(l.diffId);
      }
      const chain = await chainIds(st.layers.map((l) => l.diffId));
      const result = await backend.runStep({
        lowers,
        layers: st.layers,
        args: argv,
        env,
        user: image.config?.User || undefined,
        cwd: workdir,
        network,
        mounts: resolvedMounts,
        onOutput,
        signal: engine.options.signal,
      }, {
        blobs: engine.options.store.blobs,
        snapshots: backend.snapshots,
        parentChainId: chain.at(-1),
        workdir: await mkdtemp(join(engine.tmp, "run-")),
        cacheDir: join(engine.options.storeRoot, "build-cache", "mounts"),
        executor: engine.options.executor ?? "auto",
        sourceDateEpoch: engine.options.sourceDateEpoch,
        compression: "gzip",
      });
      if (result.exitCode !== 0) {
        throw Object.assign(
          new Error(
            `process ${JSON.stringify(argv)} exited with code ${result.exitCode}:\n${result.tail}`,
          ),
          { exitCode: result.exitCode },
        );
      }
      addHistory(state.image, runCreatedBy(argv, args, envMap), engine.iso(), false);
      return {
        state,
        layers: [...st.layers, {
          descriptor: result.layer.descriptor,
          diffId: result.layer.diffId,
        }],
      };
    },
  };
}

/**
 * The host path a bind mount of the build context shows: what the build sees of the
 * context, as BuildKit mounts its (filtered) copy of it. The source resolves inside the
 * context through its listing, so a path `.dockerignore` leaves out is not found; a
 * directory with ignored files below it is written out for the step without them (through
 * unionfs's writer); anything else is mounted where it is.
 */
async function contextMountSource(engine: Engine, m: RunMountSpec): Promise<string> {
  const { context } = engine;
  const found = await resolvePath(contextFs(context), m.source ?? "", true);
  if (!found) {
    throw new Error(
      `Cannot mount "${m.source}" on "${m.target}": it is not in the build context (or .dockerignore leaves it out)`,
    );
  }
  const onDisk = await resolveOnDisk(context.root, `/${found.path}`);
  if (found.stat.type !== "directory" || !(await hidesIgnored(context, found.path, onDisk))) {
    return onDisk;
  }
  const dir = await mkdtemp(join(engine.tmp, "mount-"));
  const plan = await planCopy(
    contextFs(context),
    new TreeFs(engine.options.store.blobs, [], "mount"),
    {
      keyword: "COPY",
      sources: [found.path === "" ? "." : found.path],
      dest: "/",
      workdir: "/",
      now: engine.now(),
    },
  );
  const blob = createLayer(planEntries(plan.entries), { compression: "none" });
  blob.digests.catch(() => {});
  await applyLayer(
    { digest: `context ${found.path}`, open: () => Promise.resolve(blob.stream) },
    dir,
  );
  await chmod(dir, found.stat.mode & 0o7777);
  return dir;
}

/** True when `.dockerignore` leaves out something below the context directory `dir`. */
async function hidesIgnored(context: BuildContext, dir: string, onDisk: string): Promise<boolean> {
  const kept = context.readdir(dir);
  if ((await readdir(onDisk)).length !== kept.length) return true;
  for (const name of kept) {
    const child = dir === "" ? name : `${dir}/${name}`;
    if (
      context.statSync(child)?.type === "directory" &&
      (await hidesIgnored(context, child, join(onDisk, name)))
    ) return true;
  }
  return false;
}

/**
 * What a RUN step's mounts read, for its cache key: like BuildKit, a step is keyed by the
 * content of its mount sources, so a changed context file or stage under a bind mount (or
 * under the seed of a cache) runs the step again. Cache, tmpfs and secret mounts are not
 * inputs.
 */
async function mountInputs(
  engine: Engine,
  mounts: readonly RunMountSpec[],
): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  for (const [i, m] of mounts.entries()) {
    if (m.type !== "bind" && !(m.type === "cache" && m.from !== undefined)) continue;
    if (m.from !== undefined) {
      const stageIndex = findStage(engine.graph.stages, m.from);
      if (stageIndex !== null) {
        inputs[`mount${i}:stage`] = (await runStage(engine, stageIndex)).key;
      } else {
        const image = await resolveImage(engine, m.from);
        inputs[`mount${i}:image:${m.from}`] = image?.manifestDigest ?? "not in the store";
      }
      continue;
    }
    const found = await contextInputs(engine.context, [contextPath(m.source ?? "")]);
    for (const [k, v] of Object.entries(found)) inputs[`mount${i}:${k}`] = v;
  }
  return inputs;
}

/**
 * A RUN mount with its `source` turned into a host path. The source of a bind (and the
 * seed of a cache with `from=`) lives in the context, or in a stage or image written out
 * for the step; it is resolved inside that root as BuildKit resolves it: `..` stops at the
 * root and symlinks, absolute ones too, are followed as if the root were `/`, so a mount
 * never shows a host file outside it.
 */
async function resolveMount(engine: Engine, m: RunMountSpec): Promise<RunMount> {
  const { from, ...rest } = m;
  if (m.type !== "bind" && !(m.type === "cache" && from !== undefined)) return rest;
  if (from === undefined) return { ...rest, source: await contextMountSource(engine, m) };
  let label: string;
  let fromKey: string;
  const stageIndex = findStage(engine.graph.stages, from);
  let layers: LayerRef[];
  if (stageIndex !== null) {
    const stage = await runStage(engine, stageIndex);
    layers = stage.layers;
    fromKey = stage.key;
    label = `stage "${engine.graph.stages[stageIndex].label}"`;
  } else {
    const image = await resolveImage(engine, from);
    if (!image) throw new Error(`Cannot mount from "${from}": the image is not in the store`);
    layers = layersOf(image);
    fromKey = image.manifestDigest;
    label = `image "${from}"`;
  }
  const root = await mkdtemp(join(engine.tmp, "mount-"));
  await flattenToDirectory(
    layers.map((l) => ({
      digest: l.descriptor.digest,
      mediaType: l.descriptor.mediaType,
      open: () => engine.options.store.blobs.get(l.descriptor.digest),
    })),
    root,
  );
  const source = await resolveOnDisk(root, `/${rest.source ?? ""}`);
  try {
    await lstat(source);
  } catch (error) {
    throw new Error(
      `Cannot mount "${rest.source ?? "/"}" on "${m.target}": it is not in ${label}`,
      { cause: error },
    );
  }
  if (m.type === "cache") {
    // BuildKit keys a cache seeded from a stage by the stage's content too: a new stage
    // result starts a new cache from its files.
    return { ...rest, id: `${m.id || m.target}@${fromKey}`, source };
  }
  return { ...rest, source };
}

/**
 * The entries of layers this build wrote itself (COPY, ADD, WORKDIR) whose snapshots are
 * missing, with their bodies in memory, for `SnapshotStore.prepare` to apply instead of
 * unpacking the layer blobs just written: a COPY of a large context is then read once
 * from the context. unionfs's writer applies them, as it would the blob. A layer with a
 * streamed body (over the memory budget) is left to the store, which unpacks its blob.
 */
async function seedEntries(
  engine: Engine,
  snapshots: SnapshotStore,
  layers: LayerRef[],
): Promise<Map<string, PlannedEntry[]>> {
  const chain = await chainIds(layers.map((l) => l.diffId));
  const out = new Map<string, PlannedEntry[]>();
  for (const [i, layer] of layers.entries()) {
    const entries = engine.written.get(layer.diffId);
    if (!entries) continue;
    engine.written.delete(layer.diffId);
    if (await snapshots.has(chain[i])) continue;
    const held: PlannedEntry[] = [];
    for (const e of entries) {
      if (e.type !== "file" || !e.body) {
        held.push(e);
        continue;
      }
      const body = await e.body();
      if (!(body instanceof Uint8Array)) {
        await body.cancel();
        held.length = 0;
        break;
      }
      held.push({ ...e, body: () => Promise.resolve(body) });
    }
    if (held.length === entries.length) out.set(layer.diffId, held);
  }
  return out;
}
