import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstatSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BuildContext } from "./build_context.ts";
import { contextInputs } from "./copy.ts";

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

test("BuildContext digests files of every size, one after the other, from what they hold", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-build-context-"));
  const store = await mkdtemp(join(tmpdir(), "stratum-build-context-store-"));
  try {
    // Small (own read), medium (the shared buffer, twice: the second must not see the
    // first's bytes), exactly the one-read limit, and big (streamed).
    const files: Record<string, Uint8Array> = {
      small: bytes(100, 1),
      medium1: bytes(300_000, 2),
      medium2: bytes(70_000, 3),
      limit: bytes(1 << 20, 4),
      big: bytes((1 << 20) + 1, 5),
      empty: new Uint8Array(0),
    };
    for (const [name, b] of Object.entries(files)) await writeFile(join(dir, name), b);
    const context = await BuildContext.open({ contextDir: dir, storeRoot: store });
    for (const [name, b] of Object.entries(files)) {
      assert.equal(await context.digest(name), sha(b), name);
    }
    assert.equal(context.hashedFiles, Object.keys(files).length);
    await context.close();

    // The metadata cache answers for unchanged files; a changed one is read again.
    await writeFile(join(dir, "medium2"), bytes(70_000, 9));
    await utimes(join(dir, "medium2"), 1, 1);
    const again = await BuildContext.open({ contextDir: dir, storeRoot: store });
    assert.equal(await again.digest("medium1"), sha(files.medium1));
    assert.equal(await again.digest("medium2"), sha(bytes(70_000, 9)));
    assert.equal(again.hashedFiles, 1);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(store, { recursive: true, force: true });
  }
});

test("BuildContext lists a directory's names in order and stats a subtree past its neighbours", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-build-context-"));
  const store = await mkdtemp(join(tmpdir(), "stratum-build-context-store-"));
  try {
    // "a-b" and "a.b" sort between "a" and "a/…": the subtree of "a" is not the next run.
    for (const d of ["a/c", "a/b"]) await mkdir(join(dir, d), { recursive: true });
    for (const f of ["a-b", "a.b", "a/z", "a/b/1", "a/c/2", "Dockerfile"]) {
      await writeFile(join(dir, f), f);
    }
    await symlink("../a-b", join(dir, "a/link"));
    const context = await BuildContext.open({ contextDir: dir, storeRoot: store });
    assert.deepEqual(context.readdir(""), ["Dockerfile", "a", "a-b", "a.b"]);
    assert.deepEqual(context.readdir("./a/"), ["b", "c", "link", "z"]);
    assert.deepEqual(context.readdir("a/z"), []);
    assert.deepEqual(context.readdir("missing"), []);
    context.statTree("a");
    assert.equal(context.statSync("a/link")?.linkTarget, "../a-b");
    assert.equal(context.statSync("a/c/2")?.size, 5);
    assert.equal(context.statSync("a/c")?.type, "directory");
    assert.equal(context.statSync("nope"), undefined);
    assert.equal(await context.digest("a.b"), sha(new TextEncoder().encode("a.b")));
    await assert.rejects(context.digest("nope"), /not in the build context/);
    await context.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(store, { recursive: true, force: true });
  }
});

test("contextInputs() names each copied path once, in name order, as a walk of each source would", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-build-context-"));
  const store = await mkdtemp(join(tmpdir(), "stratum-build-context-store-"));
  try {
    for (const d of ["a/b", "z"]) await mkdir(join(dir, d), { recursive: true });
    for (const f of ["a-b", "a.b", "a/b/1", "a/z", "z/big"]) await writeFile(join(dir, f), f);
    await writeFile(join(dir, "z/big"), bytes((1 << 20) + 7, 3));
    await symlink("a", join(dir, "to-a"));
    await symlink("../a-b", join(dir, "a/link"));
    await symlink("b/1", join(dir, "a/file-link"));
    const context = await BuildContext.open({ contextDir: dir, storeRoot: store });
    const mode = (p: string) => (lstatSync(join(dir, p)).mode & 0o7777).toString(8);
    const file = async (p: string, real = p) =>
      `${mode(real)}:${sha(await readFile(join(dir, real)))}`;
    // What a walk of each source gives, the later source winning a name given twice: a
    // symlink named as a source is followed, one below it is not.
    const cases: [string[], Record<string, string>][] = [
      [["to-a"], {
        "ctx:to-a": `dir:${mode("a")}`,
        "ctx:a/b": `dir:${mode("a/b")}`,
        "ctx:a/b/1": await file("a/b/1"),
        "ctx:a/file-link": "link:b/1",
        "ctx:a/link": "link:../a-b",
        "ctx:a/z": await file("a/z"),
      }],
      [["a/file-link", "a", "a-b", "missing"], {
        "ctx:a": `dir:${mode("a")}`,
        "ctx:a-b": await file("a-b"),
        "ctx:a/b": `dir:${mode("a/b")}`,
        "ctx:a/b/1": await file("a/b/1"),
        "ctx:a/file-link": "link:b/1",
        "ctx:a/link": "link:../a-b",
        "ctx:a/z": await file("a/z"),
        "ctx:missing": "missing",
      }],
      [["a", "a/file-link"], {
        "ctx:a": `dir:${mode("a")}`,
        "ctx:a/b": `dir:${mode("a/b")}`,
        "ctx:a/b/1": await file("a/b/1"),
        "ctx:a/file-link": await file("a/file-link", "a/b/1"),
        "ctx:a/link": "link:../a-b",
        "ctx:a/z": await file("a/z"),
      }],
      [["z"], { "ctx:z": `dir:${mode("z")}`, "ctx:z/big": await file("z/big") }],
    ];
    for (const [matched, expected] of cases) {
      const seen: [string, string][] = [];
      (await contextInputs(context, matched)).each((n, v) => seen.push([n, v]));
      const names = seen.map(([n]) => n);
      assert.deepEqual(names, [...names].sort(), `${matched}: in name order`);
      assert.deepEqual(Object.fromEntries(seen), expected, `${matched}`);
      assert.equal(new Set(names).size, names.length, `${matched}: each once`);
    }
    await context.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(store, { recursive: true, force: true });
  }
});
