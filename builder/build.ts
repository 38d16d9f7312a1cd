/**
 * `build()`: a Dockerfile and a context in, an image in the store out, with Docker
 * BuildKit's semantics. This is the door: it reads the Dockerfile, plans the stage graph,
 * opens the build's {@linkcode Session} and stores, exports and pushes the result. Stages
 * run as a graph (`stage.ts`: independent ones in parallel, unneeded ones skipped); each
 * step (`steps/`, one file per instruction kind) is looked up in the persistent cache by
 * its key and only run on a miss.
 *
 * @module
 */
import { buildTempRoot, ownedTempDir, sweepDebris } from "./debris.ts";
import { mkdir, readFile, rm } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { formatPlatform, hostPlatform, type ImageConfig, parsePlatform } from "../image/mod.ts";
import { BuildCache } from "./build_cache.ts";
import { BuildContext } from "./build_context.ts";
import { planBuildGraph } from "./build_graph.ts";
import { storeImage, writeBuildFiles, writeOutput } from "./build_output.ts";
import { parseDockerfile } from "./parser.ts";
import { push, type PushResult } from "../registry_client/mod.ts";
import { exportCache, parseCacheSpec, RegistryCache } from "./registry_cache.ts";
import type {
  BuildOptions,
  Session,
  SettledBuildOptions,
  StageResult,
  StepReport,
} from "./session.ts";
import { runStage } from "./stage.ts";

export { BuildStepError } from "./errors.ts";
export type { BuildOptions, StepReport } from "./session.ts";

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

/**
 * Builds an image from a Dockerfile, the way `docker build` (BuildKit) does.
 *
 * @throws {DockerfileSyntaxError} for a malformed Dockerfile (with its line).
 * @throws {BuildStepError} when a step fails (a RUN exits non-zero, a COPY source is
 *   missing), naming the step and its line.
 * @throws {Error} when a base image is not in the store and no `pull` is given.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const storeRoot = options.storeRoot ?? options.store.root;
  if (storeRoot === undefined) {
    throw new TypeError("build() needs storeRoot when the store is in memory");
  }
  // Mounts, containers and scratch of builds killed earlier go first; this build's content
  // is held by a lease until its image is named, whatever gc runs meanwhile.
  await sweepDebris(storeRoot);
  return await options.store.withLease((store) => buildLeased({ ...options, store, storeRoot }));
}

async function buildLeased(options: SettledBuildOptions): Promise<BuildResult> {
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
    fs: options.contextFs,
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
    const lastRun = await cache.lastRun(runId);
    await mkdir(join(options.storeRoot, "build-cache", "tmp"), { recursive: true });
    const session: Session = {
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
      stage: (index) => runStage(session, index),
      stageRuns: new Map(),
      images: new Map(),
      newId: () => nextId++,
      now: () => (sde !== undefined ? sde : Math.floor(Date.now() / 1000)),
      iso:
        () => (sde !== undefined ? new Date(sde * 1000).toISOString() : new Date().toISOString()),
      emit,
      remoteCaches,
      written: new Map(),
      tmp: await ownedTempDir(buildTempRoot(options.storeRoot), "build-"),
    };
    for (const w of graph.scoped.warnings) emit({ type: "warning", message: w });
    try {
      // Every needed stage starts at once; each awaits what it depends on.
      const results = await Promise.all(graph.needed.map((i) => session.stage(i)));
      const final = results[graph.needed.indexOf(graph.target)];
      await cache.saveRun(runId, session.runSteps, lastRun);
      const image = finalConfig(session, final);
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
          steps: session.steps,
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
          session.runSteps.map((s) => s.key),
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
        steps: session.steps,
        stages,
        warnings: graph.scoped.warnings,
        pushed,
      };
    } finally {
      await rm(session.tmp, { recursive: true, force: true });
    }
  } finally {
    await context.close();
  }
}

function finalConfig(session: Session, final: StageResult): ImageConfig {
  const image = structuredClone(final.state.image);
  if (session.options.labels && Object.keys(session.options.labels).length > 0) {
    image.config = {
      ...image.config,
      Labels: { ...image.config?.Labels, ...session.options.labels },
    };
  }
  image.rootfs = { type: "layers", diff_ids: final.layers.map((l) => l.diffId) };
  image.created = image.history?.at(-1)?.created ?? session.iso();
  return image;
}
