import assert from "node:assert/strict";
import { lstatSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { patternBytes, shaOf } from "./_build_test_util.ts";
import { BuildContext } from "./build_context.ts";
import { contextInputs } from "./context_inputs.ts";

test("contextInputs() names each copied path once, in name order, as a walk of each source would", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-build-context-"));
  const store = await mkdtemp(join(tmpdir(), "stratum-build-context-store-"));
  try {
    for (const d of ["a/b", "z"]) await mkdir(join(dir, d), { recursive: true });
    for (const f of ["a-b", "a.b", "a/b/1", "a/z", "z/big"]) await writeFile(join(dir, f), f);
    await writeFile(join(dir, "z/big"), patternBytes((1 << 20) + 7, 3));
    await symlink("a", join(dir, "to-a"));
    await symlink("../a-b", join(dir, "a/link"));
    await symlink("b/1", join(dir, "a/file-link"));
    const context = await BuildContext.open({ contextDir: dir, storeRoot: store });
    const mode = (p: string) => (lstatSync(join(dir, p)).mode & 0o7777).toString(8);
    const file = async (p: string, real = p) =>
      `${mode(real)}:${shaOf(await readFile(join(dir, real)))}`;
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
