import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { applyEntries } from "./apply_layer.ts";
import { InvalidLayerError } from "./errors.ts";
import type { WriteEntry } from "./_tar_writer.ts";

const text = (s: string) => new TextEncoder().encode(s);
const dir = (name: string, mtime: number): WriteEntry => ({
  header: { name, type: "directory", mode: 0o750, mtime },
});
const file = (name: string, body: string): WriteEntry => ({
  header: { name, type: "file", mode: 0o640, size: body.length, mtime: 100 },
  body: text(body),
});

test("applyEntries() with onlyAdds writes the same tree, and refuses a removal", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-apply-"));
  try {
    const entries = [dir("a/", 5000), file("a/x", "x"), dir("a/b/", 6000), file("a/b/y", "yy")];
    for (const onlyAdds of [false, true]) {
      const at = join(root, String(onlyAdds));
      await mkdir(at);
      await applyEntries(entries, at, { digest: "test", onlyAdds });
      assert.equal(await readFile(join(at, "a/b/y"), "utf8"), "yy");
      assert.equal((await stat(join(at, "a/x"))).mode & 0o777, 0o640);
      // Directory times are set after what is written below them.
      assert.equal((await stat(join(at, "a"))).mtimeMs, 5000_000);
      assert.equal((await stat(join(at, "a/b"))).mtimeMs, 6000_000);
    }
    for (const removal of [file("a/.wh.x", ""), file("a/.wh..wh..opq", "")]) {
      await assert.rejects(
        applyEntries([dir("a/", 1), removal], root, {
          digest: "test",
          onlyAdds: true,
        }),
        (e) => e instanceof InvalidLayerError && /said only to add/.test(e.message),
      );
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
