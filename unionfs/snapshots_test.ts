import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DigestMismatchError } from "../digest/mod.ts";
import { MemoryBlobStore } from "../storage/mod.ts";
import { storeLayer } from "./create_layer.ts";
import { flattenToDirectory } from "./flatten.ts";
import { mountOverlay, overlaySupported, unmountOverlay } from "./overlay.ts";
import type { LayerRef } from "../image/mod.ts";
import { chainIds, SnapshotStore } from "./snapshots.ts";
import { DirectApplyPlan } from "./_direct_apply.ts";
import { InvalidLayerError } from "./errors.ts";
import { readXattrs } from "./_platform.ts";
import { listDirectory } from "./_listing_test_util.ts";
import { dir, file, hardlink, opaque, symlink, whiteout } from "./_test_util.ts";
import type { WriteEntry } from "./_tar_writer.ts";
import { missingPeers } from "../tests/_peers.ts";

/** Root for devices and trusted xattrs; getfattr to read them back. */
const rootOnly = process.getuid?.() !== 0
  ? "needs root (devices, trusted xattrs)"
  : missingPeers("getfattr");

async function withTemp(fn: (d: string) => Promise<void>): Promise<void> {
  const d = await mkdtemp(join(tmpdir(), "stratum-snap-"));
  try {
    await fn(d);
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}

async function putLayer(blobs: MemoryBlobStore, entries: WriteEntry[]): Promise<LayerRef> {
  const { descriptor, diffId } = await storeLayer(blobs, entries);
  return { descriptor, diffId };
}

const base = [
  dir("etc/"),
  file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
  file("gone", "g"),
  dir("conf/"),
  file("conf/a", "a"),
  file("conf/b", "b"),
  dir("becomes-file/"),
  file("becomes-file/x", "x"),
  symlink("link", "etc/passwd"),
];
const top = [
  whiteout("gone"),
  dir("conf/"),
  opaque("conf"),
  file("conf/z", "z"),
  whiteout("becomes-file"),
  file("becomes-file", "now a file"),
  dir("new/"),
  dir("new/deep/"),
  file("new/deep/f", "f"),
];

test("chainIds() follows the OCI formula: sha256 of the previous chain ID, a space, the diff_id", async () => {
  const a = `sha256:${"a".repeat(64)}`;
  const b = `sha256:${"b".repeat(64)}`;
  const c = `sha256:${"c".repeat(64)}`;
  const ab = `sha256:${createHash("sha256").update(`${a} ${b}`).digest("hex")}`;
  const abc = `sha256:${createHash("sha256").update(`${ab} ${c}`).digest("hex")}`;
  assert.deepEqual(await chainIds([a, b, c]), [a, ab, abc]);
  await assert.rejects(chainIds([a, "sha256:nope"]), SyntaxError);
});

test("prepare() keeps each layer's own changes in overlay form: whiteouts as 0/0 devices", {
  skip: rootOnly,
}, async () => {
  await withTemp(async (d) => {
    const blobs = new MemoryBlobStore();
    const layers = [await putLayer(blobs, base), await putLayer(blobs, top)];
    const store = new SnapshotStore(d);
    const lowers = await store.prepare(layers, blobs);
    const ids = await chainIds(layers.map((l) => l.diffId));
    assert.deepEqual(lowers, ids.map((id) => store.path(id)));
    assert.deepEqual(await store.list(), [...ids].sort());
    // The upper snapshot holds only its own changes.
    assert.deepEqual((await readdir(lowers[1])).sort(), ["becomes-file", "conf", "gone", "new"]);
    const gone = await lstat(join(lowers[1], "gone"));
    assert.ok(gone.isCharacterDevice() && gone.rdev === 0, "whiteout is a 0/0 char device");
    assert.ok((await lstat(join(lowers[1], "becomes-file"))).isFile());
    // The opaque conf/ hides the lower children: by the opaque xattr where the layer was
    // unpacked alone, by the kernel's whiteouts where it was applied through a mount.
    const x = await readXattrs(lowers[1]);
    const opaqueConf = new TextDecoder().decode(x.get("conf")?.["trusted.overlay.opaque"]) === "y";
    const hidden = await Promise.all(
      ["a", "b"].map(async (n) => {
        const st = await lstat(join(lowers[1], "conf", n));
        return st.isCharacterDevice() && st.rdev === 0;
      }).map((p) => p.catch(() => false)),
    );
    assert.ok(opaqueConf || hidden.every(Boolean), "conf/a and conf/b are hidden");
    assert.equal(x.get("new")?.["trusted.overlay.opaque"], undefined);
    assert.equal((await lstat(lowers[1])).mode & 0o7777, 0o755);
    assert.deepEqual((await readdir(d + "/snapshots")).filter((n) => n.startsWith(".tmp")), []);
  });
});

test("an overlay mount of prepare()'s lowers equals the flattened stack and materialize()", {
  skip: rootOnly,
}, async (t) => {
  if (!(await overlaySupported())) return t.skip("kernel overlayfs cannot be mounted here");
  await withTemp(async (d) => {
    const blobs = new MemoryBlobStore();
    const layers = [await putLayer(blobs, base), await putLayer(blobs, top)];
    const store = new SnapshotStore(join(d, "store"));
    const lowers = await store.prepare(layers, blobs);
    const merged = join(d, "merged");
    for (const p of [merged, join(d, "u"), join(d, "w")]) await mkdir(p);
    await mountOverlay(lowers, join(d, "u"), join(d, "w"), merged);
    let viaOverlay: string[];
    try {
      viaOverlay = await listDirectory(merged);
    } finally {
      await unmountOverlay(merged);
    }
    await store.materialize(layers, blobs, join(d, "plain"));
    const sources = layers.map((l) => ({
      digest: l.descriptor.digest,
      open: () => blobs.get(l.descriptor.digest),
    }));
    await flattenToDirectory(sources, join(d, "flat"));
    const flat = await listDirectory(join(d, "flat"));
    assert.ok(flat.some((l) => l.startsWith("conf/z ")) && !flat.some((l) => l.startsWith("gone")));
    assert.deepEqual(viaOverlay, flat);
    assert.deepEqual(await listDirectory(join(d, "plain")), flat);
  });
});

test("prepare() reuses a chain's snapshot across images and unpacks only what is missing", {
  skip: rootOnly,
}, async () => {
  await withTemp(async (d) => {
    const blobs = new MemoryBlobStore();
    const l0 = await putLayer(blobs, base);
    const l1 = await putLayer(blobs, top);
    const other = await putLayer(blobs, [file("other", "o")]);
    const store = new SnapshotStore(d);
    const [first] = await store.prepare([l0], blobs);
    // A sentinel survives only if the directory is reused rather than unpacked again.
    await writeFile(join(first, "sentinel"), "kept");
    const lowers = await store.prepare([l0, l1], blobs);
    assert.equal(lowers[0], first);
    assert.equal(await readFile(join(first, "sentinel"), "utf8"), "kept");
    const lowers2 = await store.prepare([l0, other], blobs);
    assert.equal(lowers2[0], first);
    assert.notEqual(lowers2[1], lowers[1], "the same layer on another base is another chain");
    assert.deepEqual(await readdir(lowers2[1]), ["other"]);
  });
});

test(
  "concurrent prepare() calls for the same chain unpack it once",
  { skip: rootOnly },
  async () => {
    await withTemp(async (d) => {
      const blobs = new MemoryBlobStore();
      const layers = [await putLayer(blobs, base), await putLayer(blobs, top)];
      const store = new SnapshotStore(d);
      const results = await Promise.all([1, 2, 3, 4].map(() => store.prepare(layers, blobs)));
      for (const r of results) assert.deepEqual(r, results[0]);
      // Beside the snapshots: the boot they were made in (see the boot test below).
      const names = (await readdir(join(d, "snapshots"))).filter((n) => n !== "boot").sort();
      assert.deepEqual(names, results[0].map((p) => p.slice(-64)).sort());
    });
  },
);

test("prepare() rejects a layer whose bytes do not match its diff_id and keeps nothing", async () => {
  await withTemp(async (d) => {
    const blobs = new MemoryBlobStore();
    const good = await putLayer(blobs, [file("a", "a")]);
    const wrong: LayerRef = { ...good, diffId: `sha256:${"0".repeat(64)}` };
    const store = new SnapshotStore(d);
    await assert.rejects(store.prepare([wrong], blobs), (e: Error) => {
      assert.ok(e instanceof DigestMismatchError);
      assert.match(e.message, new RegExp(good.descriptor.digest));
      return true;
    });
    assert.deepEqual((await readdir(join(d, "snapshots"))).filter((n) => n !== "boot"), []);
  });
});

test("adopt() moves an upper dir in as the chain's snapshot; a second adopt keeps the first", async () => {
  await withTemp(async (d) => {
    const store = new SnapshotStore(join(d, "store"));
    const id = `sha256:${"1".repeat(64)}`;
    for (const n of ["u1", "u2"]) {
      await mkdir(join(d, n));
      await writeFile(join(d, n, "f"), n);
    }
    const path = await store.adopt(id, join(d, "u1"));
    assert.equal(path, store.path(id));
    assert.equal(await readFile(join(path, "f"), "utf8"), "u1");
    assert.equal(await store.adopt(id, join(d, "u2")), path);
    assert.equal(await readFile(join(path, "f"), "utf8"), "u1");
    await assert.rejects(lstat(join(d, "u2")), { code: "ENOENT" });
    await assert.rejects(lstat(join(d, "u1")), { code: "ENOENT" });
  });
});

test("gc() removes snapshots not named live and abandoned unpacks, and keeps the live ones", async () => {
  await withTemp(async (d) => {
    const store = new SnapshotStore(d);
    const ids = ["2", "3", "4"].map((c) => `sha256:${c.repeat(64)}`);
    for (const id of ids) {
      await mkdir(join(d, "u"));
      await store.adopt(id, join(d, "u"));
    }
    const abandoned = join(d, "snapshots", `.tmp-${"5".repeat(64)}-1-0`);
    await mkdir(abandoned);
    const { removed } = await store.gc([ids[1]]);
    assert.deepEqual(removed.sort(), [ids[0], ids[2]]);
    assert.deepEqual(await store.list(), [ids[1]]);
    await assert.rejects(lstat(abandoned), { code: "ENOENT" });
    await assert.rejects(store.gc(["not-a-digest"]), SyntaxError);
  });
});

// A layer a build just made, its headers handed to prepare(): written straight into its
// snapshot where only adds, through the overlay mount otherwise; the merged view must equal
// the flattened stack either way (parents copied up whole, symlinked parents followed).
const enc = (s: string) => new TextEncoder().encode(s);
const givenCases: { name: string; lower: WriteEntry[]; top: WriteEntry[] }[] = [
  {
    name: "new files below a lower directory keep its owner, mode, mtime and xattrs",
    lower: [
      dir("app/", { mode: 0o700, uid: 7, gid: 8, mtime: 1000, xattrs: { "user.k": enc("v") } }),
      file("app/old", "old"),
    ],
    top: [dir("app/files/", { mtime: 2000 }), file("app/files/a", "a", { mtime: 2000 })],
  },
  {
    name: "a path below a lower symlink lands where the symlink points",
    lower: [dir("usr/"), dir("usr/lib/", { mtime: 1000 }), symlink("lib", "usr/lib")],
    top: [file("lib/x", "x")],
  },
  {
    name: "a file replaces a lower directory",
    lower: [dir("d/"), file("d/f", "f")],
    top: [file("d", "now a file")],
  },
  {
    name: "a redeclared directory merges with the lower one",
    lower: [dir("d/", { uid: 3 }), file("d/f", "f")],
    top: [dir("d/", { mode: 0o750, mtime: 3000 }), file("d/g", "g")],
  },
  {
    name: "a directory replaces a lower file",
    lower: [file("x", "x")],
    top: [dir("x/"), file("x/y", "y")],
  },
  // Hardlinks to lower files before them: the plan takes them, the write into the upper
  // alone fails, and the layer goes through the mount after all.
  {
    name: "a hardlink to a lower file",
    lower: [file("big", "bytes")],
    top: [hardlink("h", "big")],
  },
  {
    name: "a hardlink to a lower file after files of the layer's own",
    lower: [dir("app/", { mtime: 1000 }), file("app/big", "bytes")],
    top: [dir("app/", { mtime: 2000 }), file("app/a", "a"), hardlink("app/h", "app/big")],
  },
  {
    name: "a hardlink to a lower file through a lower symlink",
    lower: [dir("usr/"), dir("usr/lib/"), file("usr/lib/x", "x"), symlink("lib", "usr/lib")],
    top: [file("a", "a"), hardlink("m", "lib/x")],
  },
  {
    name: "a file and then a directory of the same name over a lower directory",
    lower: [dir("p/"), file("p/keep", "k")],
    top: [file("p", "f"), dir("p/"), file("p/new", "n")],
  },
];

for (const c of givenCases) {
  test(`prepare() with a layer's headers: ${c.name}`, { skip: rootOnly }, async (t) => {
    if (!(await overlaySupported())) return t.skip("kernel overlayfs cannot be mounted here");
    await withTemp(async (d) => {
      const blobs = new MemoryBlobStore();
      const layers = [await putLayer(blobs, c.lower), await putLayer(blobs, c.top)];
      const store = new SnapshotStore(join(d, "store"));
      const lowers = await store.prepare(layers, blobs, {
        headers: (_layer, i) => i === 1 ? c.top.map((e) => e.header) : undefined,
      });
      const merged = join(d, "merged");
      for (const p of [merged, join(d, "u"), join(d, "w")]) await mkdir(p);
      await mountOverlay(lowers, join(d, "u"), join(d, "w"), merged);
      let viaOverlay: string[];
      try {
        viaOverlay = await listDirectory(merged);
      } finally {
        await unmountOverlay(merged);
      }
      const sources = layers.map((l) => ({
        digest: l.descriptor.digest,
        open: () => blobs.get(l.descriptor.digest),
      }));
      await flattenToDirectory(sources, join(d, "flat"));
      assert.deepEqual(viaOverlay, await listDirectory(join(d, "flat")));
    });
  });
}

test("prepare() with a layer's headers rejects a hardlink to a directory as the mount does", {
  skip: rootOnly,
}, async (t) => {
  if (!(await overlaySupported())) return t.skip("kernel overlayfs cannot be mounted here");
  await withTemp(async (d) => {
    const blobs = new MemoryBlobStore();
    const top = [dir("a/"), file("a/f", "f"), hardlink("b", "a")];
    const headers = top.map((e) => e.header);
    // The plan takes it: the write into the upper alone is what fails.
    const plan = new DirectApplyPlan();
    for (const header of headers) plan.add(header);
    assert.notEqual(plan.finish(), undefined);
    const layers = [await putLayer(blobs, [file("lower", "l")]), await putLayer(blobs, top)];
    for (const given of [undefined, headers]) {
      const store = new SnapshotStore(join(d, given ? "direct" : "mount"));
      await assert.rejects(
        store.prepare(layers, blobs, { headers: (_l, i) => i === 1 ? given : undefined }),
        (e: Error) => e instanceof InvalidLayerError && /hardlink to directory "a"/.test(e.message),
      );
      const left = await readdir(join(d, given ? "direct" : "mount", "snapshots"));
      assert.deepEqual(left.filter((n) => n.startsWith(".tmp")), []);
    }
  });
});

const BOOT_ID = "/proc/sys/kernel/random/boot_id";
const noBootId = await readFile(BOOT_ID, "utf8").then(() => false, () => "no boot id here");

test("snapshots made in an earlier boot are removed before the store is next used", {
  skip: noBootId,
}, async () => {
  await withTemp(async (d) => {
    const blobs = new MemoryBlobStore();
    const layers = [await putLayer(blobs, [dir("app/"), file("app/a", "a")])];
    const [id] = await chainIds(layers.map((l) => l.diffId));
    const root = join(d, "store");
    const [made] = await new SnapshotStore(root).prepare(layers, blobs);
    // The same boot: another store object (another process) keeps it.
    assert.equal(await new SnapshotStore(root).has(id), true);
    // A crash may have left it short: after a reboot it is not trusted.
    await writeFile(join(root, "snapshots", "boot"), "an earlier boot");
    const later = new SnapshotStore(root);
    assert.equal(await later.has(id), false);
    await assert.rejects(lstat(made), { code: "ENOENT" });
    assert.equal(
      await readFile(join(root, "snapshots", "boot"), "utf8"),
      (await readFile(BOOT_ID, "utf8")).trim(),
    );
    assert.deepEqual(await later.prepare(layers, blobs), [made]);
    assert.equal(await readFile(join(made, "app", "a"), "utf8"), "a");
    assert.equal(await later.has(id), true);
  });
});
