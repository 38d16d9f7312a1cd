import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { buildMergedTree, type TreeEntry } from "./merged_tree.ts";
import { InvalidLayerError } from "./errors.ts";
import type { WriteEntry } from "./_tar_writer.ts";
import { dir, file, hardlink, layer, opaque, symlink, whiteout } from "./_test_util.ts";

interface Case {
  name: string;
  layers: WriteEntry[][];
  /** `path type@layer`, sorted, the root left out. */
  expect: string[];
}

const cases: Case[] = [
  {
    name: "upper layers win per path",
    layers: [[file("a", "1")], [file("a", "22")]],
    expect: ["a file@1"],
  },
  {
    name: "a whiteout hides the path below",
    layers: [[dir("d"), file("d/x"), file("d/y")], [whiteout("d/x")]],
    expect: ["d directory@0", "d/y file@0"],
  },
  {
    name: "a whiteout of a directory hides all of its contents",
    layers: [[dir("d"), dir("d/e"), file("d/e/x")], [whiteout("d")]],
    expect: [],
  },
  {
    name: "a whiteout of a path that does not exist below is ignored",
    layers: [[file("a")], [whiteout("nope"), whiteout("no/such/dir")]],
    expect: ["a file@0"],
  },
  {
    name: "whiteout files never show in the result",
    layers: [[dir("d")], [whiteout("d/x"), opaque("d")]],
    expect: ["d directory@0"],
  },
  {
    name: "an opaque directory hides all lower children but keeps the same layer's",
    layers: [
      [dir("d"), file("d/old"), dir("d/sub"), file("d/sub/deep")],
      [dir("d"), file("d/new"), opaque("d")],
    ],
    expect: ["d directory@1", "d/new file@1"],
  },
  {
    name: "an opaque marker applies however it is ordered among its siblings",
    layers: [[dir("d"), file("d/old")], [opaque("d"), file("d/new")]],
    expect: ["d directory@0", "d/new file@1"],
  },
  {
    name: "a layer may whiteout a path and add it again (whiteout first)",
    layers: [[dir("d"), file("d/x", "old"), file("d/x2")], [whiteout("d/x"), file("d/x", "new")]],
    expect: ["d directory@0", "d/x file@1", "d/x2 file@0"],
  },
  {
    name: "a layer may add a path and whiteout it in the same layer (whiteout hides only lower)",
    layers: [[dir("d"), dir("d/x"), file("d/x/lower")], [
      dir("d/x"),
      file("d/x/mine"),
      whiteout("d/x"),
    ]],
    expect: ["d directory@0", "d/x directory@1", "d/x/mine file@1"],
  },
  {
    name: "a file replaces a directory and all it held",
    layers: [[dir("p"), file("p/a"), dir("p/b"), file("p/b/c")], [file("p", "now a file")]],
    expect: ["p file@1"],
  },
  {
    name: "a directory replaces a file",
    layers: [[file("p", "file")], [dir("p"), file("p/child")]],
    expect: ["p directory@1", "p/child file@1"],
  },
  {
    name: "a directory over a directory merges and takes the upper metadata",
    layers: [[dir("d", { mode: 0o700 }), file("d/a")], [dir("d", { mode: 0o755 }), file("d/b")]],
    expect: ["d directory@1", "d/a file@0", "d/b file@1"],
  },
  {
    name: "missing parents become implicit directories",
    layers: [[file("x/y/z")]],
    expect: ["x directory@0", "x/y directory@0", "x/y/z file@0"],
  },
  {
    name: "a hardlink resolves to its target in a lower layer",
    layers: [[file("bin/busybox", "bb")], [hardlink("bin/sh", "bin/busybox")]],
    expect: ["bin directory@0", "bin/busybox file@0", "bin/sh file@1"],
  },
  {
    name: "a hardlink keeps its content when its target is removed later",
    layers: [[file("t", "content")], [hardlink("l", "t")], [whiteout("t")]],
    expect: ["l file@1"],
  },
  {
    name: "an entry under a symlinked directory lands in the symlink's target",
    layers: [[dir("real"), symlink("link", "real")], [file("link/f")]],
    expect: ["link symlink@0", "real directory@0", "real/f file@1"],
  },
  {
    name: "a symlink pointing out of the root is resolved inside it",
    layers: [[symlink("evil", "../../../etc")], [file("evil/passwd")]],
    expect: ["etc directory@1", "etc/passwd file@1", "evil symlink@0"],
  },
  {
    name: "names with .., ./ and a leading slash are cleaned inside the root",
    layers: [[file("./a"), file("/b"), file("../../c"), file("d/../e")]],
    expect: ["a file@0", "b file@0", "c file@0", "e file@0"],
  },
  {
    name: "a duplicate entry in one layer is won by the last",
    layers: [[file("a", "first"), file("a", "second!")]],
    expect: ["a file@0"],
  },
  {
    name: "AUFS bookkeeping names are ignored",
    layers: [[file("a"), file(".wh..wh.plnk/123.456")]],
    expect: ["a file@0"],
  },
];

describe("MergedTree applies the OCI whiteout rules", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const tree = await buildMergedTree(await Promise.all(c.layers.map((l) => layer(l))));
      assert.deepEqual([...tree.entries()].map((e) => `${e.path} ${e.type}@${e.layer}`), c.expect);
    });
  }
});

describe("a tree that keeps only some paths sees them as the whole tree does", () => {
  // Every path of every case above, asked alone (with its parents): the same entry, found
  // through the same symlinks, whiteouts and hardlinks, from a tree that drops other files.
  for (const c of cases) {
    test(c.name, async () => {
      const layers = await Promise.all(c.layers.map((l) => layer(l)));
      const whole = await buildMergedTree(layers);
      const facts = (e: TreeEntry | undefined) => {
        if (!e) return undefined;
        const { inode: _, nlink: __, ...rest } = e;
        return rest;
      };
      for (const { path } of whole.entries()) {
        const only = new Set<string>();
        const keep = (p: string) => {
          for (let at = p; at !== ""; at = at.slice(0, Math.max(0, at.lastIndexOf("/")))) {
            only.add(at);
          }
        };
        keep(path);
        let part = await buildMergedTree(layers, { only });
        for (let size = 0; size !== only.size;) {
          size = only.size;
          for (const target of part.unkeptLinkTargets) keep(target);
          if (only.size !== size) part = await buildMergedTree(layers, { only });
        }
        assert.deepEqual(facts(part.get(path)), facts(whole.get(path)), path);
        for (const e of part.entries()) {
          if (!only.has(e.path)) {
            assert.ok(e.type === "directory" || e.type === "symlink", `${e.path} kept`);
          }
        }
      }
    });
  }
});

test("a tree that keeps only some paths finds a file put there through a symlinked parent", async () => {
  const layers = [
    await layer([dir("usr"), dir("usr/lib"), symlink("lib", "usr/lib"), file("usr/lib/other")]),
    await layer([file("lib/x", "xx"), file("lib/y", "yyy")]),
    await layer([hardlink("lib/z", "usr/lib/y")]),
  ];
  const only = new Set(["usr", "usr/lib", "usr/lib/x", "usr/lib/z"]);
  const part = await buildMergedTree(layers, { only });
  assert.equal(part.get("usr/lib/x")?.size, 2);
  assert.equal(part.get("usr/lib/other"), undefined);
  assert.equal(part.get("usr/lib/z"), undefined);
  assert.deepEqual([...part.unkeptLinkTargets], ["usr/lib/y"]);
  const whole = await buildMergedTree(layers, { only: new Set([...only, "usr/lib/y"]) });
  // A file not kept still replaces the symlink below it: what comes through that name later
  // lands where the whole tree puts it, not where the old symlink pointed.
  const replaced = [
    await layer([dir("real"), symlink("l", "real")]),
    await layer([file("l"), symlink("s", "l")]),
    await layer([file("s/x")]),
  ];
  const lookup = new Set(["real", "real/x"]);
  assert.equal((await buildMergedTree(replaced)).get("real/x"), undefined);
  assert.equal((await buildMergedTree(replaced, { only: lookup })).get("real/x"), undefined);
  assert.equal(whole.get("usr/lib/z")?.size, 3);
  assert.deepEqual([...whole.unkeptLinkTargets], []);
});

describe("forEachFileBelow() visits the content of the files entries() lists below a path", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const tree = await buildMergedTree(await Promise.all(c.layers.map((l) => layer(l))));
      for (const base of ["", ...[...tree.entries()].map((e) => e.path)]) {
        const expected = [...tree.entries()]
          .filter((e) =>
            e.type === "file" && (base === "" || e.path === base ||
              (tree.get(base)?.type === "directory" && e.path.startsWith(`${base}/`)))
          )
          .map((e) => `${e.contentLayer}:${e.contentEntry}`);
        const visited: string[] = [];
        tree.forEachFileBelow(base, (l, e) => visited.push(`${l}:${e}`));
        assert.deepEqual(visited.sort(), expected.sort(), `below "${base}"`);
      }
    });
  }
});

test("MergedTree keeps metadata, content sizes and hardlink identity", async () => {
  const tree = await buildMergedTree([
    await layer([file("t", "12345", { mode: 0o4755, uid: 7, gid: 8, mtime: 1000 })]),
    await layer([hardlink("l", "t")]),
  ]);
  const t = tree.get("t")!;
  const l = tree.get("/l")!;
  assert.equal(t.mode, 0o4755);
  assert.deepEqual([t.uid, t.gid, t.size, t.mtime], [7, 8, 5, 1000]);
  assert.equal(l.inode, t.inode);
  assert.deepEqual([l.layer, l.contentLayer, l.contentEntry], [1, 0, 0]);
});

test("MergedTree reports added, modified, removed and hidden bytes per layer", async () => {
  const tree = await buildMergedTree([
    await layer([dir("d"), file("d/a", "aaaa"), file("d/b", "bb"), file("c", "c")]),
    await layer([file("d/a", "AAAAAAAA"), file("n", "nnn"), whiteout("c")]),
    await layer([opaque("d"), file("d/z", "z")]),
  ]);
  const [s0, s1, s2] = tree.stats;
  assert.deepEqual(s0.added, { files: 3, bytes: 7 });
  assert.equal(s0.bytes, 7);
  assert.equal(s0.hiddenBytes, 7, "d/a overwritten, c removed, d/b hidden by the opaque dir");
  assert.deepEqual(s1.added, { files: 1, bytes: 3 });
  assert.deepEqual(s1.modified, { files: 1, bytes: 8 });
  assert.deepEqual(s1.removed, { files: 1, bytes: 1 });
  assert.equal(s1.whiteouts, 1);
  assert.equal(s1.hiddenBytes, 8);
  assert.deepEqual(s2.removed, { files: 2, bytes: 10 });
  assert.equal(s2.hiddenBytes, 0);
});

test("MergedTree refuses a hardlink to a missing file, naming the layer and entry", async () => {
  const l = await layer([hardlink("l", "missing")]);
  await assert.rejects(buildMergedTree([l]), (e: Error) => {
    assert.ok(e instanceof InvalidLayerError);
    assert.match(e.message, new RegExp(`"${l.digest}".*"l".*"missing"`));
    return true;
  });
});

test("MergedTree refuses a symlink loop in a parent path", async () => {
  const l = await layer([symlink("a", "b"), symlink("b", "a"), file("a/x")]);
  await assert.rejects(buildMergedTree([l]), /too many levels of symlinks/);
});
