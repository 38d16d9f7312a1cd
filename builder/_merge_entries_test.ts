import assert from "node:assert/strict";
import { link, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BuildContext } from "./build_context.ts";
import { planCopy } from "./copy.ts";
import type { CopyOptions, PlannedEntry } from "./copy_plan.ts";
import { contextFs, type SourceFs } from "./copy_source.ts";
import { linkSharedInodes, mergeByPath } from "./_merge_entries.ts";

const entry = (path: string, type: PlannedEntry["type"] = "file", mode = 0o644) => ({
  path,
  type,
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
  linkTarget: "",
});

async function collect(entries: AsyncIterable<PlannedEntry>): Promise<PlannedEntry[]> {
  const out: PlannedEntry[] = [];
  for await (const e of entries) out.push(e);
  return out;
}

test("mergeByPath gives each path once in path order, the last stream's entry winning", async () => {
  async function* walk(...paths: string[]) {
    for (const path of paths) yield entry(path, "file", 0o600);
  }
  const made = [entry("", "directory"), entry("a", "directory"), entry("a/b", "directory")];
  const merged = await collect(mergeByPath([
    made,
    walk("a/b", "a/b/x", "a/c"),
    walk("a-b", "a/b/x", "a/b/y"),
    [entry("a/c", "file", 0o700)],
  ]));
  assert.deepEqual(
    merged.map((e) => [e.path, e.type, e.mode.toString(8)]),
    [
      ["a", "directory", "644"],
      ["a-b", "file", "600"],
      ["a/b", "file", "600"],
      ["a/b/x", "file", "600"],
      ["a/b/y", "file", "600"],
      ["a/c", "file", "700"],
    ],
  );
  assert.deepEqual(await collect(mergeByPath([])), []);
});

test("linkSharedInodes makes later files of an inode hardlinks to the first to leave", async () => {
  const [one, two, three, other] = ["a/2", "a/1", "b", "c"].map((p) => entry(p));
  const inodes = new WeakMap([[one, 7], [two, 7], [three, 7]]);
  async function* entries() {
    yield* [two, one, other, three];
  }
  const out = await collect(linkSharedInodes(entries(), inodes));
  assert.deepEqual(out.map((e) => [e.path, e.type, e.linkTarget]), [
    ["a/1", "file", ""],
    ["a/2", "hardlink", "a/1"],
    ["c", "file", ""],
    ["b", "hardlink", "a/1"],
  ]);
});

test("a COPY of several context sources is merged as walked, as planning it whole gives", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-copy-merge-"));
  try {
    const files: Record<string, string> = {
      "a/x": "ax",
      "a/same": "from a",
      "a/sub/deep": "deep",
      "a/m": "linked",
      "a/dirfile/in": "in",
      "a/x-y": "xy",
      "b/same": "from b",
      "b/sub/other": "other",
      "b/dirfile": "a file here",
      "b/x.z": "xz",
      "f.txt": "f",
      "g.txt": "g",
      "h1": "h",
    };
    for (const [path, body] of Object.entries(files)) {
      await mkdir(join(dir, path, ".."), { recursive: true });
      await writeFile(join(dir, path), body);
    }
    // Links across the sources: b/c sorts before a/m once both are under the destination.
    await link(join(dir, "a/m"), join(dir, "b/c"));
    await link(join(dir, "h1"), join(dir, "h2"));
    const context = await BuildContext.open({ contextDir: dir, storeRoot: dir });
    const from = contextFs(context);
    const target: SourceFs = {
      label: "image",
      keepOwners: true,
      lstat: (p) =>
        Promise.resolve(
          p === ""
            ? {
              path: "",
              type: "directory",
              mode: 0o755,
              uid: 0,
              gid: 0,
              size: 0,
              mtime: 0,
              ino: 1,
              linkTarget: "",
            }
            : undefined,
        ),
      readdir: () => Promise.resolve([]),
      body: () => Promise.reject(new Error("no bodies")),
    };
    const cases: Partial<CopyOptions>[] = [
      { sources: ["a", "b"] },
      { sources: ["b", "a"] },
      { sources: ["a", "b", "f.txt"] },
      { sources: ["*.txt", "a"] },
      { sources: ["a/sub", "b/sub", "a"] },
      { sources: ["a/sub", "b"], parents: true },
      { sources: ["h1", "h2", "a"] },
      { sources: ["a", "a"] },
      { sources: ["a", "b"], exclude: ["**/same", "sub"] },
      { sources: ["a", "b"], dest: "/deep/er/" },
      {
        sources: ["a", "b"],
        inline: [{
          name: "same",
          bytes: new TextEncoder().encode("inline"),
          mode: 0o600,
          mtime: 5,
        }],
      },
    ];
    const shape = (e: PlannedEntry) => [e.path, e.type, e.mode, e.size, e.mtime, e.linkTarget];
    for (const c of cases) {
      const options = {
        keyword: "COPY" as const,
        sources: [],
        dest: "/dst/",
        workdir: "/",
        now: 0,
        ...c,
      };
      const streamed = await planCopy(from, target, options);
      assert.ok(!Array.isArray(streamed.entries), `${JSON.stringify(c)}: walked, not held`);
      const held = await planCopy(from, target, { ...options, planWhole: true });
      assert.ok(Array.isArray(held.entries));
      const got = await collect(streamed.entries as AsyncIterable<PlannedEntry>);
      assert.deepEqual(
        got.map(shape),
        (held.entries as PlannedEntry[]).map(shape),
        JSON.stringify(c),
      );
      assert.deepEqual(streamed.matched, held.matched);
      const paths = got.map((e) => e.path);
      assert.deepEqual(paths, [...paths].sort(), "in path order");
      assert.equal(new Set(paths).size, paths.length, "each path once");
    }
    // What the merge decides: the later source's file, the link's first path by path order.
    const byPath = Object.fromEntries(
      (await collect(
        (await planCopy(from, target, {
          keyword: "COPY",
          sources: ["a", "b"],
          dest: "/dst/",
          workdir: "/",
          now: 0,
        }))
          .entries as AsyncIterable<PlannedEntry>,
      )).map((e) => [e.path, e]),
    );
    assert.equal(byPath["dst/same"].source, "b/same");
    assert.deepEqual([byPath["dst/c"].type, byPath["dst/m"].type, byPath["dst/m"].linkTarget], [
      "file",
      "hardlink",
      "dst/c",
    ]);
    assert.equal(byPath["dst/dirfile"].type, "file");
    await context.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
