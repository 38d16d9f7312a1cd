/**
 * The stage graph of a Dockerfile: which stage each FROM, `COPY --from` and
 * `RUN --mount=from=` refers to, which stages the target needs (`--target` prunes the
 * rest), in an order where every stage comes after what it needs. Stages that do not
 * depend on each other are run in parallel by the engine.
 *
 * @module
 */
import { withSuggestion } from "./_suggest.ts";
import { scopeBuildArgs, type ScopedBuildArgs, type StageArgs } from "./build_args.ts";
import type { Instruction, ParsedDockerfile } from "./parser.ts";
import { expandWord } from "./word_expansion.ts";

/** One stage with what it depends on. */
export interface StageNode extends StageArgs {
  /** The stage FROM names, or null when FROM is an image or scratch. */
  baseStage: number | null;
  /** Every stage it needs: its base and the sources of `--from`. */
  deps: number[];
  /** What progress calls it: its name, or `stage-N`. */
  label: string;
}

/** The result of {@linkcode planBuildGraph}. */
export interface BuildGraph {
  /** Every stage, in file order. */
  stages: StageNode[];
  /** The stage being built. */
  target: number;
  /** The stages the target needs (itself included), dependencies first. */
  needed: number[];
  /** ARG scoping of the whole file. */
  scoped: ScopedBuildArgs;
}

/** Options of {@linkcode planBuildGraph}. */
export interface BuildGraphOptions {
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** `--target`: a stage name. Default: the last stage. */
  target?: string;
  /** The platform built for (`linux/amd64`). */
  platform?: string;
}

/**
 * Finds a stage by `--from` value or FROM name: an earlier stage's name (any case) or
 * its index. `before` limits the search to stages before it (FROM may not look ahead).
 */
export function findStage(stages: StageArgs[], name: string, before?: number): number | null {
  const lower = name.toLowerCase();
  const limit = before ?? stages.length;
  for (let i = 0; i < limit; i++) if (stages[i].name === lower) return i;
  if (/^\d+$/.test(name) && Number(name) < limit) return Number(name);
  return null;
}

/** What an instruction's `--from` and `RUN --mount=from=` name, as written. */
function fromsOf(instruction: Instruction): string[] {
  if (instruction.keyword === "copy" || instruction.keyword === "add") {
    return instruction.copyFlags.from === undefined ? [] : [instruction.copyFlags.from];
  }
  if (instruction.keyword === "run") {
    return instruction.runFlags.mounts.flatMap((m) => (m.from === undefined ? [] : [m.from]));
  }
  return [];
}

/**
 * Plans the stages of a parsed Dockerfile.
 *
 * @throws {RangeError} when `--target` names no stage, or stages depend on each other in a
 *   cycle.
 */
export function planBuildGraph(
  parsed: ParsedDockerfile,
  options: BuildGraphOptions = {},
): BuildGraph {
  const scoped = scopeBuildArgs(parsed, {
    buildArgs: options.buildArgs,
    targetPlatform: options.platform,
  });
  const stages: StageNode[] = scoped.stages.map((stage) => ({
    ...stage,
    baseStage: null,
    deps: [],
    label: stage.name ?? `stage-${stage.index}`,
  }));
  for (const stage of stages) {
    stage.baseStage = findStage(stages, stage.baseName, stage.index);
    const deps = new Set<number>();
    if (stage.baseStage !== null) deps.add(stage.baseStage);
    for (const step of stage.steps) {
      const instruction = step.instruction.keyword === "onbuild"
        ? step.instruction.instruction ?? step.instruction
        : step.instruction;
      for (const from of fromsOf(instruction)) {
        let name = from;
        try {
          name = expandWord(from, { ...scoped.metaArgs, ...step.args }, {
            escapeToken: parsed.escapeToken,
          });
        } catch {
          // Left as written: the step reports the expansion error when it runs.
        }
        const dep = findStage(stages, name);
        if (dep !== null && dep !== stage.index) deps.add(dep);
      }
    }
    stage.deps = [...deps];
  }
  let target = stages.length - 1;
  if (options.target !== undefined) {
    const found = stages.findIndex((s) => s.name === options.target!.toLowerCase());
    if (found < 0) {
      const names = stages.flatMap((s) => s.name === null ? [] : [s.name]);
      throw new RangeError(
        withSuggestion(
          `target stage "${options.target}" could not be found`,
          options.target,
          names,
          true,
        ),
      );
    }
    target = found;
  }
  const needed: number[] = [];
  const state = new Map<number, "visiting" | "done">();
  const visit = (i: number, path: number[]) => {
    if (state.get(i) === "done") return;
    if (state.get(i) === "visiting") {
      const names = [...path, i].map((n) => stages[n].label).join(" -> ");
      throw new RangeError(`Stages depend on each other in a cycle: ${names}`);
    }
    state.set(i, "visiting");
    for (const d of stages[i].deps) visit(d, [...path, i]);
    state.set(i, "done");
    needed.push(i);
  };
  visit(target, []);
  return { stages, target, needed, scoped };
}
