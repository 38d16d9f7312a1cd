import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Digest } from "../digest/mod.ts";
import { blobAge, type ImageStore } from "../storage/mod.ts";
import { chainIds, SnapshotStore } from "../unionfs/mod.ts";
import { BuildCache } from "./build_cache.ts";
import { buildTempRoot, type DebrisResult, liveBuilds, sweepDebris } from "./debris.ts";

/**
 * How long `gc` keeps blobs and snapshots that nothing names or leases, by default. Every
 * stratum operation holds a lease on what it writes, so this only protects writers that
 * do not (other tools, library code writing blobs directly) and costs little: rmi frees
 * an image's data at once.
 */
export const DEFAULT_GC_GRACE_MS = 10 * 60_000;

/** Options for {@linkcode collectGarbage}. */
export interface CollectGarbageOptions {
  /** Keep unnamed, unleased blobs and snapshots younger than this. @default {DEFAULT_GC_GRACE_MS} */
  graceMs?: number;
}

/** What {@linkcode collectGarbage} removed. */
export interface CollectGarbageResult {
  /** Blobs deleted. */
  removed: Digest[];
  /** Their total size in bytes. */
  bytes: number;
  /**
   * Bytes freed, by kind: `blobs` (the same as `bytes`), `snapshots` (unpacked layer
   * trees), `debris` (abandoned writes in `ingest/` and scratch directories of dead
   * builds), and their `total`. Snapshots and debris are measured as the drop in their
   * directories' file sizes across the sweep, so a write by another process at the same
   * moment can make the figure smaller, never larger, than what gc removed.
   */
  freed: { blobs: number; snapshots: number; debris: number; total: number };
  /** Chain IDs of the unpacked layer snapshots removed. */
  snapshots: Digest[];
  /** Debris of dead processes cleaned up. */
  debris: DebrisResult;
}

/**
 * `stratum gc` on a store on disk: cleans up after processes that died (build
 * scratch directories with their mounts and containers, abandoned writes, expired
 * leases), deletes blobs no name, build-cache record or live lease reaches, and removes
 * unpacked snapshots that no named image's layer chain uses, no mount has as a lower
 * directory and no running build may use. Safe beside pulls, loads, builds and pushes in
 * other processes.
 */
export async function collectGarbage(
  store: ImageStore,
  options: CollectGarbageOptions = {},
): Promise<CollectGarbageResult> {
  const root = store.root;
  if (root === undefined) {
    throw new TypeError("collectGarbage() needs a store on disk; a store in memory has gc()");
  }
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;
  const debrisDirs = [join(root, "ingest"), buildTempRoot(root)];
  const debrisBefore = await treeBytes(debrisDirs);
  const debris = await sweepDebris(root);
  const debrisBytes = Math.max(0, debrisBefore - await treeBytes(debrisDirs));
  const cache = new BuildCache(root);
  const r = await store.gc({ graceMs, age: blobAge(root), roots: () => cache.roots() });
  // Snapshots are kept for the layer chains of named images; a cached step whose snapshot
  // went is unpacked again from its blobs when a RUN needs it.
  const snapshots = new SnapshotStore(root);
  const live = new Set<string>(await lowerDirsInUse(root));
  for (const rec of await store.tags.list()) {
    const img = await store.load(rec.descriptor).catch(() => undefined);
    if (img) { for (const c of await chainIds(img.config.rootfs.diff_ids)) live.add(c); }
  }
  // A build in flight unpacks and adopts snapshots before it names its image, and
  // snapshots hold no lease: while a build runs, none of them goes.
  const building = await liveBuilds(root) > 0;
  for (const id of await snapshots.list()) {
    const s = await stat(snapshots.path(id)).catch(() => undefined);
    if (building || (s && Date.now() - s.mtimeMs < graceMs)) live.add(id);
  }
  const snapshotDir = join(root, "snapshots");
  const snapshotsBefore = await treeBytes([snapshotDir]);
  const removed = (await snapshots.gc(live)).removed;
  const snapshotBytes = Math.max(0, snapshotsBefore - await treeBytes([snapshotDir]));
  return {
    removed: r.removed,
    bytes: r.bytes,
    freed: {
      blobs: r.bytes,
      snapshots: snapshotBytes,
      debris: debrisBytes,
      total: r.bytes + snapshotBytes + debrisBytes,
    },
    snapshots: removed,
    debris,
  };
}

/**
 * The sizes of the files under `dirs`, summed (missing directories count 0). Walked with
 * lstat: symlinks count as themselves and are never followed out of the store.
 */
async function treeBytes(dirs: string[]): Promise<number> {
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) total += (await lstat(path).catch(() => undefined))?.size ?? 0;
    }
  };
  for (const d of dirs) await walk(d);
  return total;
}

/** Chain IDs of snapshots that a mounted overlay (a RUN in flight) has as a lower dir. */
async function lowerDirsInUse(root: string): Promise<Digest[]> {
  let text: string;
  try {
    text = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const prefix = `${resolve(root, "snapshots")}/`;
  const out: Digest[] = [];
  for (const line of text.split("\n")) {
    const m = /\slowerdir=([^,\s]+)/.exec(line);
    if (!m) continue;
    for (const dir of m[1].split(":")) {
      const hex = dir.startsWith(prefix) ? dir.slice(prefix.length) : "";
      if (/^[0-9a-f]{64}$/.test(hex)) out.push(`sha256:${hex}`);
    }
  }
  return out;
}
