import { test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PathError } from "./errors.ts";
import {
  diskLookup,
  MAX_SYMLINK_HOPS,
  resolveInRoot,
  resolveInRootSync,
  resolveOnDisk,
  type RootedLookup,
} from "./resolve_in_root.ts";

async function withRoot(fn: (root: string, outside: string) => Promise<void>): Promise<void> {
  const d = await mkdtemp(join(tmpdir(), "stratum-resolve-"));
  try {
    await mkdir(join(d, "root"));
    await mkdir(join(d, "outside"));
    await fn(join(d, "root"), join(d, "outside"));
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}

type Mem = { link?: string; kids?: Record<string, Mem> };
const memLookup = (root: Mem): RootedLookup<Mem> => ({
  root,
  child: (d, name) => d.kids?.[name],
  linkTarget: (n) => n.link,
  isDirectory: (n) => n.kids !== undefined,
  mkdir: (d, name) => (d.kids![name] = { kids: {} }),
});

test("resolveInRoot() re-roots absolute symlinks and clamps .. at the root", async () => {
  await withRoot(async (root, outside) => {
    await mkdir(join(root, "usr/lib"), { recursive: true });
    await symlink("/usr/lib", join(root, "lib"));
    await symlink("../../../..", join(root, "up"));
    await symlink(outside, join(root, "host"));
    assert.equal(await resolveOnDisk(root, "lib/x"), join(root, "usr/lib/x"));
    assert.equal(await resolveOnDisk(root, "up/etc/passwd"), join(root, "etc/passwd"));
    assert.equal(await resolveOnDisk(root, "host/f"), join(root, outside, "f"));
    assert.equal(await resolveOnDisk(root, "../../x"), join(root, "x"));
    // A missing component: the rest is lexical, and .. still stops at the root.
    assert.equal(await resolveOnDisk(root, "missing/../../lib/y"), join(root, "usr/lib/y"));
  });
});

test("resolveInRoot() fails with ELOOP after securejoin's hop limit", async () => {
  await withRoot(async (root) => {
    await symlink("a", join(root, "b"));
    await symlink("b", join(root, "a"));
    await assert.rejects(
      resolveOnDisk(root, "a/x"),
      (e) => e instanceof PathError && e.code === "ELOOP",
    );
    // A chain of exactly MAX_SYMLINK_HOPS links resolves; one more does not.
    const tree: Mem = { kids: { end: { kids: {} } } };
    for (let i = 0; i < MAX_SYMLINK_HOPS; i++) {
      tree.kids![`l${i}`] = { link: i === MAX_SYMLINK_HOPS - 1 ? "end" : `l${i + 1}` };
    }
    assert.deepEqual(resolveInRootSync(memLookup(tree), "l0")?.parts, ["end"]);
    tree.kids!.extra = { link: "l0" };
    assert.throws(() => resolveInRootSync(memLookup(tree), "extra"), PathError);
  });
});

test("resolveInRoot() with missing: create makes directories inside the root only", async () => {
  await withRoot(async (root, outside) => {
    await symlink(outside, join(root, "esc"));
    await writeFile(join(root, "file"), "x");
    const made: string[] = [];
    const lookup = diskLookup(root, (p) => {
      made.push(p);
    });
    const r = await resolveInRoot(lookup, "esc/a/b", { missing: "create" });
    assert.deepEqual(r?.parts, [...outside.split("/").filter((p) => p), "a", "b"]);
    assert.ok((await lstat(join(root, outside, "a/b"))).isDirectory());
    await assert.rejects(lstat(join(outside, "a")));
    // A file in the way is replaced by a directory.
    await resolveInRoot(lookup, "file/sub", { missing: "create" });
    assert.ok((await lstat(join(root, "file/sub"))).isDirectory());
    assert.ok(made.includes("file"));
  });
});

test("resolveInRoot() with missing: fail and followLast: false", () => {
  const tree: Mem = { kids: { d: { kids: { f: {} } }, s: { link: "d/f" } } };
  const l = memLookup(tree);
  assert.equal(resolveInRootSync(l, "d/nope", { missing: "fail" }), undefined);
  assert.equal(resolveInRootSync(l, "d/f/x", { missing: "fail" }), undefined);
  assert.deepEqual(resolveInRootSync(l, "s")?.parts, ["d", "f"]);
  assert.deepEqual(resolveInRootSync(l, "s", { followLast: false })?.parts, ["s"]);
  assert.equal(resolveInRootSync(l, "/")?.node, tree);
});

test("resolveInRootSync() refuses a lookup that answers with a promise", () => {
  const l: RootedLookup<Mem> = { ...memLookup({ kids: {} }), child: () => Promise.resolve({}) };
  assert.throws(() => resolveInRootSync(l, "x"), TypeError);
});
