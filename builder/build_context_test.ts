import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { patternBytes, shaOf } from "./_build_test_util.ts";
import { BuildContext } from "./build_context.ts";

test("BuildContext digests files of every size, one after the other, from what they hold", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-build-context-"));
  const store = await mkdtemp(join(tmpdir(), "stratum-build-context-store-"));
  try {
    // Small (own read), medium (the shared buffer, twice: the second must not see the
    // first's bytes), exactly the one-read limit, and big (streamed).
    const files: Record<string, Uint8Array> = {
      small: patternBytes(100, 1),
      medium1: patternBytes(300_000, 2),
      medium2: patternBytes(70_000, 3),
      limit: patternBytes(1 << 20, 4),
      big: patternBytes((1 << 20) + 1, 5),
      empty: new Uint8Array(0),
    };
    for (const [name, b] of Object.entries(files)) await writeFile(join(dir, name), b);
    const context = await BuildContext.open({ contextDir: dir, storeRoot: store });
    for (const [name, b] of Object.entries(files)) {
      assert.equal(await context.digest(name), shaOf(b), name);
    }
    assert.equal(context.hashedFiles, Object.keys(files).length);
    await context.close();

    // The metadata cache answers for unchanged files; a changed one is read again.
    await writeFile(join(dir, "medium2"), patternBytes(70_000, 9));
    await utimes(join(dir, "medium2"), 1, 1);
    const again = await BuildContext.open({ contextDir: dir, storeRoot: store });
    assert.equal(await again.digest("medium1"), shaOf(files.medium1));
    assert.equal(await again.digest("medium2"), shaOf(patternBytes(70_000, 9)));
    assert.equal(again.hashedFiles, 1);
    // The JSON cache of earlier versions goes when the cache is next written.
    const metaDir = join(store, "build-cache", "context-meta");
    const [written] = await readdir(metaDir);
    await writeFile(join(metaDir, written.replace(/\.meta$/, ".json")), "{}");
    await again.close();
    assert.deepEqual(await readdir(metaDir), [written]);
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
    assert.equal(await context.digest("a.b"), shaOf(new TextEncoder().encode("a.b")));
    await assert.rejects(context.digest("nope"), /not in the build context/);
    await context.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(store, { recursive: true, force: true });
  }
});
