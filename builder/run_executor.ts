/**
 * RUN steps in a real container, the way BuildKit runs them: the step's layer snapshots
 * are mounted with kernel overlayfs under a fresh upper directory, the command runs in an
 * OCI runtime (`runc` or `crun`) or, without one, in namespaces made by `unshare`, and the
 * upper directory becomes the step's layer and then, unchanged, the next snapshot.
 */
import {
  access,
  chown,
  constants,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  rmdir,
} from "node:fs/promises";
import { execFile } from "node:child_process";
import { delimiter, join, posix } from "node:path";
import process from "node:process";
import { type Digest, sha256 } from "../digest/mod.ts";
import type { Descriptor } from "../image/mod.ts";
import { type BlobStore, concatBytes } from "../storage/mod.ts";
import {
  directoryChanges,
  type LayerRef,
  lstatOrNull,
  mountOverlay,
  openWorkspace,
  overlaySupported,
  overlayUpperChanges,
  resolveOnDisk,
  type SnapshotStore,
  storeLayer,
  unmountOverlay,
  type WriteEntry,
} from "../unionfs/mod.ts";
import type { RunMount } from "./instruction_flags.ts";
import { resolveUser } from "./_rootfs.ts";
import { ancestors, DEFAULT_HOSTNAME, planMounts } from "./_run_mounts.ts";
import type { ExecSpec } from "./_run_process.ts";
import { runWithRuntime } from "./_runc.ts";
import { runWithChroot } from "./_chroot_executor.ts";

/** How RUN steps are run: an OCI runtime, or the built-in unshare + chroot executor. */
export type ExecutorKind = "runc" | "crun" | "chroot";

/** Docker's PATH for images that set none. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const TAIL_LINES = 20;
const TAIL_BYTES = 64 * 1024;

async function findExecutable(name: string): Promise<string | null> {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  // Runtimes live in sbin, which a non-login PATH may lack.
  for (const dir of [...dirs, "/usr/local/sbin", "/usr/sbin", "/sbin"]) {
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The executor this host can use: `runc` or `crun` when one is installed, else the
 * built-in `chroot` executor when running as root with util-linux `unshare`, else null.
 */
export async function detectExecutor(): Promise<ExecutorKind | null> {
  if (await findExecutable("runc")) return "runc";
  if (await findExecutable("crun")) return "crun";
  if (process.getuid?.() === 0 && await findExecutable("unshare")) return "chroot";
  return null;
}

/** One RUN step. */
export interface RunRequest {
  /** Snapshot directories of the parent image, bottom first (`SnapshotStore.prepare`). */
  lowers: string[];
  /**
   * The parent image's layers, bottom first. Where overlay cannot be mounted the rootfs is
   * built from them by unionfs's writer (as `stratum export` would), instead of from
   * `lowers`; then `lowers` may be empty.
   */
  layers?: LayerRef[];
  /** The argv; shell form comes already wrapped as `[...SHELL, cmd]`. */
  args: string[];
  /** `KEY=value` entries; PATH defaults to Docker's and HOME to the user's home. */
  env: string[];
  /** USER: `name`, `uid`, `uid:gid`, `name:group`, resolved in the rootfs. @default {root} */
  user?: string;
  /** WORKDIR, absolute; made (owned by the user) when missing. */
  cwd: string;
  /** `host` shares the host's network; `none` has only loopback. */
  network: "host" | "none";
  /** The step's `--mount`s. */
  mounts?: RunMount[];
  /** The container's hostname. @default {"buildkitsandbox", as BuildKit} */
  hostname?: string;
  /** Receives output as the command writes it. */
  onOutput?: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
  /** Aborting kills the command; `runStep` then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What a successful RUN step made. */
export interface RunResult {
  /** Always 0: a failure rejects with {@linkcode RunFailedError}. */
  exitCode: number;
  /** The step's layer, stored in `blobs` (possibly empty, as BuildKit makes it). */
  layer: { descriptor: Descriptor; diffId: Digest };
  /** The chain ID of the parent's layers plus this one; its snapshot is in `snapshots`. */
  chainId: string;
  /** The last lines of the command's output. */
  tail: string;
}

/** Options for {@linkcode runStep}. */
export interface RunStepOptions {
  /** Where the layer blob goes. */
  blobs: BlobStore;
  /** Where the step's upper directory is adopted as the new snapshot. */
  snapshots: SnapshotStore;
  /** The chain ID of the last layer in `lowers`; required when `lowers` is not empty. */
  parentChainId?: string;
  /** Scratch space on the store's filesystem (the upper must be renamed into it). */
  workdir: string;
  /** Root of the persistent `type=cache` mounts, keyed by cache id. */
  cacheDir: string;
  /** Which executor to use. @default {"auto": {@linkcode detectExecutor}} */
  executor?: ExecutorKind | "auto";
  /** Clamp mtimes in the new layer (and snapshot) to this time, in seconds. */
  sourceDateEpoch?: number;
  /** The layer's compression. @default {"gzip"} */
  compression?: "gzip";
  /**
   * How the rootfs is made: `"auto"` mounts overlay where it can, `"copy"` always builds
   * it with the writer (what happens where overlay is unavailable). @default {"auto"}
   */
  workspace?: "auto" | "copy";
}

/** A RUN command exited non-zero. The message reads like BuildKit's. */
export class RunFailedError extends Error {
  /** The command's exit status (128 + signal number when a signal ended it). */
  exitCode: number;
  /** The last lines of its output. */
  tail: string;
  /** The argv that failed. */
  command: string[];

  /** Builds the error for `command` exiting with `exitCode` after printing `tail`. */
  constructor(command: string[], exitCode: number, tail: string) {
    super(
      `process "${command.join(" ")}" did not complete successfully: exit code: ${exitCode}`,
    );
    this.name = "RunFailedError";
    this.exitCode = exitCode;
    this.tail = tail;
    this.command = command;
  }
}

function validate(req: RunRequest): void {
  if (!Array.isArray(req.args) || req.args.length === 0) {
    throw new TypeError("Cannot run a step without a command (args is empty)");
  }
  for (const a of req.args) {
    if (typeof a !== "string") throw new TypeError(`Cannot run ${JSON.stringify(req.args)}`);
  }
  for (const e of req.env) {
    if (typeof e !== "string" || e.indexOf("=") <= 0) {
      throw new TypeError(`Invalid environment entry "${e}": expected KEY=value`);
    }
  }
  if (!posix.isAbsolute(req.cwd)) {
    throw new TypeError(`Invalid working directory "${req.cwd}": must be absolute`);
  }
  if (req.network !== "host" && req.network !== "none") {
    throw new TypeError(`Invalid network mode "${req.network}": expected "host" or "none"`);
  }
}

async function pickExecutor(choice: ExecutorKind | "auto" | undefined): Promise<ExecutorKind> {
  if (choice && choice !== "auto") return choice;
  const found = await detectExecutor();
  if (found) return found;
  throw new Error(
    "Cannot run RUN steps: no OCI runtime found (install runc or crun) and the built-in " +
      "executor needs root and util-linux unshare",
  );
}

/** Keeps the last bytes written, for the tail of an error. */
class Tail {
  #chunks: Uint8Array[] = [];
  #size = 0;

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size - this.#chunks[0].length >= TAIL_BYTES) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }

  text(): string {
    const all = new TextDecoder().decode(concatBytes(this.#chunks));
    return all.replace(/\n$/, "").split("\n").slice(-TAIL_LINES).join("\n");
  }
}

function hasOpaqueXattr(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      "getfattr",
      ["--absolute-names", "--only-values", "-n", "trusted.overlay.opaque", path],
      (error, stdout) => resolve(!error && stdout.trim() === "y"),
    );
  });
}

/**
 * Removes from `upper` the directories copied up only to hold mount stubs: empty, not
 * opaque, and the same as in the topmost lower that has them.
 */
async function pruneStubParents(upper: string, lowers: string[], dirs: string[]) {
  const all = [...new Set(dirs.flatMap(ancestors))].sort((a, b) => b.length - a.length);
  for (const rel of all) {
    const st = await lstatOrNull(join(upper, rel));
    if (!st?.isDirectory() || (await readdir(join(upper, rel))).length > 0) continue;
    let below = null;
    for (const lower of [...lowers].reverse()) {
      below = await lstatOrNull(join(lower, rel));
      if (below) break;
    }
    if (
      below?.isDirectory() && below.mode === st.mode && below.uid === st.uid &&
      below.gid === st.gid && Math.abs(below.mtimeMs - st.mtimeMs) < 1 &&
      !(await hasOpaqueXattr(join(upper, rel)))
    ) await rmdir(join(upper, rel));
  }
}

async function clampTimes(root: string, epoch: number): Promise<void> {
  for (const name of await readdir(root)) {
    const path = join(root, name);
    const st = await lstat(path);
    if (st.isDirectory()) await clampTimes(path, epoch);
    if (st.mtimeMs / 1000 > epoch) await lutimes(path, epoch, epoch);
  }
}

function withDefaults(env: string[], home: string): string[] {
  const out = [...env];
  if (!out.some((e) => e.startsWith("PATH="))) out.push(`PATH=${DEFAULT_PATH}`);
  if (!out.some((e) => e.startsWith("HOME="))) out.push(`HOME=${home}`);
  return out;
}

/**
 * Runs one RUN step and returns its layer. The rootfs is an overlay of `req.lowers` under
 * a fresh upper (where overlay cannot be mounted, `req.layers`, or else `req.lowers`,
 * applied by unionfs's writer). /etc/hosts and
 * /etc/resolv.conf are provided, and the mounts made; stubs made for them never reach the
 * layer. On success the upper becomes the layer (stored in `blobs`) and the snapshot of
 * the new chain. A non-zero exit rejects with {@linkcode RunFailedError}.
 *
 * @example
 * ```ts ignore
 * const lowers = await snapshots.prepare(image.layers, store.blobs);
 * const { layer, chainId } = await runStep(
 *   { lowers, args: ["/bin/sh", "-c", "echo hi > /f"], env: [], cwd: "/", network: "host" },
 *   { blobs: store.blobs, snapshots, parentChainId, workdir, cacheDir },
 * );
 * ```
 */
export async function runStep(req: RunRequest, options: RunStepOptions): Promise<RunResult> {
  validate(req);
  if (req.lowers.length > 0 && options.parentChainId === undefined) {
    throw new TypeError("Cannot run a step over lowers without options.parentChainId");
  }
  const kind = await pickExecutor(options.executor);
  const unshare = kind === "chroot" ? await findExecutable("unshare") : null;
  if (kind === "chroot" && !unshare) {
    throw new Error("Cannot run RUN steps with the chroot executor: install util-linux unshare");
  }
  req.signal?.throwIfAborted();
  await mkdir(options.workdir, { recursive: true });
  const stepDir = await mkdtemp(join(options.workdir, "run-"));
  const tail = new Tail();
  // The overlay mounted for the step, until it is unmounted.
  let mounted: string | undefined;
  let result: RunResult;
  try {
    let rootfs: string;
    let changes: () => AsyncIterable<WriteEntry>;
    let upper: string | undefined;
    let lowers = req.lowers;
    const diffOptions = {
      sourceDateEpoch: options.sourceDateEpoch,
      compression: options.compression ?? "gzip",
    };
    if (options.workspace !== "copy" && await overlaySupported()) {
      if (lowers.length === 0) {
        lowers = [join(stepDir, "empty")];
        await mkdir(lowers[0], { mode: 0o755 });
      }
      rootfs = join(stepDir, "rootfs");
      const up = join(stepDir, "upper");
      const work = join(stepDir, "work");
      for (const d of [rootfs, up, work]) await mkdir(d, { mode: 0o755 });
      // The upper is read into a layer once the step ends, and what is durable is that
      // layer's blob: overlay's fsync after each copy-up (most of the time of a step
      // that touches many files, ~10x here) buys nothing, so the mount is volatile.
      await mountOverlay(lowers, up, work, rootfs, { volatile: true });
      mounted = rootfs;
      upper = up;
      changes = () => overlayUpperChanges(up, diffOptions);
    } else if (req.layers) {
      // Both trees from the layers by the writer: the rootfs to run in, and the untouched
      // base the step's changes are read against.
      const base = join(stepDir, "base");
      rootfs = join(stepDir, "rootfs");
      for (const d of [base, rootfs]) {
        await mkdir(d, { mode: 0o755 });
        await options.snapshots.materialize(req.layers, options.blobs, d);
      }
      changes = () => directoryChanges(base, rootfs!, diffOptions);
    } else {
      const ws = await openWorkspace(lowers, join(stepDir, "copy"));
      rootfs = ws.rootfs;
      changes = () => directoryChanges(ws.changes, ws.rootfs, diffOptions);
    }

    let user;
    try {
      user = await resolveUser(rootfs, req.user);
    } catch (e) {
      throw new Error(`Cannot run ${JSON.stringify(req.args)}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const cwdOnHost = await resolveOnDisk(rootfs, req.cwd);
    if (!(await lstatOrNull(cwdOnHost))) {
      await mkdir(cwdOnHost, { recursive: true, mode: 0o755 });
      await chown(cwdOnHost, user.uid, user.gid);
    }
    const plan = await planMounts({
      rootfs,
      stepDir,
      cacheDir: options.cacheDir,
      mounts: req.mounts ?? [],
      network: req.network,
      hostname: req.hostname ?? DEFAULT_HOSTNAME,
      signal: req.signal,
    });
    const spec: ExecSpec = {
      rootfs,
      stepDir,
      args: req.args,
      env: withDefaults(req.env, user.home),
      cwd: req.cwd,
      uid: user.uid,
      gid: user.gid,
      additionalGids: user.additionalGids,
      hostname: req.hostname ?? DEFAULT_HOSTNAME,
      network: req.network,
      mounts: plan.mounts,
      onOutput: (chunk, stream) => {
        tail.push(chunk);
        req.onOutput?.(chunk, stream);
      },
      signal: req.signal,
    };
    let exitCode: number;
    try {
      exitCode = kind === "chroot"
        ? await runWithChroot(spec, unshare!)
        : await runWithRuntime(kind, spec);
    } finally {
      await plan.removeStubs();
      await plan.release();
    }
    req.signal?.throwIfAborted();
    if (exitCode !== 0) throw new RunFailedError(req.args, exitCode, tail.text());

    if (mounted) {
      await unmountOverlay(mounted);
      mounted = undefined;
    }
    if (upper) {
      await pruneStubParents(upper, lowers, plan.stubParents);
      if (options.sourceDateEpoch !== undefined) {
        await clampTimes(upper, options.sourceDateEpoch);
      }
    }
    const { descriptor, diffId } = await storeLayer(options.blobs, changes(), diffOptions);
    const chainId = options.parentChainId === undefined
      ? diffId
      : await sha256(`${options.parentChainId} ${diffId}`);
    if (upper) await options.snapshots.adopt(chainId, upper);
    result = { exitCode, layer: { descriptor, diffId }, chainId, tail: tail.text() };
  } catch (error) {
    // The step's own error is the one reported: the cleanup below must not replace it (a
    // rootfs still busy made the removal fail with EBUSY, which hid why the step failed).
    await cleanUp().catch(() => {});
    throw error;
  }
  await cleanUp();
  return result;

  async function cleanUp(): Promise<void> {
    if (mounted) {
      const target = mounted;
      mounted = undefined;
      // Detached if it stays busy, so that the step's directory can go.
      await unmountOverlay(target).catch(() => unmountOverlay(target, { lazy: true }));
    }
    await rm(stepDir, { recursive: true, force: true });
  }
}
