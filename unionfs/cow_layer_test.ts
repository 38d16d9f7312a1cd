import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CowLayer } from "./cow_layer.ts";
import { PathError } from "./errors.ts";
import { buildMergedTree } from "./merged_tree.ts";
import { flattenToDirectory } from "./flatten.ts";
import { applyLayer } from "./apply_layer.ts";
import { listDirectory } from "./_listing_test_util.ts";
import { bytesLayer, collect, dir, file, layer, symlink } from "./_test_util.ts";
import { missingPeers } from "../tests/_peers.ts";

async function lowers() {
  return [
    await layer([
      dir("etc", { mtime: 10 }),
      file("etc/passwd", "root", { mtime: 10 }),
      dir("etc/conf.d", { mtime: 10 }),
      file("etc/conf.d/a", "a", { mtime: 10 }),
      dir("usr/lib", { mtime: 10 }),
      file("usr/lib/libc.so", "libc", { mode: 0o755, mtime: 10 }),
      symlink("lib", "usr/lib"),
    ]),
    await layer([file("etc/hostname", "box", { mtime: 20 }), file("tmp/x", "x", { mtime: 20 })]),
  ];
}

test("CowLayer reads through to the lowers and its commit equals the same edits on disk", {
  skip: missingPeers("getfattr"),
}, async () => {
  const d = await fs.mkdtemp(join(tmpdir(), "stratum-cow-"));
  try {
    const layers = await lowers();
    const cow = new CowLayer(await buildMergedTree(layers), layers);
    const real = join(d, "real");
    await flattenToDirectory(layers, real);
    assert.equal(new TextDecoder().decode(await cow.readFile("etc/hostname")), "box");
    assert.deepEqual(cow.readdir("etc"), ["conf.d", "hostname", "passwd"]);
    assert.equal(cow.stat("lib")?.linkTarget, "usr/lib");

    // The same edits, on the CoW layer and with node:fs on a real copy.
    cow.writeFile("etc/passwd", "root\nuser", { mtime: 30 });
    await fs.writeFile(join(real, "etc/passwd"), "root\nuser");
    cow.remove("etc/conf.d", { recursive: true });
    await fs.rm(join(real, "etc/conf.d"), { recursive: true });
    cow.mkdir("etc/conf.d", { mtime: 30 });
    await fs.mkdir(join(real, "etc/conf.d"));
    cow.writeFile("etc/conf.d/b", "b", { mtime: 30 });
    await fs.writeFile(join(real, "etc/conf.d/b"), "b");
    cow.rename("usr/lib", "usr/lib64");
    await fs.rename(join(real, "usr/lib"), join(real, "usr/lib64"));
    cow.setMeta("usr/lib64/libc.so", { mode: 0o700 });
    await fs.chmod(join(real, "usr/lib64/libc.so"), 0o700);
    cow.rename("etc/hostname", "etc/hostname.old");
    await fs.rename(join(real, "etc/hostname"), join(real, "etc/hostname.old"));
    cow.remove("tmp/x");
    await fs.rm(join(real, "tmp/x"));
    cow.symlink("../etc/passwd", "tmp/p");
    await fs.symlink("../etc/passwd", join(real, "tmp/p"));

    assert.deepEqual(cow.readdir("etc"), ["conf.d", "hostname.old", "passwd"]);
    assert.deepEqual(cow.readdir("etc/conf.d"), ["b"], "the recreated directory hides a");
    assert.equal(new TextDecoder().decode(await cow.readFile("usr/lib64/libc.so")), "libc");

    const blob = cow.commit();
    const bytes = await collect(blob.stream);
    const { diffId } = await blob.digests;
    assert.match(diffId, /^sha256:[0-9a-f]{64}$/);
    const applied = join(d, "applied");
    await flattenToDirectory(layers, applied);
    await applyLayer(bytesLayer(bytes), applied);
    const merged = join(d, "merged");
    await flattenToDirectory([...layers, bytesLayer(bytes, "sha256:cow")], merged);
    const strip = (ls: string[]) =>
      ls.map((l) => l.replace(/ \d+$/, "").replace(/ dir (\d+) 0:0\s*$/, " dir $1"));
    const expected = strip(await listDirectory(real, { mtimes: false }));
    assert.deepEqual(strip(await listDirectory(applied, { mtimes: false })), expected);
    assert.deepEqual(strip(await listDirectory(merged, { mtimes: false })), expected);
  } finally {
    await fs.rm(d, { recursive: true, force: true });
  }
});

test("CowLayer refuses what a filesystem refuses, with errno-style codes", async () => {
  const layers = await lowers();
  const cow = new CowLayer(await buildMergedTree(layers), layers);
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof PathError);
      return e.code;
    }
    return "no error";
  };
  assert.equal(code(() => cow.writeFile("nope/x", "")), "ENOENT");
  assert.equal(code(() => cow.writeFile("etc/passwd/x", "")), "ENOTDIR");
  assert.equal(code(() => cow.writeFile("etc", "")), "EISDIR");
  assert.equal(code(() => cow.mkdir("etc")), "EEXIST");
  assert.equal(code(() => cow.remove("etc")), "ENOTEMPTY");
  assert.equal(code(() => cow.remove("missing")), "ENOENT");
  assert.equal(code(() => cow.rename("etc", "etc/sub")), "EINVAL");
  cow.remove("etc", { recursive: true });
  assert.equal(cow.stat("etc/passwd"), undefined);
  await assert.rejects(cow.readFile("etc/passwd"), { code: "ENOENT" });
});
