import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMergedTree } from "./merged_tree.ts";
import { diffTrees } from "./diff_trees.ts";
import { dir, file, layer, whiteout } from "./_test_util.ts";

test("diffTrees() lists added, changed and removed paths between two images", async () => {
  const base = await layer([
    dir("etc", { mtime: 1 }),
    file("etc/a", "a", { mtime: 1 }),
    file("etc/b", "b", { mtime: 1 }),
  ]);
  const a = await buildMergedTree([base]);
  const b = await buildMergedTree([
    base,
    await layer([whiteout("etc/b"), file("etc/a", "A!", { mtime: 2 }), file("new", "n")]),
  ]);
  assert.deepEqual(diffTrees(a, b), [
    { path: "etc/a", kind: "changed" },
    { path: "etc/b", kind: "removed" },
    { path: "new", kind: "added" },
  ]);
  assert.deepEqual(diffTrees(a, a), []);
});
