import { type BigIntStats, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileStream } from "./file_layer.ts";
import { join } from "node:path";
import process from "node:process";
import { createLayer, type CreateLayerOptions, type LayerBlob } from "./create_layer.ts";
import { compareNames, OPAQUE_MARKER, WHITEOUT_PREFIX } from "./_path.ts";
import { readXattrs } from "./_platform.ts";
import type { WriteEntry, WriteHeader } from "./_tar_writer.ts";
import type { EntryType } from "./tar_entry.ts";

/** Options for {@linkcode diffDirectories} and {@linkcode diffOverlayUpper}. */
export interface DiffOptions extends CreateLayerOptions {
  /**
   * Clamp every mtime to at most this many seconds since the epoch, for reproducible
   * layers. @default {`$SOURCE_DATE_EPOCH` when set, else no clamp}
   */
  sourceDateEpoch?: number;
}

interface Snap {
  st: BigIntStats;
  xattrs: Record<string, Uint8Array>;
}

type Xattrs = Map<string, Record<string, Uint8Array>>;

/** Files up to this size are read at once; bigger ones are streamed. */
const ONE_READ_LIMIT = 1 << 20;

// The walk is synchronous on purpose: the tree is local and freshly written (a RUN's
// upper), and a round trip to the thread pool per stat costs more than the stat.
function lstatOrNull(path: string): BigIntStats | null {
  try {
    return lstatSync(path, { bigint: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw e;
  }
}

function typeOf(st: BigIntStats): EntryType {
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  return "file";
}

function epochOption(options: DiffOptions): number | undefined {
  if (options.sourceDateEpoch !== undefined) return options.sourceDateEpoch;
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env === undefined || env === "") return undefined;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`Invalid SOURCE_DATE_EPOCH "${env}": expected whole seconds`);
  }
  return n;
}

function sameXattrs(a: Record<string, Uint8Array>, b: Record<string, Uint8Array>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.join("\0") !== kb.join("\0")) return false;
  return ka.every((k) => a[k].length === b[k].length && a[k].every((x, i) => x === b[k][i]));
}

/** Turns a path's state into layer entries, tracking hardlinks among what is emitted. */
class Emitter {
  #root: string;
  #epoch: number | undefined;
  #inodes = new Map<string, string>();
  #xattrs: Xattrs;
  #stripOverlay: boolean;

  constructor(root: string, xattrs: Xattrs, epoch: number | undefined, stripOverlay: boolean) {
    this.#root = root;
    this.#xattrs = xattrs;
    this.#epoch = epoch;
    this.#stripOverlay = stripOverlay;
  }

  #clamp(t: number): number {
    return this.#epoch === undefined ? t : Math.min(t, this.#epoch);
  }

  /** The xattrs as read, overlay's own included. */
  rawXattrs(rel: string): Record<string, Uint8Array> {
    return this.#xattrs.get(rel) ?? {};
  }

  xattrsOf(rel: string): Record<string, Uint8Array> {
    const all = this.rawXattrs(rel);
    if (!this.#stripOverlay) return all;
    const out: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(all)) {
      if (k === "trusted.overlay.redirect" || k === "trusted.overlay.metacopy") {
        throw new Error(
          `Cannot convert overlay upper "${this.#root}": "${rel}" has ${k}, which needs the lower layers (mount with redirect_dir=off,metacopy=off)`,
        );
      }
      if (!k.startsWith("trusted.overlay.")) out[k] = v;
    }
    return out;
  }

  entry(rel: string, st: BigIntStats): WriteEntry {
    const abs = join(this.#root, rel);
    const type = typeOf(st);
    const header: WriteHeader = {
      name: rel,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === "file" ? Number(st.size) : 0,
      mtime: this.#clamp(Number(st.mtimeMs / 1000n)),
      linkname: type === "symlink" ? readlinkSync(abs) : "",
      devmajor: Number(st.rdev >> 8n & 0xfffn),
      devminor: Number((st.rdev & 0xffn) | (st.rdev >> 12n & 0xfff00n)),
      xattrs: this.xattrsOf(rel),
    };
    if (type === "file" && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.#inodes.get(key);
      if (first !== undefined) {
        return { header: { ...header, type: "hardlink", size: 0, linkname: first } };
      }
      this.#inodes.set(key, rel);
    }
    if (type !== "file") return { header };
    // A small file in one read: a stream per file costs more than the read.
    if (st.size <= ONE_READ_LIMIT) return { header, body: new Uint8Array(readFileSync(abs)) };
    return { header, body: fileStream(abs) };
  }

  whiteout(dir: string, name: string): WriteEntry {
    const p = dir ? `${dir}/` : "";
    return {
      header: {
        name: `${p}${WHITEOUT_PREFIX}${name}`,
        type: "file",
        size: 0,
        mode: 0o644,
        mtime: this.#clamp(0),
      },
    };
  }

  opaque(dir: string): WriteEntry {
    return {
      header: {
        name: `${dir}/${OPAQUE_MARKER}`,
        type: "file",
        size: 0,
        mode: 0o644,
        mtime: this.#clamp(0),
      },
    };
  }
}

function sortedNames(dir: string): string[] {
  return readdirSync(dir).sort(compareNames);
}

/** Everything under `rel` in `root`, as entries, parents first. */
async function* subtree(e: Emitter, root: string, rel: string): AsyncGenerator<WriteEntry> {
  for (const name of sortedNames(join(root, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const st = (lstatOrNull(join(root, r)))!;
    yield e.entry(r, st);
    if (st.isDirectory()) yield* subtree(e, root, r);
  }
}

function differs(a: Snap, b: Snap): boolean {
  const x = a.st;
  const y = b.st;
  return typeOf(x) !== typeOf(y) || x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid ||
    x.mtimeNs !== y.mtimeNs || (!x.isDirectory() && x.size !== y.size) || x.rdev !== y.rdev ||
    !sameXattrs(a.xattrs, b.xattrs);
}

async function* diffWalk(
  lower: string,
  upper: string,
  rel: string,
  e: Emitter,
  lowerX: Xattrs,
): AsyncGenerator<WriteEntry> {
  const ln = sortedNames(join(lower, rel));
  const un = sortedNames(join(upper, rel));
  const upperSet = new Set(un);
  // Every lower child gone: one opaque marker says it more simply than many whiteouts.
  if (rel !== "" && ln.length > 0 && ln.every((n) => !upperSet.has(n))) {
    yield e.opaque(rel);
    for (const name of un) {
      const r = `${rel}/${name}`;
      const st = (lstatOrNull(join(upper, r)))!;
      yield e.entry(r, st);
      if (st.isDirectory()) yield* subtree(e, upper, r);
    }
    return;
  }
  const names = [...new Set([...ln, ...un])].sort(compareNames);
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const u = upperSet.has(name) ? lstatOrNull(join(upper, r)) : null;
    if (!u) {
      yield e.whiteout(rel, name);
      continue;
    }
    const l = lstatOrNull(join(lower, r));
    const us: Snap = { st: u, xattrs: e.xattrsOf(r) };
    if (!l) {
      yield e.entry(r, u);
      if (u.isDirectory()) yield* subtree(e, upper, r);
      continue;
    }
    const ls: Snap = { st: l, xattrs: lowerX.get(r) ?? {} };
    const changed = differs(ls, us);
    if (u.isDirectory() && l.isDirectory()) {
      if (changed) yield e.entry(r, u);
      yield* diffWalk(lower, upper, r, e, lowerX);
    } else if (changed) {
      yield e.entry(r, u);
      if (u.isDirectory()) yield* subtree(e, upper, r);
    }
  }
}

/**
 * The layer that turns directory `lower` into directory `upper`: additions and changes
 * (by type, mode, owner, mtime, size, device, link target and xattrs, as Docker compares),
 * whiteouts for deletions, and an opaque marker where every lower child of a directory is
 * gone. Entries are sorted, parents first; with `sourceDateEpoch` mtimes are clamped, so
 * the same trees give the same digest.
 *
 * @example
 * ```ts ignore
 * const { stream, digests } = diffDirectories("/snap/base", "/snap/after-run");
 * await store.put(stream);
 * const { digest, diffId } = await digests;
 * ```
 */
export function diffDirectories(
  lower: string,
  upper: string,
  options: DiffOptions = {},
): LayerBlob {
  return createLayer(directoryChanges(lower, upper, options), options);
}

/**
 * The entries of {@linkcode diffDirectories}'s layer, for a caller that writes them
 * itself (`storeLayer`).
 */
export async function* directoryChanges(
  lower: string,
  upper: string,
  options: DiffOptions = {},
): AsyncGenerator<WriteEntry> {
  const [lowerX, upperX] = await Promise.all([readXattrs(lower), readXattrs(upper)]);
  const e = new Emitter(upper, upperX, epochOption(options), false);
  yield* diffWalk(lower, upper, "", e, lowerX);
}

async function* overlayWalk(upper: string, rel: string, e: Emitter): AsyncGenerator<WriteEntry> {
  for (const name of sortedNames(join(upper, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const st = (lstatOrNull(join(upper, r)))!;
    if (st.isCharacterDevice() && st.rdev === 0n) {
      yield e.whiteout(rel, name);
      continue;
    }
    yield e.entry(r, st);
    if (!st.isDirectory()) continue;
    const opaque = e.rawXattrs(r)["trusted.overlay.opaque"];
    if (opaque && new TextDecoder().decode(opaque) === "y") {
      yield e.opaque(r);
    }
    yield* overlayWalk(upper, r, e);
  }
}

/**
 * The layer recorded in a kernel overlayfs upper directory: its 0/0 character devices
 * become `.wh.` whiteouts and its `trusted.overlay.opaque=y` directories get opaque
 * markers; `trusted.overlay.*` xattrs are dropped. Reading `trusted.*` needs root.
 */
export function diffOverlayUpper(upper: string, options: DiffOptions = {}): LayerBlob {
  return createLayer(overlayUpperChanges(upper, options), options);
}

/**
 * What overlayfs notes on the files and directories of an upper for itself (where a
 * copied-up file came from, and the like): dropped from a layer, and on every file a RUN
 * touched, so not read at all.
 */
const OVERLAY_BOOKKEEPING = new Set([
  "trusted.overlay.origin",
  "trusted.overlay.impure",
  "trusted.overlay.uuid",
  "trusted.overlay.nlink",
]);

/**
 * The entries of {@linkcode diffOverlayUpper}'s layer, for a caller that writes them
 * itself (`storeLayer`).
 */
export async function* overlayUpperChanges(
  upper: string,
  options: DiffOptions = {},
): AsyncGenerator<WriteEntry> {
  const xattrs = await readXattrs(upper, (name) => !OVERLAY_BOOKKEEPING.has(name));
  const e = new Emitter(upper, xattrs, epochOption(options), true);
  yield* overlayWalk(upper, "", e);
}
