import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { nodeContextFs } from "../builder/mod.ts";
import { runtimeContextFs } from "./build.ts";

test("the runtime's calls for the build context read what node:fs reads", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-context-fs-"));
  try {
    await writeFile(join(dir, "f"), "12345", { mode: 0o640 });
    await mkdir(join(dir, "d"), { mode: 0o750 });
    await symlink("f", join(dir, "l"));
    const fs = runtimeContextFs() ?? nodeContextFs;
    for (const name of ["f", "d", "l"]) {
      assert.deepEqual(fs.lstat(join(dir, name)), nodeContextFs.lstat(join(dir, name)), name);
    }
    assert.deepEqual(fs.lstat(join(dir, "f")).size, 5);
    const byName = (a: { name: string }, b: { name: string }) => a.name < b.name ? -1 : 1;
    assert.deepEqual(fs.readdir(dir).sort(byName), [
      { name: "d", type: "directory" },
      { name: "f", type: "file" },
      { name: "l", type: "symlink" },
    ]);
    assert.deepEqual(nodeContextFs.readdir(dir).sort(byName), fs.readdir(dir).sort(byName));
    assert.throws(() => fs.lstat(join(dir, "missing")));
    assert.throws(() => fs.readdir(join(dir, "missing")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
