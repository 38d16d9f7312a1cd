/**
 * Build-level checks of BuildKit's argument, environment and source rules (issue 13):
 * what a step's expansion sees, where a COPY lands. RUN's environment is the same
 * expansionEnv(); tests/build_docker_test.ts runs these against Docker BuildKit.
 */
import assert from "node:assert/strict";
import { chmod, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { build, type BuildOptions } from "./build.ts";
import { contextDir, storeWithBase, treeOf } from "./_build_test_util.ts";

let base: Awaited<ReturnType<typeof storeWithBase>>;
let ctx: string;

before(async () => {
  base = await storeWithBase();
  ctx = await contextDir([
    { path: "testfile", body: "contents0" },
    { path: "a b", body: "spaced" },
  ]);
});

after(async () => {
  await base.cleanup();
  await rm(ctx, { recursive: true, force: true });
});

function run(dockerfile: string, extra: Partial<BuildOptions> = {}) {
  return build({
    store: base.store,
    storeRoot: base.root,
    contextDir: ctx,
    dockerfile,
    noCache: true,
    ...extra,
  });
}

describe("ARG values across stages", () => {
  test("a stage built FROM another starts with its ARG values", async () => {
    const result = await run(
      [
        "FROM test/base:1 AS parent",
        "ARG NAME=parent",
        "ARG TARGETARCH",
        "FROM parent",
        "LABEL before=$NAME arch=$TARGETARCH",
        'ARG NAME="$NAME-dev"',
        "LABEL after=$NAME",
      ].join("\n") + "\n",
      { platform: "linux/arm64" },
    );
    assert.deepEqual(result.config.config?.Labels, {
      before: "parent",
      arch: "arm64",
      after: "parent-dev",
    });
    // ARGs stay out of the config, inherited or not.
    assert.ok(!result.config.config?.Env?.some((e) => e.startsWith("NAME=")));
  });
});

describe("ARG and ENV of the same name", () => {
  test("an ARG after the ENV wins for expansion; the config keeps the ENV", async () => {
    const result = await run("FROM test/base:1\nENV E=E\nARG E\nLABEL e=$E\n", {
      buildArgs: { E: "cli" },
    });
    assert.equal(result.config.config?.Labels?.e, "cli");
    assert.ok(result.config.config?.Env?.includes("E=E"));
  });

  test("an ARG default after the ENV wins too, and a later ENV wins back", async () => {
    const result = await run(
      "FROM test/base:1\nENV E=env\nARG E=arg\nLABEL one=$E\nENV E=again\nLABEL two=$E\n",
    );
    assert.deepEqual(result.config.config?.Labels, { one: "arg", two: "again" });
  });

  test("an ENV after the ARG wins, and a bare ARG after it changes nothing", async () => {
    const result = await run("FROM test/base:1\nARG E=arg\nENV E=env\nARG E\nLABEL e=$E\n");
    assert.equal(result.config.config?.Labels?.e, "env");
  });
});

describe("COPY arguments that expand to nothing or to blanks", () => {
  test("an empty destination copies into the WORKDIR", async () => {
    const result = await run(
      'FROM test/base:1\nWORKDIR /work\nENV empty=""\nCOPY testfile $empty\n',
    );
    const tree = await treeOf(base.store, result.imageId, "work");
    assert.equal(tree["work/testfile"]?.content, "contents0");
  });

  test("a variable with a blank in it stays one source path", async () => {
    const result = await run('FROM test/base:1\nENV f="a b"\nCOPY $f /dst\n');
    const tree = await treeOf(base.store, result.imageId, "dst");
    assert.equal(tree["dst"]?.content, "spaced");
  });
});

describe("symbolic --chmod (current BuildKit; Docker 20.10 ignored it)", () => {
  test("applies to each file and directory copied, X only where it fits", async () => {
    const dir = await contextDir([{ path: "d/f", body: "f" }, { path: "d/x", body: "x" }]);
    try {
      // Set after writing, past the umask.
      await chmod(join(dir, "d"), 0o755);
      await chmod(join(dir, "d", "f"), 0o664);
      await chmod(join(dir, "d", "x"), 0o775);
      const result = await build({
        store: base.store,
        storeRoot: base.root,
        contextDir: dir,
        noCache: true,
        dockerfile: [
          "FROM test/base:1",
          "COPY --chmod=go-w d /a",
          "COPY --chmod=u=rw,g=r,o=r d /b",
          "COPY --chmod=a+X d /c",
          "COPY --chmod=+x d/f /e",
        ].join("\n") + "\n",
      });
      const tree = await treeOf(base.store, result.imageId);
      const modes = Object.fromEntries(
        ["a", "a/f", "a/x", "b", "b/f", "b/x", "c", "c/f", "c/x", "e"].map((
          p,
        ) => [p, tree[p]?.mode]),
      );
      assert.deepEqual(modes, {
        a: "755",
        "a/f": "644",
        "a/x": "755",
        // The destination directory is made by fsutil's MkdirAll before the copy (0755 for a
        // symbolic mode, which has no octal Mode), so it is not re-chmodded as content.
        b: "755",
        "b/f": "644",
        "b/x": "644",
        c: "755",
        "c/f": "664",
        "c/x": "775",
        e: "775",
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("refuses a value that is neither octal nor symbolic, in BuildKit's words", async () => {
    await assert.rejects(
      run("FROM test/base:1\nCOPY --chmod=999 testfile /t\n"),
      /invalid chmod parameter: '999'\. it should be octal string and between 0 and 07777/,
    );
  });
});

describe("wildcards that match nothing (BuildKit's empty-wildcard rule)", () => {
  test("are skipped while the other sources are copied", async () => {
    const result = await run("FROM test/base:1\nCOPY testfile nomatch* missing?/* /e/\n");
    const tree = await treeOf(base.store, result.imageId, "e");
    assert.deepEqual(Object.keys(tree).sort(), ["e", "e/testfile"]);
  });

  test("alone copy nothing and create no destination", async () => {
    const result = await run(
      "FROM test/base:1 AS s\nFROM test/base:1\nCOPY nomatch* /d/\n" +
        "COPY --from=s /nomatch* /f/\n",
    );
    const tree = await treeOf(base.store, result.imageId);
    assert.equal(tree.d, undefined);
    assert.equal(tree.f, undefined);
  });

  test("do not excuse a plain source that is missing", async () => {
    await assert.rejects(
      run("FROM test/base:1\nCOPY testfile nosuchfile /e/\n"),
      /not found in build context or excluded by \.dockerignore: "nosuchfile"/,
    );
  });
});

describe("ARG names", () => {
  // Current BuildKit expands an ARG's value only (dispatch skips ARG's Expand since
  // 2024-04); Docker 20.10 expanded the name as well and would declare `file3` here.
  test("are taken as written, not expanded", async () => {
    const result = await run("FROM test/base:1\nENV src=file3\nARG ${src}=x\nLABEL l=$file3\n");
    assert.equal(result.config.config?.Labels?.l, "");
    assert.equal(result.config.history?.at(-2)?.created_by, "ARG ${src}=x");
  });
});

describe("--target", () => {
  test("suggests the stage name closest to a mistyped one, as BuildKit does", async () => {
    await assert.rejects(
      run("FROM test/base:1 AS builder\nFROM test/base:1 AS final\n", { target: "buidler" }),
      /target stage "buidler" could not be found \(did you mean builder\?\)/,
    );
  });
});

describe("text after a JSON array (shell form since dockerfile/1.9.0)", () => {
  test('COPY ["a", "b"] c/ takes the words as shell words; the malformed pattern matches nothing', async () => {
    const dir = await contextDir([{ path: "b]", body: "bee" }]);
    try {
      const result = await build({
        store: base.store,
        storeRoot: base.root,
        contextDir: dir,
        noCache: true,
        dockerfile: 'FROM test/base:1\nCOPY ["a", "b"] /c/\n',
      });
      // Shell-form words lose their quotes: `[a,` (an unterminated class, which fsutil's
      // filepath.Match rejects, so the empty-wildcard rule skips it) and the file `b]`.
      const tree = await treeOf(base.store, result.imageId, "c");
      assert.equal(tree["c/b]"]?.content, "bee");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
