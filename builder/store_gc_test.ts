import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import { memoryStore, openStore, putBytes } from "../storage/mod.ts";
import { buildTempRoot, ownedTempDir } from "./debris.ts";
import { collectGarbage } from "./store_gc.ts";

test("collectGarbage() keeps unnamed snapshots while a build runs, and removes them after", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-gc-"));
  try {
    const store = await openStore(root);
    const chain = (await sha256("a chain no image names")).slice(7);
    await mkdir(join(root, "snapshots", chain), { recursive: true });
    const build = await ownedTempDir(buildTempRoot(root), "build-");
    const during = await collectGarbage(store, { graceMs: 0 });
    assert.deepEqual(during.snapshots, []);
    await rm(build, { recursive: true });
    const after = await collectGarbage(store, { graceMs: 0 });
    assert.deepEqual(after.snapshots, [`sha256:${chain}`]);
    // What is left is the record of the boot the snapshots were made in.
    assert.deepEqual(await readdir(join(root, "snapshots")), ["boot"]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("collectGarbage() keeps unnamed blobs younger than the grace period, unless it is 0", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-gc-"));
  try {
    const store = await openStore(root);
    const { digest } = await putBytes(store.blobs, new TextEncoder().encode("orphan"));
    assert.deepEqual((await collectGarbage(store)).removed, []);
    assert.deepEqual((await collectGarbage(store, { graceMs: 0 })).removed, [digest]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("collectGarbage() is for a store on disk: a store in memory is refused, saying why", async () => {
  await assert.rejects(collectGarbage(memoryStore()), /needs a store on disk/);
});
