import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storeLayer, type WriteEntry } from "../unionfs/mod.ts";
import { openStore } from "../storage/mod.ts";
import { resolvePath, rootPath, type SourceStat, TreeFs } from "./copy_source.ts";
import type { LayerRef } from "./build_cache.ts";

/** A tar entry: a trailing `/` makes a directory, `->` a symlink, `=>` a hardlink. */
function entry(spec: string, body = ""): WriteEntry {
  const [name, link] = spec.split(/ -> | => /);
  const type = spec.includes(" -> ")
    ? "symlink"
    : spec.includes(" => ")
    ? "hardlink"
    : name.endsWith("/")
    ? "directory"
    : "file";
  const bytes = new TextEncoder().encode(body);
  return {
    header: {
      name,
      type,
      mode: type === "directory" ? 0o755 : 0o644,
      uid: name.length,
      gid: 0,
      size: type === "file" ? bytes.length : 0,
      mtime: 1_600_000_000,
      linkname: link ?? "",
    },
    body: type === "file" ? bytes : undefined,
  };
}

const LAYERS: WriteEntry[][] = [
  [
    entry("etc/"),
    entry("etc/passwd", "root:x:0:0::/:/bin/sh\n"),
    entry("etc/group", "root:x:0:\n"),
    entry("usr/"),
    entry("usr/lib/"),
    entry("lib -> usr/lib"),
    entry("abs -> /etc"),
    entry("app/"),
    entry("app/a.txt", "a"),
    entry("app/gone.txt", "gone"),
    entry("app/dir/"),
    entry("app/dir/deep.txt", "deep"),
  ],
  [
    entry("lib/libx.so", "x"),
    entry("app/b.txt", "bb"),
    entry("app/h => app/a.txt"),
    entry("app/.wh.gone.txt"),
    entry("app/dir", "a file now"),
    entry("app/up -> ../etc"),
  ],
];

/**
 * A stat without its inode number, which each reading of the layers numbers anew, and its
 * link count, which counts only the hardlinks a view kept.
 */
function facts(stat: SourceStat | undefined): Omit<SourceStat, "ino" | "nlink"> | undefined {
  if (!stat) return undefined;
  const { ino: _, nlink: __, ...rest } = stat;
  return rest;
}

/** Paths to ask for: every path of the image and some that are not there. */
const MISSING = [
  "nope",
  "nope/x",
  "app/a.txt/x",
  "app/gone.txt",
  "app/dir/deep.txt",
  "usr/lib/none",
];

test("a view for lookups answers every path as the whole tree does, holding only what it was asked", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-copy-source-"));
  try {
    const store = await openStore(root);
    const layers: LayerRef[] = [];
    for (const entries of LAYERS) {
      const { descriptor, diffId } = await storeLayer(store.blobs, entries);
      layers.push({ descriptor, diffId });
    }
    const whole = new TreeFs(store.blobs, layers, "image");
    const paths = [...(await whole.tree()).entries()].map((e) => e.path);
    paths.push(...MISSING, "lib/libx.so", "abs/passwd", "app/up/group");
    // One view asked for everything in turn: past a few misses it reads the whole tree.
    const shared = new TreeFs(store.blobs, layers, "image", { lookups: true });
    for (const path of paths) {
      for (const view of [new TreeFs(store.blobs, layers, "image", { lookups: true }), shared]) {
        assert.deepEqual(facts(await view.lstat(path)), facts(await whole.lstat(path)), path);
        const [resolved, wholeResolved] = [
          await resolvePath(view, path, true),
          await resolvePath(whole, path, true),
        ];
        assert.equal(resolved?.path, wholeResolved?.path, `resolve ${path}`);
        assert.deepEqual(facts(resolved?.stat), facts(wholeResolved?.stat), `resolve ${path}`);
        const [at, wholeAt] = [await rootPath(view, path), await rootPath(whole, path)];
        assert.equal(at.path, wholeAt.path, `root ${path}`);
        assert.deepEqual(facts(at.stat), facts(wholeAt.stat), `root ${path}`);
      }
    }
    const view = new TreeFs(store.blobs, layers, "image", { lookups: true });
    view.expect(["app/h"]);
    // A hardlink's bytes are its target's, which the view reads though it was not asked.
    assert.equal(await view.readText("app/h"), "a");
    assert.equal(await view.readText("abs/passwd"), "root:x:0:0::/:/bin/sh\n");
    assert.equal((await view.lstat("app/h"))?.ino, (await view.lstat("app/a.txt"))?.ino);
    const held = await view.tree();
    assert.equal(held.get("app/b.txt"), undefined, "a file nobody asked for is not held");
    assert.equal(held.get("lib")?.type, "symlink", "symlinks are held");
    assert.equal(held.get("app")?.type, "directory", "directories are held");
    assert.equal((await whole.tree()).get("app/b.txt")?.type, "file");
    // A copy tracks as hardlinks only the files that share an inode.
    assert.equal((await whole.lstat("app/h"))?.nlink, 2);
    assert.equal((await whole.lstat("app/b.txt"))?.nlink, 1);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
