/**
 * The stage loop: a stage's base (another stage, scratch or an image), its ONBUILD
 * triggers, then each step looked up in the cache by its key (local, then the `cacheFrom`
 * caches) and run only on a miss. The steps themselves live in `steps/`, one file a kind.
 *
 * @module
 */
import { open } from "node:fs/promises";
import { formatPlatform, parsePlatform, parseReference } from "../image/mod.ts";
import {
  cacheKey,
  type CacheRecord,
  type KeyComponents,
  keyed,
  type KeyedComponents,
  recordedComponents,
  type RecordedStep,
} from "./build_cache.ts";
import { explainMiss } from "./miss_reason.ts";
import type { StageNode } from "./build_graph.ts";
import { BuildStepError, DockerfileSyntaxError } from "./errors.ts";
import {
  expansionEnv,
  initialStageConfig,
  isMetadataInstruction,
  resolveWorkdir,
} from "./instructions.ts";
import { type Instruction, parseDockerfile } from "./parser.ts";
import {
  imageLayers,
  resolveImage,
  type Session,
  type StageResult,
  type StepReport,
} from "./session.ts";
import { copyStep } from "./steps/copy_step.ts";
import { metadataStep } from "./steps/metadata_step.ts";
import { runStep } from "./steps/run_step.ts";
import type { Step, StepContext } from "./steps/step.ts";
import { workdirStep } from "./steps/workdir_step.ts";
import { expandWord } from "./word_expansion.ts";

/** The text of an instruction as written, continuation lines joined. */
function sourceText(session: Session, instruction: Instruction): string {
  if (instruction.startLine === 0) return instruction.keyword.toUpperCase();
  const last = instruction.heredocs.length > 0 ? instruction.startLine : instruction.endLine;
  const parts: string[] = [];
  for (let n = instruction.startLine; n <= last; n++) {
    const line = session.lines[n - 1]?.replace(/\r$/, "").trim() ?? "";
    if (line.startsWith("#") && n > instruction.startLine) continue;
    const escape = session.escapeToken;
    parts.push(line.endsWith(escape) ? line.slice(0, -1).trim() : line);
  }
  return parts.filter((p) => p !== "").join(" ");
}

/** Builds stage `index` of the session's graph, once: later callers share the result. */
export function runStage(session: Session, index: number): Promise<StageResult> {
  let promise = session.stageRuns.get(index);
  if (!promise) {
    promise = executeStage(session, index);
    session.stageRuns.set(index, promise);
  }
  return promise;
}

/**
 * Runs what a stage's FROM needs (its platform, its base image); a failure names the
 * Dockerfile's line as BuildKit does (`Dockerfile:3`), with the FROM as written.
 */
async function atFrom<T>(session: Session, stage: StageNode, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof BuildStepError) throw error;
    const text = session.lines[stage.line - 1]?.replace(/\r$/, "").trim() ?? "FROM";
    const file = session.options.dockerfilePath ?? "Dockerfile";
    throw new BuildStepError(
      `${file}:${stage.line}: ${text}: ${(error as Error).message}`,
      text,
      stage.line,
      { cause: error },
    );
  }
}

/** A stage while its steps run: what a step sees, and what the stage loop keeps. */
interface StepState extends StepContext {
  firstMiss?: string;
  /** 1-based number of the next progress vertex of this stage. */
  vertex: number;
  totalVertices: number;
}

async function executeStage(session: Session, index: number): Promise<StageResult> {
  const stage = session.graph.stages[index];
  const { options } = session;
  const stagePlatform = await atFrom(
    session,
    stage,
    () => stage.platform ? parsePlatform(stage.platform) : session.platform,
  );
  let base: StageResult;
  let baseName = stage.baseName;
  let fromVertex = false;
  let triggers: string[] = [];
  if (stage.baseStage !== null) {
    const parent = await session.stage(stage.baseStage);
    const image = structuredClone(parent.state.image);
    image.config ??= {};
    triggers = image.config.OnBuild ?? [];
    delete image.config.OnBuild;
    base = {
      state: { image, cmdSet: false },
      layers: [...parent.layers],
      key: await cacheKey({
        parent: parent.key,
        instruction: `FROM stage ${session.graph.stages[stage.baseStage].label}`,
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
    baseName = await atFrom(session, stage, () => parseReference(stage.baseName).toString());
    const image = await atFrom(session, stage, () => resolveImage(session, stage.baseName));
    const components: KeyComponents = {
      parent: "",
      instruction: `FROM ${baseName}`,
      inputs: { [`base:${baseName}`]: image?.manifestDigest ?? "not in the store" },
    };
    triggers = image?.config.config?.OnBuild ?? [];
    const { key, json } = await keyed(components);
    base = {
      state: initialStageConfig(image ? image.config : null, stagePlatform),
      layers: image ? imageLayers(image) : [],
      key,
    };
    if (!image) delete base.state.image.config?.WorkingDir;
    const position = `${index}/from`;
    const previous = session.lastRun.key(position);
    if (previous && previous !== base.key) {
      const reason = await session.lastRun.withStep(
        position,
        (step) => explainMiss(new TextEncoder().encode(json as string), step, undefined, key),
      );
      base.firstMiss = `FROM ${baseName} (${reason})`;
    }
    session.runSteps.push({
      position,
      label: `FROM ${baseName}`,
      key: base.key,
      componentsJson: json,
    });
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
    session,
    stage,
    state: base.state,
    layers: base.layers,
    key: base.key,
    firstMiss: base.firstMiss,
    vertex: 1,
    totalVertices,
  };
  if (fromVertex) {
    const id = session.newId();
    session.emit({ type: "start", id, name: `${vertexPrefix(st)} FROM ${baseName}` });
    session.emit({ type: "done", id, durationMs: 0 });
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
      argDefaults[name] = expandWord(fallback, env, { escapeToken: session.escapeToken });
    }
  }
  return { state: st.state, layers: st.layers, key: st.key, firstMiss: st.firstMiss };
}

function vertexPrefix(st: StepState): string {
  const single = st.session.graph.needed.length === 1;
  const n = `${st.vertex++}/${st.totalVertices}`;
  return single ? `[${n}]` : `[${st.stage.label} ${n}]`;
}

/**
 * Why the step at `position` missed, against the last build. A function of its own: what
 * it reads must not stay in the suspended frame of the step that runs next.
 */
function missReason(
  session: Session,
  position: string,
  json: KeyedComponents["json"],
  earlierMiss: string | undefined,
  key: string,
): Promise<string> {
  return session.lastRun.withStep(position, async (previous) => {
    if (!previous) return await explainMiss(new Uint8Array(0), previous, earlierMiss, key);
    if (typeof json === "string") {
      return await explainMiss(new TextEncoder().encode(json), previous, earlierMiss, key);
    }
    // Spooled components are read back only to be compared with an earlier build's.
    const file = await open(json.file, "r");
    try {
      const read = async (into: Uint8Array) => (await file.read(into, 0, into.length)).bytesRead;
      return await explainMiss(read, previous, earlierMiss, key);
    } finally {
      await file.close();
    }
  });
}

async function runOneStep(
  st: StepState,
  instruction: Instruction,
  args: Record<string, string>,
  position: string,
): Promise<void> {
  const { session } = st;
  const text = sourceText(session, instruction);
  const label = instruction.startLine === 0 ? `ONBUILD ${text}` : text;
  const showsVertex = ["add", "copy", "run", "workdir"].includes(instruction.keyword);
  let prepared: Step;
  try {
    prepared = await prepareStep(st, instruction, args);
  } catch (error) {
    throw stepError(error, label, instruction);
  }
  const { key, json } = await keyed(prepared.components, session.tmp);
  let record = session.options.noCache ? undefined : await session.cache.get(key);
  let hit = record !== undefined && await layersPresent(session, record);
  let cachedFrom: string | undefined;
  if (!hit && !session.options.noCache) {
    const remote = session.remoteCaches.find((c) => c.get(key) !== undefined);
    if (remote) {
      record = remote.get(key)!;
      if (!session.options.dryRun) {
        await remote.fetchLayers(record, session.options.store.blobs);
        await session.cache.put(key, record);
      }
      hit = true;
      cachedFrom = remote.ref;
    }
  }
  // In the record in the order keyed; then large components move out of memory.
  const recorded: RecordedStep = { position, label, key, componentsJson: json };
  session.runSteps.push(recorded);
  recorded.componentsJson = await recordedComponents(session.tmp, json);
  const report: StepReport = {
    stage: st.stage.label,
    instruction: label,
    cached: hit,
    cacheKey: key,
    durationMs: 0,
    ...(cachedFrom ? { cachedFrom } : {}),
  };
  session.steps.push(report);
  const id = showsVertex ? session.newId() : 0;
  const name = showsVertex ? `${vertexPrefix(st)} ${text}` : "";
  if (hit) {
    if (showsVertex) {
      session.emit({ type: "start", id, name });
      session.emit({ type: "cached", id });
    }
    st.state = { image: record!.image, cmdSet: record!.cmdSet };
    st.layers = record!.layers;
    st.key = key;
    if (st.layers.length !== st.view?.sources.length) st.view = undefined;
    return;
  }
  report.missReason = session.options.noCache
    ? "--no-cache"
    : await missReason(session, position, json, st.firstMiss, key);
  st.firstMiss ??= `${label} (${report.missReason})`;
  st.key = key;
  // Made into the key and explained: a COPY's inputs (a property per context file) are not
  // kept through the step, where every megabyte alive costs several of heap.
  prepared.components.inputs = undefined;
  prepared.components.streamed = undefined;
  if (session.options.dryRun) {
    st.state = prepared.predict();
    return;
  }
  const started = performance.now();
  if (showsVertex) session.emit({ type: "start", id, name });
  try {
    const result = await prepared.execute((chunk, stream) => {
      if (showsVertex) session.emit({ type: "output", id, stream, data: chunk });
    });
    st.state = result.state;
    if (result.layers !== st.layers) st.view = undefined;
    st.layers = result.layers;
  } catch (error) {
    const wrapped = stepError(error, label, instruction);
    if (showsVertex) session.emit({ type: "error", id, message: wrapped.message });
    throw wrapped;
  }
  report.durationMs = performance.now() - started;
  if (showsVertex) session.emit({ type: "done", id, durationMs: report.durationMs });
  await session.cache.put(key, {
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

async function layersPresent(session: Session, record: CacheRecord): Promise<boolean> {
  for (const l of record.layers) {
    if (!(await session.options.store.blobs.has(l.descriptor.digest))) return false;
  }
  return true;
}

/** Prepares an instruction as the step of its kind. */
async function prepareStep(
  st: StepState,
  instruction: Instruction,
  args: Record<string, string>,
): Promise<Step> {
  if (isMetadataInstruction(instruction)) return metadataStep(st, instruction, args);
  const env = expansionEnv(st.state.image, args, st.argsOverEnv);
  const word = (w: string) => expandWord(w, env, { escapeToken: st.session.escapeToken });
  switch (instruction.keyword) {
    case "workdir":
      return workdirStep(
        st,
        resolveWorkdir(st.state.image.config?.WorkingDir, word(instruction.args[0] as string)),
      );
    case "copy":
    case "add":
      return await copyStep(st, instruction, env);
    case "run":
      return await runStep(st, instruction, args);
    default:
      throw new DockerfileSyntaxError(
        `${instruction.keyword.toUpperCase()} is not allowed here`,
        instruction.startLine,
      );
  }
}
