/**
 * RUN: the command runs in the RUN executor (`run_executor.ts`) over snapshots of the
 * stage's layers, with its `--mount`s resolved to host paths first; the executor's upper
 * directory becomes the step's layer. A mount's sources (context files, a stage, an image)
 * count in the step's key as BuildKit counts them.
 *
 * @module
 */
import { readLayers } from "../../storage/mod.ts";
import { chmod, lstat, mkdtemp, readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  applyLayer,
  chainIds,
  createLayer,
  type DirectApplyPlan,
  flattenToDirectory,
  overlaySupported,
  resolveOnDisk,
  SnapshotStore,
} from "../../unionfs/mod.ts";
import type { LayerRef } from "../build_cache.ts";
import { type BuildContext, contextPath } from "../build_context.ts";
import { contextInputs } from "../context_inputs.ts";
import { planCopy } from "../copy.ts";
import { planEntries } from "../copy_plan.ts";
import { contextFs, resolvePath, TreeFs } from "../copy_source.ts";
import {
  addHistory,
  commandLine,
  expansionEnv,
  resolveWorkdir,
  runCreatedBy,
} from "../instructions.ts";
import type { Instruction, RunInstruction } from "../dockerfile_types.ts";
import { parseHeredocWord } from "../heredoc.ts";
import type { RunMount } from "../instruction_flags.ts";
import { runStep as runInExecutor } from "../run_executor.ts";
import { fromSource, imageLayers, type Session } from "../session.ts";
import { nextState, type Step, type StepContext } from "./step.ts";

/**
 * A mount as the step uses it: a relative target resolved against the working directory
 * and a secret's id and host file settled, as BuildKit settles them.
 */
function stepMount(parsed: RunMount, session: Session, workdir: string): RunMount {
  const mount = { ...parsed };
  if (!mount.target.startsWith("/")) mount.target = resolveWorkdir(workdir, mount.target);
  if (mount.type === "secret") {
    const secretId = mount.id ?? mount.target.slice(mount.target.lastIndexOf("/") + 1);
    mount.id = secretId;
    mount.secretPath = session.options.secrets?.[secretId];
    if (mount.required && !mount.secretPath) {
      throw new Error(`secret ${secretId} is required but was not given with --secret`);
    }
  }
  return mount;
}

/** Prepares a RUN as a step: its command, environment, network and mounts. */
export async function runStep(
  ctx: StepContext,
  instruction: RunInstruction,
  args: Record<string, string>,
): Promise<Step> {
  const { session } = ctx;
  const image = ctx.state.image;
  let argv = commandLine(instruction, image);
  if (!instruction.json && instruction.heredocs.length > 0) {
    const cmd = instruction.args[0];
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
  const network = instruction.runFlags.network ?? session.options.network ?? "host";
  const mounts = instruction.runFlags.mounts.map((m) => stepMount(m, session, workdir));
  const envMap: Record<string, string> = {
    ...session.graph.scoped.proxyArgs,
    ...expansionEnv(image, args, ctx.argsOverEnv),
  };
  const env = Object.entries(envMap).map(([k, v]) => `${k}=${v}`);
  const flagText = instruction.flags.filter((f) => !f.startsWith("--mount=type=secret")).join(" ");
  return {
    components: {
      parent: ctx.key,
      instruction: `RUN ${flagText} ${JSON.stringify(argv)}`,
      args,
      inputs: await mountInputs(session, mounts),
    },
    predict: () => nextState(ctx),
    async execute(onOutput) {
      const snapshots = session.snapshots ??= new SnapshotStore(session.options.storeRoot);
      const state = nextState(ctx);
      const resolvedMounts = [];
      for (const m of mounts) resolvedMounts.push(await resolveMount(session, m));
      // Where overlay cannot be mounted the executor builds the rootfs from the layers.
      let lowers: string[] = [];
      if (await overlaySupported()) {
        lowers = await prepareLowers(session, snapshots, ctx.layers);
      } else {
        // No snapshots: the executor applies the layers themselves.
        for (const l of ctx.layers) session.written.delete(l.diffId);
      }
      const chain = await chainIds(ctx.layers.map((l) => l.diffId));
      const result = await runInExecutor({
        lowers,
        layers: ctx.layers,
        args: argv,
        env,
        user: image.config?.User || undefined,
        cwd: workdir,
        network,
        mounts: resolvedMounts,
        onOutput,
        signal: session.options.signal,
      }, {
        blobs: session.options.store.blobs,
        snapshots: snapshots,
        parentChainId: chain.at(-1),
        workdir: await mkdtemp(join(session.tmp, "run-")),
        cacheDir: join(session.options.storeRoot, "build-cache", "mounts"),
        executor: session.options.executor ?? "auto",
        sourceDateEpoch: session.options.sourceDateEpoch,
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
      addHistory(state.image, runCreatedBy(argv, args, envMap), session.iso(), false);
      return {
        state,
        layers: [...ctx.layers, {
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
async function contextMountSource(session: Session, m: RunMount): Promise<string> {
  const { context } = session;
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
  const dir = await mkdtemp(join(session.tmp, "mount-"));
  const plan = await planCopy(
    contextFs(context),
    new TreeFs(session.options.store.blobs, [], "mount"),
    {
      keyword: "COPY",
      sources: [found.path === "" ? "." : found.path],
      dest: "/",
      workdir: "/",
      now: session.now(),
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
  session: Session,
  mounts: readonly RunMount[],
): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  for (const [i, m] of mounts.entries()) {
    if (m.type !== "bind" && !(m.type === "cache" && m.from !== undefined)) continue;
    if (m.from !== undefined) {
      const source = await fromSource(session, m.from);
      if (source.kind === "stage") {
        inputs[`mount${i}:stage`] = source.result.key;
      } else {
        inputs[`mount${i}:image:${m.from}`] = source.image?.manifestDigest ?? "not in the store";
      }
      continue;
    }
    const found = await contextInputs(session.context, [contextPath(m.source ?? "")]);
    found.each((k, v) => inputs[`mount${i}:${k}`] = v);
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
async function resolveMount(session: Session, m: RunMount): Promise<RunMount> {
  const { from, ...rest } = m;
  if (m.type !== "bind" && !(m.type === "cache" && from !== undefined)) return rest;
  if (from === undefined) return { ...rest, source: await contextMountSource(session, m) };
  let label: string;
  let fromKey: string;
  let layers: LayerRef[];
  const named = await fromSource(session, from);
  if (named.kind === "stage") {
    layers = named.result.layers;
    fromKey = named.result.key;
    label = `stage "${named.name}"`;
  } else {
    const { image } = named;
    if (!image) throw new Error(`Cannot mount from "${from}": the image is not in the store`);
    layers = imageLayers(image);
    fromKey = image.manifestDigest;
    label = `image "${from}"`;
  }
  const root = await mkdtemp(join(session.tmp, "mount-"));
  await flattenToDirectory(readLayers(session.options.store.blobs, layers), root);
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
 * The snapshots of `layers`, made where missing. A function of its own so that the plans
 * it hands over (each directory of a large COPY) are not kept in the suspended frame of
 * the RUN that follows.
 */
async function prepareLowers(
  session: Session,
  snapshots: SnapshotStore,
  layers: LayerRef[],
): Promise<string[]> {
  const own = await ownPlans(session, snapshots, layers);
  return await snapshots.prepare(layers, session.options.store.blobs, {
    // Handed over, not kept: the snapshot is written after its plan is looked at.
    headers: (layer) => {
      const plan = own.get(layer.diffId);
      own.delete(layer.diffId);
      return plan;
    },
  });
}

/**
 * What the writer worked out of the layers this build wrote itself (COPY, ADD, WORKDIR)
 * whose snapshots are missing, for `SnapshotStore.prepare` to write those that only add
 * straight into their directories: a COPY of a large context then costs one create per
 * file, not two.
 */
async function ownPlans(
  session: Session,
  snapshots: SnapshotStore,
  layers: LayerRef[],
): Promise<Map<string, DirectApplyPlan>> {
  const chain = await chainIds(layers.map((l) => l.diffId));
  const out = new Map<string, DirectApplyPlan>();
  for (const [i, layer] of layers.entries()) {
    const plan = session.written.get(layer.diffId);
    if (!plan) continue;
    session.written.delete(layer.diffId);
    if (!(await snapshots.has(chain[i]))) out.set(layer.diffId, plan);
  }
  return out;
}
