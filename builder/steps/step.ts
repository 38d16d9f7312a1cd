/**
 * The shape every instruction kind takes: a {@linkcode Step} is what an instruction
 * computes before its cache lookup (its key components), what it would leave behind in a
 * dry run, and how it runs on a miss. `stage.ts` drives steps; the helpers here are what
 * several kinds share (a fresh state, the view of the stage's root, writing a layer).
 *
 * @module
 */
import { DirectApplyPlan, storeLayer, type WriteEntry } from "../../unionfs/mod.ts";
import type { KeyComponents, LayerRef } from "../build_cache.ts";
import type { StageNode } from "../build_graph.ts";
import { planEntries, type PlannedEntry } from "../copy_plan.ts";
import { TreeFs } from "../copy_source.ts";
import type { StageConfig } from "../instructions.ts";
import type { Session } from "../session.ts";

/** Output of a running step, chunk by chunk. */
export type OnOutput = (chunk: Uint8Array, stream: "stdout" | "stderr") => void;

/** One instruction, prepared: what its cache lookup needs and how it runs on a miss. */
export interface Step {
  /** What goes into the step's cache key. */
  components: KeyComponents;
  /** For a dry run: the state after the step without running it. */
  predict: () => StageConfig;
  /** Runs the step on a miss: returns the new state and layers. */
  execute: (onOutput: OnOutput) => Promise<{ state: StageConfig; layers: LayerRef[] }>;
}

/** What a step sees of its stage when it is prepared. */
export interface StepContext {
  /** What the whole build shares. */
  session: Session;
  /** The stage the step belongs to. */
  stage: StageNode;
  /** The stage's state before the step. */
  state: StageConfig;
  /** The stage's layers before the step. */
  layers: LayerRef[];
  /** The previous step's key. */
  key: string;
  /** The view of the stage's root, rebuilt after a layer is added. */
  view?: TreeFs;
  /** ARG names that win over ENV at this step (build_args.ts ScopedStep). */
  argsOverEnv?: readonly string[];
}

/** A copy of the stage's state for a step to change. */
export function nextState(ctx: StepContext): StageConfig {
  return { image: structuredClone(ctx.state.image), cmdSet: ctx.state.cmdSet };
}

/**
 * The stage's root as files, made on first use, for lookups: it keeps the files it is asked
 * for, not every file of the image. `expect` names the paths a step will look up (with
 * /etc/passwd and /etc/group when it names an owner), so one reading of the layers serves.
 */
export function viewOf(ctx: StepContext, expect: readonly string[], owner = false): TreeFs {
  const view = ctx.view ??= new TreeFs(
    ctx.session.options.store.blobs,
    ctx.layers,
    "image being built",
    { lookups: true },
  );
  view.expect(owner ? [...expect, "etc/passwd", "etc/group"] : expect);
  return view;
}

/**
 * Writes `entries` as a layer blob into the store. Held entries are taken: each leaves the
 * array once written, so a held plan is freed as its layer is written.
 */
export async function writeLayer(
  session: Session,
  entries: PlannedEntry[] | AsyncIterable<PlannedEntry>,
): Promise<LayerRef> {
  // A held plan lets go of each entry as it is written.
  function* taken(held: (PlannedEntry | undefined)[]): Generator<PlannedEntry> {
    for (let i = 0; i < held.length; i++) {
      const entry = held[i]!;
      held[i] = undefined;
      yield entry;
    }
  }
  // What the RUN snapshot of the layer needs is worked out from each header: with it the
  // layer is written straight into its directory, its bytes read back from the blob just
  // stored, so the snapshot is the layer whatever the context does meanwhile.
  const plan = new DirectApplyPlan();
  async function* recorded(): AsyncGenerator<WriteEntry> {
    for await (const entry of planEntries(Array.isArray(entries) ? taken(entries) : entries)) {
      plan.add(entry.header);
      yield entry;
    }
  }
  const { descriptor, diffId } = await storeLayer(session.options.store.blobs, recorded());
  session.written.set(diffId, plan);
  return { descriptor, diffId };
}
