import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { nodeContextLstat } from "../builder/mod.ts";
import { runtimeLstat } from "./_context.ts";

test("the runtime's lstat for the build context reads what node:fs's reads", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-lstat-"));
  try {
    await writeFile(join(dir, "f"), "12345", { mode: 0o640 });
    await mkdir(join(dir, "d"), { mode: 0o750 });
    await symlink("f", join(dir, "l"));
    const lstat = runtimeLstat() ?? nodeContextLstat;
    for (const name of ["f", "d", "l"]) {
      const got = lstat(join(dir, name));
      const want = nodeContextLstat(join(dir, name));
      assert.deepEqual(got, want, name);
    }
    assert.equal(lstat(join(dir, "f")).type, "file");
    assert.equal(lstat(join(dir, "d")).type, "directory");
    assert.equal(lstat(join(dir, "l")).type, "symlink");
    assert.equal(lstat(join(dir, "f")).size, 5);
    assert.throws(() => lstat(join(dir, "missing")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
