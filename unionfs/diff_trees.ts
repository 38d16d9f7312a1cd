import type { MergedTree, TreeEntry } from "./merged_tree.ts";

/** One path that differs between two merged trees. */
export interface TreeChange {
  /** The path. */
  path: string;
  /** What happened to it going from the first tree to the second. */
  kind: "added" | "changed" | "removed";
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
    else if (!same(old, e)) out.push({ path: e.path, kind: "changed" });
  }
  for (const path of before.keys()) out.push({ path, kind: "removed" });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}
