import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { buildMergedTree, MergedTree, type ScannedEntry, type TreeEntry } from "./merged_tree.ts";
import { type LayerSource, openLayer, openLayerEntries } from "./open_layer.ts";
import { mapLimit } from "./_map_limit.ts";
import { type WriteEntry, writeTar } from "./_tar_writer.ts";
import {
  gather,
  makeSpecial,
  setMeta,
  writeFile,
  writeFileBytes,
  type WriteOptions,
} from "./_fs_write.ts";
import { isRoot, setXattrs } from "./_platform.ts";
import { contentXattrs } from "./_path.ts";

/** Options for {@linkcode flattenToDirectory}. */
export interface FlattenOptions {
  /** A tree already built from the same `layers`, to skip reading their headers again. */
  tree?: MergedTree;
  /** Layers decompressed at once. @default {2} */
  concurrency?: number;
  /** Set file owners from the layers. @default {true when running as root} */
  owners?: boolean;
  /** Make device nodes. @default {true when running as root} */
  devices?: boolean;
  /** Set extended attributes (needs `setfattr`). @default {true} */
  xattrs?: boolean;
}

/** What a flatten made, and what it could not. */
export interface FlattenResult {
  /** Paths written (every type, hardlinks included). */
  paths: number;
  /** Regular-file bytes written. */
  bytes: number;
  /** Paths or attributes that could not be made here, with the reason. */
  skipped: string[];
}

/** Per inode: the path written first, whose bytes the others hardlink to. */
function primaries(entries: TreeEntry[]): Map<number, TreeEntry> {
  const first = new Map<number, TreeEntry>();
  for (const e of entries) if (e.type !== "directory" && !first.has(e.inode)) first.set(e.inode, e);
  return first;
}

/**
 * Files at least this large are written to a staging directory while the layers are
 * first read for the tree, then renamed into place or deleted: a layer that holds only
 * such files is decompressed once instead of twice. Below this, decompressing again costs
 * less than the rename and the write of a file that may turn out hidden.
 */
const STAGE_FROM = 64 * 1024;

/**
 * Bytes of smaller files kept in memory from the first read, at most this much over all
 * layers: a layer all of whose surviving small files are held is not decompressed and
 * parsed a second time, which for many small files costs as much as writing them.
 */
const HOLD_BUDGET = 64 << 20;

/** Where a layer entry's bytes were staged (or, for a small file, held). */
function stagedName(layer: number, entry: number): string {
  return `${layer}.${entry}`;
}

/**
 * Reads every layer's headers for the tree, writing the bodies of large files into
 * `staging` as it goes (with their final metadata: it comes from the same header).
 */
async function scanAndStage(
  layers: readonly LayerSource[],
  staging: string,
  concurrency: number,
  opts: WriteOptions,
): Promise<{ tree: MergedTree; staged: Set<string>; held: Map<string, Uint8Array> }> {
  const staged = new Set<string>();
  const held = new Map<string, Uint8Array>();
  let budget = HOLD_BUDGET;
  await mkdir(staging, { mode: 0o700 });
  const scanned = await mapLimit(layers, concurrency, async (source, layer) => {
    const out: ScannedEntry[] = [];
    let index = 0;
    for await (const { header, body } of openLayerEntries(source)) {
      if (header.type === "file" && header.size >= STAGE_FROM) {
        await writeFile(join(staging, stagedName(layer, index)), body, header, opts);
        staged.add(stagedName(layer, index));
      } else if (header.type === "file" && header.size <= budget) {
        budget -= header.size;
        held.set(stagedName(layer, index), await gather(body, header.size));
      }
      out.push({ header, index: index++ });
    }
    return out;
  });
  const tree = new MergedTree();
  scanned.forEach((entries, i) => tree.addLayer(entries, layers[i].digest));
  return { tree, staged, held };
}

/**
 * Writes the merged tree of `layers` into `target` (which must be empty or missing). Each
 * surviving file is written once from the layer that holds it; layers are decompressed in
 * parallel, large files are kept from the first read (the one that builds the tree), and a
 * layer is read a second time only for the small files that survive from it.
 * Paths come from the merged tree, whose parents are all real directories, so nothing
 * can be written outside `target`.
 *
 * @example
 * ```ts ignore
 * await flattenToDirectory(layers, "/tmp/rootfs");
 * ```
 */
export async function flattenToDirectory(
  layers: readonly LayerSource[],
  target: string,
  options: FlattenOptions = {},
): Promise<FlattenResult> {
  const opts: WriteOptions = {
    owners: options.owners ?? isRoot(),
    devices: options.devices ?? isRoot(),
  };
  const concurrency = options.concurrency ?? 2;
  const made = await mkdir(target, { recursive: true });
  if ((await readdir(target)).length > 0) {
    throw new Error(`Cannot flatten into "${target}": the directory is not empty`);
  }
  let tree = options.tree;
  let staged = new Set<string>();
  let held = new Map<string, Uint8Array>();
  const staging = join(target, `.stratum-flatten-${randomBytes(8).toString("hex")}`);
  try {
    if (!tree) {
      try {
        ({ tree, staged, held } = await scanAndStage(layers, staging, concurrency, opts));
      } catch (e) {
        // Bad layers leave no trace: not even the target, if this call made it.
        await rm(made ?? staging, { recursive: true, force: true });
        throw e;
      }
    }
    return await writeTree(
      layers,
      tree,
      target,
      { staging, staged, held },
      concurrency,
      opts,
      options,
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function writeTree(
  layers: readonly LayerSource[],
  tree: MergedTree,
  target: string,
  kept: { staging: string; staged: Set<string>; held: Map<string, Uint8Array> },
  concurrency: number,
  opts: WriteOptions,
  options: FlattenOptions,
): Promise<FlattenResult> {
  const entries = [...tree.entries()];
  const first = primaries(entries);
  const result: FlattenResult = { paths: entries.length, bytes: 0, skipped: [] };
  for (const e of entries) {
    if (e.type === "directory") await mkdir(join(target, e.path), { mode: 0o700 });
  }
  const { staging, staged, held } = kept;
  const wanted = new Map<number, Map<number, TreeEntry>>();
  for (const e of first.values()) {
    if (e.type !== "file") continue;
    const name = stagedName(e.contentLayer, e.contentEntry);
    if (staged.has(name)) {
      await rename(join(staging, name), join(target, e.path));
      result.bytes += e.size;
      continue;
    }
    const bytes = held.get(name);
    if (bytes) {
      writeFileBytes(join(target, e.path), bytes, e, opts);
      held.delete(name);
      result.bytes += e.size;
      continue;
    }
    let m = wanted.get(e.contentLayer);
    if (!m) wanted.set(e.contentLayer, m = new Map());
    m.set(e.contentEntry, e);
  }
  held.clear();
  await rm(staging, { recursive: true, force: true });
  await mapLimit([...wanted.keys()], concurrency, async (layer) => {
    const need = wanted.get(layer)!;
    let index = 0;
    let left = need.size;
    for await (const { body } of openLayerEntries(layers[layer])) {
      const e = need.get(index++);
      if (!e) continue;
      await writeFile(join(target, e.path), body, e, opts);
      result.bytes += e.size;
      if (--left === 0) break;
    }
  });
  for (const e of entries) {
    if (e.type === "directory" || e.type === "file" && first.get(e.inode) === e) continue;
    const p = first.get(e.inode)!;
    const linkFrom = p === e ? undefined : join(target, p.path);
    const why = await makeSpecial(join(target, e.path), { ...e, linkFrom }, opts);
    if (why) result.skipped.push(`${e.path}: ${why}`);
  }
  if (options.xattrs ?? true) {
    const items = entries.map((e) => ({ path: e.path, xattrs: contentXattrs(e.xattrs) }))
      .filter((e) => Object.keys(e.xattrs).length > 0);
    for (const why of await setXattrs(target, items)) result.skipped.push(why);
  }
  for (const e of entries.filter((e) => e.type === "directory").reverse()) {
    await setMeta(join(target, e.path), e, opts);
  }
  if (!tree.root.implicit) await setMeta(target, tree.root, opts);
  return result;
}

/** Options for {@linkcode flattenToTar}. */
export interface FlattenToTarOptions {
  /** A tree already built from the same `layers`. */
  tree?: MergedTree;
}

function headerOf(e: TreeEntry, linkname?: string): WriteEntry["header"] {
  return {
    name: e.path,
    type: linkname !== undefined ? "hardlink" : e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: linkname !== undefined ? 0 : e.size,
    mtime: e.mtime,
    linkname: linkname ?? e.linkTarget,
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs: e.xattrs,
  };
}

/**
 * The merged tree of `layers` as one tar stream: what `docker export` gives for a
 * container of the image, without the files Docker adds (`.dockerenv`, `etc/hosts`...).
 * Symlinks and special files come first in path order, then file bodies layer by layer
 * (each layer read once, in order), then hardlinks after their targets, then directories:
 * last, so that extractors set their mtimes and modes after filling them.
 */
export function flattenToTar(
  layers: readonly LayerSource[],
  options: FlattenToTarOptions = {},
): ReadableStream<Uint8Array> {
  async function* entries(): AsyncGenerator<WriteEntry> {
    const tree = options.tree ?? await buildMergedTree(layers);
    const all = [...tree.entries()];
    const first = primaries(all);
    for (const e of all) {
      if (e.type !== "file" && e.type !== "directory" && first.get(e.inode) === e) {
        yield { header: headerOf(e) };
      }
    }
    const byLayer = new Map<number, Map<number, TreeEntry>>();
    for (const e of first.values()) {
      if (e.type !== "file") continue;
      let m = byLayer.get(e.contentLayer);
      if (!m) byLayer.set(e.contentLayer, m = new Map());
      m.set(e.contentEntry, e);
    }
    for (const layer of [...byLayer.keys()].sort((a, b) => a - b)) {
      const need = byLayer.get(layer)!;
      let index = 0;
      let left = need.size;
      for await (const { body } of openLayer(layers[layer])) {
        const e = need.get(index++);
        if (!e) continue;
        yield { header: headerOf(e), body };
        if (--left === 0) break;
      }
    }
    for (const e of all) {
      const p = first.get(e.inode);
      if (e.type !== "directory" && p !== e) yield { header: headerOf(e, p!.path) };
    }
    if (!tree.root.implicit) yield { header: { ...headerOf(tree.root), name: "./" } };
    for (const e of all) if (e.type === "directory") yield { header: headerOf(e) };
  }
  return writeTar(entries());
}
