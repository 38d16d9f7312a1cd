/**
 * What a build killed mid-way leaves behind, and its removal. Every build works in a
 * scratch directory under `<root>/build-cache/tmp/` whose name carries its owner's pid
 * ({@linkcode ownedTempDir}); a RUN step's overlay mount, its runtime's state (the
 * `runc --root` of its containers) and its upper directory all live inside. When the
 * owner is gone, {@linkcode sweepDebris} stops the containers still running there, kills
 * chroot-executor processes rooted there, unmounts what is mounted there and removes the
 * directory; it also sweeps the store's ingest and leases ({@linkcode sweepStore}).
 * Directories of live owners are never touched, so this is safe beside other builds.
 */
import { execFile } from "node:child_process";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  currentOwner,
  type Owner,
  ownerAlive,
  ownerTag,
  parseOwner,
  sweepStore,
  type SweepStoreResult,
} from "../storage/mod.ts";

/** What {@linkcode sweepDebris} cleaned up. */
export interface DebrisResult extends SweepStoreResult {
  /** Scratch directories of dead builds that were removed. */
  builds: number;
  /** Mounts of dead builds that were unmounted. */
  mounts: number;
  /** Containers (or chroot-executor processes) of dead builds that were stopped. */
  containers: number;
}

/** Options for {@linkcode sweepDebris}. */
export interface SweepDebrisOptions {
  /** Scratch directories without an owner in their name (older versions) go after this. */
  unownedMaxAgeMs?: number;
  /** Passed to {@linkcode sweepStore}. */
  resumableMaxAgeMs?: number;
}

/** The parent of every build's scratch directory. */
export function buildTempRoot(storeRoot: string): string {
  return join(storeRoot, "build-cache", "tmp");
}

/**
 * Makes a fresh directory `<parent>/<prefix><owner>-XXXXXX` whose name records this
 * process as its owner, so a sweep knows when its owner is gone.
 */
export async function ownedTempDir(parent: string, prefix: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  return await mkdtemp(join(parent, `${prefix}${ownerTag(await currentOwner())}-`));
}

/** How many builds with a live process work on the store at `storeRoot` now. */
export async function liveBuilds(storeRoot: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(buildTempRoot(storeRoot)).catch(() => [] as string[])) {
    const owner = ownerOf(name);
    if (owner && await ownerAlive(owner)) n++;
  }
  return n;
}

function ownerOf(name: string): Owner | undefined {
  const m = /^[a-z]+-(\d+(?:\.\d+)?)-[A-Za-z0-9]+$/.exec(name);
  return m ? parseOwner(m[1]) : undefined;
}

/** Cleans up after builds (and store writes) whose process died. */
export async function sweepDebris(
  storeRoot: string,
  options: SweepDebrisOptions = {},
): Promise<DebrisResult> {
  const result: DebrisResult = {
    ...(await sweepStore(storeRoot, { resumableMaxAgeMs: options.resumableMaxAgeMs })),
    builds: 0,
    mounts: 0,
    containers: 0,
  };
  const parent = buildTempRoot(storeRoot);
  const names = await readdir(parent).catch(() => [] as string[]);
  const unownedMaxAge = options.unownedMaxAgeMs ?? 86_400_000;
  for (const name of names) {
    const dir = join(parent, name);
    const owner = ownerOf(name);
    if (owner) {
      if (await ownerAlive(owner)) continue;
    } else {
      const st = await lstat(dir).catch(() => undefined);
      if (!st?.isDirectory() || Date.now() - st.mtimeMs < unownedMaxAge) continue;
    }
    result.containers += await stopContainers(dir);
    result.containers += await killRootedProcesses(dir);
    result.mounts += await unmountUnder(dir);
    // A mount that would not go keeps the directory: rm must never reach through it.
    if ((await mountsUnder(dir)).length === 0) {
      await rm(dir, { recursive: true, force: true });
      result.builds++;
    }
  }
  return result;
}

function exec(cmd: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (error) => resolve(!error));
  });
}

/**
 * Finds runtime state roots (`runWithRuntime` puts them at `<step>/state`, beside
 * `<step>/bundle`) and force-deletes every container in them.
 */
async function stopContainers(dir: string): Promise<number> {
  let stopped = 0;
  for (const state of await findStateRoots(dir, 6)) {
    for (const id of await readdir(state).catch(() => [] as string[])) {
      // runc and crun share the CLI; whichever made the container knows its state.
      for (const runtime of ["runc", "crun"]) {
        if (await exec(runtime, ["--root", state, "delete", "--force", id])) {
          stopped++;
          break;
        }
      }
    }
  }
  return stopped;
}

async function findStateRoots(dir: string, depth: number): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  const names = new Set(entries.map((e) => e.name));
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const path = join(dir, e.name);
    if (e.name === "state" && names.has("bundle")) out.push(path);
    else if (e.name !== "rootfs" && e.name !== "upper" && e.name !== "work" && depth > 0) {
      out.push(...await findStateRoots(path, depth - 1));
    }
  }
  return out;
}

/**
 * Kills processes left working inside `dir`: chroot-executor steps (their root directory
 * is there) and runtime processes (`runc run` of a container deleted above) whose
 * arguments name a path there.
 */
async function killRootedProcesses(dir: string): Promise<number> {
  let killed = 0;
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const root = await readlink(`/proc/${pid}/root`).catch(() => undefined);
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    const runtime = /(^|\/)(runc|crun)$/.test(argv[0]) &&
      argv.some((a) => a.startsWith(`${dir}/`));
    if (!runtime && (root === undefined || !root.startsWith(`${dir}/`))) continue;
    try {
      process.kill(Number(pid), "SIGKILL");
      killed++;
    } catch { /* gone already */ }
  }
  return killed;
}

/** Mount points at or under `dir` in this mount namespace, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const points = text.split("\n").filter(Boolean).map((line) =>
    // Field 5 is the mount point, with spaces and the like escaped as octal.
    line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))
  );
  return points.filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Detaches every mount under `dir`, deepest first; returns how many went. */
async function unmountUnder(dir: string): Promise<number> {
  let n = 0;
  for (const point of await mountsUnder(dir)) {
    // Lazy: a process of the dead build that still has it open must not keep it mounted.
    if (await exec("umount", ["-l", point])) n++;
  }
  return n;
}
