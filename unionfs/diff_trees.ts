import { digestOf } from "../digest/mod.ts";
import { buildMergedTree, type MergedTree, type TreeEntry } from "./merged_tree.ts";
import { type LayerSource, openLayer } from "./open_layer.ts";

/** One path that differs between two merged trees. */
export interface TreeChange {
  /** The path. */
  path: string;
  /** What happened to it going from the first tree to the second. */
  kind: "added" | "changed" | "removed";
  /** For a change: true when the modification time is all that differs. */
  mtimeOnly?: boolean;
}

function sameBytes(a: Record<string, Uint8Array>, b: Record<string, Uint8Array>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.join("\0") === kb.join("\0") &&
    ka.every((k) => a[k].length === b[k].length && a[k].every((x, i) => x === b[k][i]));
}

function same(a: TreeEntry, b: TreeEntry): boolean {
  return a.type === b.type && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid &&
    a.size === b.size && a.mtime === b.mtime && a.linkTarget === b.linkTarget &&
    a.devmajor === b.devmajor && a.devminor === b.devminor && sameBytes(a.xattrs, b.xattrs);
}

/**
 * The paths added, changed and removed from tree `a` to tree `b` (for `stratum diff IMAGE1
 * IMAGE2`), in path order. A path changes when its type, mode, owner, size, mtime, link
 * target, device or xattrs differ, the comparison Docker makes; contents are not read.
 */
export function diffTrees(a: MergedTree, b: MergedTree): TreeChange[] {
  const before = new Map<string, TreeEntry>();
  for (const e of a.entries()) before.set(e.path, e);
  const out: TreeChange[] = [];
  for (const e of b.entries()) {
    const old = before.get(e.path);
    before.delete(e.path);
    if (!old) out.push({ path: e.path, kind: "added" });
    else if (!same(old, e)) {
      const mtimeOnly = same({ ...old, mtime: e.mtime }, e);
      out.push({ path: e.path, kind: "changed", ...(mtimeOnly ? { mtimeOnly } : {}) });
    }
  }
  for (const path of before.keys()) out.push({ path, kind: "removed" });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/** Options for {@linkcode diffLayerStacks}. */
export interface DiffLayerStacksOptions {
  /**
   * Report a file whose modification time is all that changed. When false, such a file is
   * reported only when its content differs too (its bytes are hashed in both images).
   * @default {false}
   */
  mtime?: boolean;
}

/**
 * The paths added, changed and removed from the image whose layers are `a` to the image
 * whose layers are `b`. By default a file whose only difference is its mtime counts as
 * changed only when its bytes differ: a rebuild touches every copied file's mtime, and
 * `container-diff`'s file analyzer compares content the same way. Only the layers holding
 * such files are read again, once each.
 */
export async function diffLayerStacks(
  a: LayerSource[],
  b: LayerSource[],
  options: DiffLayerStacksOptions = {},
): Promise<TreeChange[]> {
  const [ta, tb] = await Promise.all([buildMergedTree(a), buildMergedTree(b)]);
  const changes = diffTrees(ta, tb);
  if (options.mtime) return changes;
  const suspects = changes.filter((c) => c.mtimeOnly && ta.get(c.path)?.type === "file");
  if (!suspects.length) return changes.filter((c) => !c.mtimeOnly);
  const [da, db] = await Promise.all([
    contentDigests(a, suspects.map((c) => ta.get(c.path)!)),
    contentDigests(b, suspects.map((c) => tb.get(c.path)!)),
  ]);
  const differ = new Set(
    suspects.filter((_, i) => da[i] !== db[i]).map((c) => c.path),
  );
  return changes.filter((c) => !c.mtimeOnly || differ.has(c.path));
}

/** The digests of `entries`' bodies, read from `sources` one layer at a time. */
async function contentDigests(sources: LayerSource[], entries: TreeEntry[]): Promise<string[]> {
  const wanted = new Map<number, Map<number, number[]>>();
  entries.forEach((e, i) => {
    const layer = wanted.get(e.contentLayer) ?? new Map<number, number[]>();
    layer.set(e.contentEntry, [...(layer.get(e.contentEntry) ?? []), i]);
    wanted.set(e.contentLayer, layer);
  });
  const out: string[] = new Array(entries.length).fill("");
  for (const [layer, byEntry] of wanted) {
    let index = 0;
    for await (const { body } of openLayer(sources[layer])) {
      const slots = byEntry.get(index++);
      if (!slots) {
        await body.cancel();
        continue;
      }
      const { digest } = await digestOf(body);
      for (const i of slots) out[i] = digest;
      byEntry.delete(index - 1);
      if (!byEntry.size) break;
    }
  }
  return out;
}
