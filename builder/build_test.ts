import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { loadArchive, memoryStore } from "../storage/mod.ts";
import { build, type BuildOptions } from "./build.ts";
import { BuildCache } from "./build_cache.ts";
import { DockerfileSyntaxError } from "./errors.ts";
import { parseOutputSpec } from "./build_output.ts";
import { type BuildEvent, createProgress } from "./build_progress.ts";
import { contextDir, storeWithBase, treeOf } from "./_build_test_util.ts";

const DOCKERFILE = `FROM test/base:1
ARG MODE=dev
ENV A=1
COPY a.txt /a.txt
COPY b.txt /b.txt
LABEL mode=$MODE
COPY c.txt /c.txt
CMD ["cat", "/a.txt"]
`;

let base: Awaited<ReturnType<typeof storeWithBase>>;
let ctx: string;

before(async () => {
  base = await storeWithBase();
  ctx = await contextDir([
    { path: "a.txt", body: "a" },
    { path: "b.txt", body: "b" },
    { path: "c.txt", body: "c" },
  ]);
});

after(async () => {
  await base.cleanup();
  await rm(ctx, { recursive: true, force: true });
});

function run(extra: Partial<BuildOptions> = {}) {
  return build({
    store: base.store,
    storeRoot: base.root,
    contextDir: ctx,
    dockerfile: DOCKERFILE,
    ...extra,
  });
}

test("a store on disk carries its own root; a store in memory needs storeRoot", async () => {
  const result = await build({ store: base.store, contextDir: ctx, dockerfile: DOCKERFILE });
  assert.equal(base.store.root, base.root);
  assert.ok(result.steps.length > 0);
  await assert.rejects(
    build({ store: memoryStore(), contextDir: ctx, dockerfile: DOCKERFILE }),
    /build\(\) needs storeRoot when the store is in memory/,
  );
});

describe("the build cache", () => {
  test("a second build with no change runs no step and gives the same image", async () => {
    const first = await run({ noCache: true });
    assert.ok(first.steps.every((s) => !s.cached && s.missReason === "--no-cache"));
    const second = await run();
    assert.deepEqual(second.steps.filter((s) => !s.cached), []);
    assert.equal(second.imageId, first.imageId);
  });

  test("changing one context file reruns exactly the steps from the first one using it", async () => {
    await run();
    await writeFile(join(ctx, "b.txt"), "b changed");
    const result = await run();
    const ran = result.steps.filter((s) => !s.cached).map((s) => s.instruction);
    assert.deepEqual(ran, [
      "COPY b.txt /b.txt",
      "LABEL mode=$MODE",
      "COPY c.txt /c.txt",
      'CMD ["cat", "/a.txt"]',
    ]);
    const miss = result.steps.find((s) => s.instruction === "COPY b.txt /b.txt")!;
    assert.equal(miss.missReason, "context file b.txt changed");
    const later = result.steps.find((s) => s.instruction === "COPY c.txt /c.txt")!;
    assert.match(later.missReason!, /^an earlier step changed: COPY b\.txt \/b\.txt/);
    const tree = await treeOf(base.store, result.imageId, "b.txt");
    assert.equal(tree["b.txt"].content, "b changed");
  });

  test("--no-cache runs every step even when the cache holds them all", async () => {
    const warm = await run();
    assert.ok(warm.steps.every((s) => s.cached));
    const fresh = await run({ noCache: true });
    assert.deepEqual(
      fresh.steps.filter((s) => !s.cached).map((s) => s.instruction),
      warm.steps.map((s) => s.instruction),
    );
    assert.ok(fresh.steps.every((s) => s.missReason === "--no-cache"));
    const after = await run();
    assert.ok(after.steps.every((s) => s.cached), "the cache still answers after --no-cache");
  });

  test("a changed build arg reruns the steps whose expansion uses it and says which", async () => {
    await run();
    const result = await run({ buildArgs: { MODE: "prod" } });
    const ran = result.steps.filter((s) => !s.cached).map((s) => s.instruction);
    assert.deepEqual(ran, ["LABEL mode=$MODE", "COPY c.txt /c.txt", 'CMD ["cat", "/a.txt"]']);
    assert.equal(result.config.config?.Labels?.mode, "prod");
    assert.match(result.steps[4].missReason!, /instruction changed \(was: LABEL mode=dev\)/);
  });

  test("a dry run reports keys and hits without writing anything", async () => {
    const real = await run();
    await writeFile(join(ctx, "c.txt"), "c dry");
    const before = (await base.store.tags.list()).length;
    const dry = await run({ dryRun: true, tags: ["dry/run:1"] });
    assert.equal(dry.imageId, "");
    assert.equal((await base.store.tags.list()).length, before);
    assert.deepEqual(
      dry.steps.map((s) => s.cacheKey).slice(0, 5),
      real.steps.map((s) => s.cacheKey).slice(0, 5),
    );
    assert.deepEqual(dry.steps.filter((s) => !s.cached).map((s) => s.instruction), [
      "COPY c.txt /c.txt",
      'CMD ["cat", "/a.txt"]',
    ]);
  });

  test("the cache survives a new process: records live in the store root", async () => {
    const result = await run();
    const cache = new BuildCache(base.root);
    const record = await cache.get(result.steps[3].cacheKey);
    assert.ok(record);
    const roots = await cache.roots();
    const img = await base.store.resolve(result.imageId);
    for (const layer of img.manifest.layers.slice(1)) {
      assert.ok(roots.some((r) => r.digest === layer.digest), `cache keeps ${layer.digest}`);
    }
  });

  test("a warm rebuild does not re-read unchanged context files", async () => {
    const many = await contextDir(
      Array.from({ length: 200 }, (_, i) => ({ path: `files/f${i}.txt`, body: `file ${i}` })),
    );
    try {
      const opts = { contextDir: many, dockerfile: "FROM test/base:1\nCOPY files /files\n" };
      const events: string[] = [];
      await run(opts);
      await writeFile(join(many, "files/f7.txt"), "changed");
      const second = await run({
        ...opts,
        progress: (e) => e.type === "start" && events.push(e.name),
      });
      assert.equal(second.steps[0].cached, false);
      assert.equal(second.steps[0].missReason, "context file files/f7.txt changed");
      const meta = await readdir(join(base.root, "build-cache", "context-meta"));
      assert.ok(meta.length > 0);
    } finally {
      await rm(many, { recursive: true, force: true });
    }
  });
});

describe("stages", () => {
  const MULTI = `FROM test/base:1 AS one
COPY a.txt /one.txt
FROM test/base:1 AS two
COPY b.txt /two.txt
FROM test/base:1 AS unused
COPY missing-file /x
FROM one AS final
COPY --from=two /two.txt /from-two.txt
`;

  test("--target builds only what the target needs; unused stages are skipped", async () => {
    const result = await run({ dockerfile: MULTI });
    assert.deepEqual(result.stages.map((s) => s.label), ["one", "two", "final"]);
    const tree = await treeOf(base.store, result.imageId);
    assert.equal(tree["one.txt"].content, "a");
    assert.equal(tree["from-two.txt"].content, "b changed");
    assert.equal(tree["two.txt"], undefined);
    const two = await run({ dockerfile: MULTI, target: "two" });
    assert.deepEqual(two.stages.map((s) => s.label), ["two"]);
    await assert.rejects(
      run({ dockerfile: MULTI, target: "nope" }),
      /target stage "nope" could not be found/,
    );
  });

  test("ONBUILD triggers of the base run first in the child", async () => {
    const parent = await run({
      dockerfile: "FROM test/base:1\nONBUILD COPY a.txt /onb/\nONBUILD ENV Z=${Z:-d}\n",
      tags: ["test/onbuild:1"],
    });
    assert.deepEqual(parent.config.config?.OnBuild, ["COPY a.txt /onb/", "ENV Z=${Z:-d}"]);
    const child = await run({ dockerfile: "FROM test/onbuild:1\nLABEL after=1\n" });
    assert.equal(child.config.config?.OnBuild, undefined);
    assert.deepEqual(child.config.config?.Env?.at(-1), "Z=d");
    assert.deepEqual(child.config.history?.slice(-3).map((h) => h.created_by), [
      "COPY a.txt /onb/ # buildkit",
      "ENV Z=d",
      "LABEL after=1",
    ]);
    const tree = await treeOf(base.store, child.imageId, "onb");
    assert.equal(tree["onb/a.txt"].content, "a");
  });

  test("an unknown ONBUILD trigger builds in the parent and fails the child at its FROM", async () => {
    // Current BuildKit: parseOnBuild accepts any trigger keyword but ONBUILD, FROM and
    // MAINTAINER; dockerfile2llb's initOnBuildTriggers parses the trigger in the child,
    // with its location reset to the child stage's FROM. Docker 20.10's legacy builder
    // agrees on where it fails ("unknown instruction: FOO" while executing the trigger).
    const parent = await run({
      dockerfile: "FROM test/base:1\nONBUILD FOO bar\n",
      tags: ["test/onbuild-unknown:1"],
    });
    assert.deepEqual(parent.config.config?.OnBuild, ["FOO bar"]);
    await assert.rejects(
      run({ dockerfile: "# child\nFROM test/onbuild-unknown:1\nLABEL after=1\n" }),
      (error: unknown) => {
        assert.ok(error instanceof DockerfileSyntaxError);
        assert.equal(
          error.message,
          "dockerfile parse error on line 2: unknown instruction: FOO (did you mean FROM?)",
        );
        assert.equal(error.line, 2);
        return true;
      },
    );
  });

  test("WORKDIR makes the directory, owned by USER, and / is metadata only", async () => {
    const result = await run({
      dockerfile: "FROM test/base:1\nUSER app\nWORKDIR /work/dir\nWORKDIR /\n",
    });
    const tree = await treeOf(base.store, result.imageId, "work");
    assert.deepEqual(tree["work/dir"], { type: "directory", mode: "755", owner: "1000:1000" });
    const history = result.config.history!.slice(-2);
    assert.equal(history[0].created_by, "WORKDIR /work/dir");
    assert.equal(history[0].empty_layer, undefined);
    assert.equal(history[1].empty_layer, true);
  });

  test("SOURCE_DATE_EPOCH makes builds reproducible and clamps only new times", async () => {
    const a = await run({ sourceDateEpoch: 1_700_000_000, noCache: true });
    const b = await run({ sourceDateEpoch: 1_700_000_000, noCache: true });
    assert.equal(a.imageId, b.imageId);
    assert.equal(a.config.created, "2023-11-14T22:13:20.000Z");
    assert.equal(a.config.history?.[0].created, "2024-01-01T00:00:00Z", "base history is kept");
    assert.ok(a.config.history!.slice(1).every((h) => h.created === "2023-11-14T22:13:20.000Z"));
  });

  test("a base image not in the store needs a pull callback, which is then used", async () => {
    await assert.rejects(
      run({ dockerfile: "FROM nothere/img:1\n" }),
      /Cannot build from "nothere\/img:1": the image is not in the store and no registry client/,
    );
    const pulled: string[] = [];
    const result = await run({
      dockerfile: "FROM nothere/img:2\nLABEL x=1\n",
      pull: async (ref) => {
        pulled.push(ref);
        await base.store.tag("test/base:1", ref);
      },
    });
    assert.deepEqual(pulled, ["nothere/img:2"]);
    assert.equal(result.config.config?.Labels?.x, "1");
  });

  test("a malformed Dockerfile is refused with the line", async () => {
    await assert.rejects(
      run({ dockerfile: "FROM test/base:1\nFOO bar\n" }),
      /line 2: unknown instruction: FOO/,
    );
  });
});

describe("outputs", () => {
  test("tags, --label, iidfile, metadata file, and oci/docker/local/tar outputs", async () => {
    const out = join(tmpdir(), `stratum-build-out-${process.pid}`);
    try {
      const result = await run({
        tags: ["out/img:1", "out/img:latest"],
        labels: { "org.opencontainers.image.title": "t" },
        iidfile: join(out, "iid"),
        metadataFile: join(out, "meta.json"),
        outputs: [
          parseOutputSpec(`type=oci,dest=${join(out, "oci.tar")}`),
          parseOutputSpec(`type=docker,dest=${join(out, "docker.tar")}`),
          parseOutputSpec(`type=local,dest=${join(out, "rootfs")}`),
          parseOutputSpec(`type=tar,dest=${join(out, "rootfs.tar")}`),
        ],
      });
      assert.equal((await base.store.resolve("out/img:latest")).id, result.imageId);
      assert.equal(result.config.config?.Labels?.["org.opencontainers.image.title"], "t");
      assert.equal(await readFile(join(out, "iid"), "utf8"), result.imageId);
      const meta = JSON.parse(await readFile(join(out, "meta.json"), "utf8"));
      assert.equal(meta["containerimage.digest"], result.manifestDigest);
      assert.equal(await readFile(join(out, "rootfs", "c.txt"), "utf8"), "c dry");
      const listing = execFileSync("tar", ["-tf", join(out, "rootfs.tar")], { encoding: "utf8" });
      assert.match(listing, /^a\.txt$/m);
      for (const name of ["oci.tar", "docker.tar"]) {
        const other = memoryStore();
        const stream = Readable.toWeb(createReadStream(join(out, name))) as ReadableStream<
          Uint8Array
        >;
        const loaded = await loadArchive(other, stream);
        assert.equal(loaded[0].id, result.imageId, `${name} holds the image`);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  test("parseOutputSpec() reads docker's forms and refuses bad ones", () => {
    assert.deepEqual(parseOutputSpec("out"), { type: "local", dest: "out" });
    assert.deepEqual(parseOutputSpec("type=oci,dest=x.tar"), { type: "oci", dest: "x.tar" });
    assert.throws(() => parseOutputSpec("type=zip,dest=x"), /type "zip" is not one of/);
    assert.throws(() => parseOutputSpec("type=oci"), /dest= is required/);
  });

  test("a context given as a tar stream builds like a directory", async () => {
    const tar = execFileSync("tar", ["-cf", "-", "-C", ctx, "."]);
    const result = await build({
      store: base.store,
      storeRoot: base.root,
      contextTar: new Blob([new Uint8Array(tar)]).stream(),
      dockerfile: "FROM test/base:1\nCOPY a.txt /from-tar\n",
    });
    const tree = await treeOf(base.store, result.imageId, "from-tar");
    assert.equal(tree["from-tar"].content, "a");
  });
});

describe("progress", () => {
  test("plain progress numbers steps like BuildKit and marks CACHED", async () => {
    await run();
    let text = "";
    await run({ progress: createProgress("plain", (t) => (text += t)) });
    assert.match(text, /^#\d+ \[1\/4\] FROM docker\.io\/test\/base:1$/m);
    assert.match(text, /^#(\d+) \[2\/4\] COPY a\.txt \/a\.txt\n#\1 CACHED$/m);
    assert.match(text, /^#\d+ \[4\/4\] COPY c\.txt \/c\.txt$/m);
  });

  test("the tty view redraws in place and quiet prints nothing", () => {
    let tty = "";
    const p = createProgress("tty", (t) => (tty += t), () => 0);
    const events: BuildEvent[] = [
      { type: "start", id: 1, name: "[1/2] COPY a /a" },
      { type: "output", id: 1, stream: "stdout", data: new TextEncoder().encode("hello\n") },
      { type: "done", id: 1, durationMs: 1200 },
    ];
    for (const e of events) p(e);
    p.finish();
    assert.match(tty, /\[\+\] Building 0\.0s \(1\/1\)/);
    assert.ok(tty.includes("\x1b[2A"), "the second frame moves the cursor back up");
    assert.match(tty, /=> \[1\/2\] COPY a \/a\s+1\.2s/);
    let quiet = "";
    const q = createProgress("quiet", (t) => (quiet += t));
    for (const e of events) q(e);
    assert.equal(quiet, "");
  });
});

test("a RUN's cache key follows the content of its bind mounts' sources", async () => {
  const dir = await contextDir([
    { path: "m.txt", body: "one" },
    { path: "other.txt", body: "x" },
    { path: "d/in.txt", body: "in" },
  ]);
  try {
    const dockerfile = `FROM test/base:1 AS s
COPY m.txt /m
FROM test/base:1
RUN --mount=type=bind,source=m.txt,target=/m cat /m
RUN --mount=type=bind,source=d,target=/d cat /d/in.txt
RUN --mount=type=bind,from=s,source=/m,target=/m cat /m
`;
    const keys = async () => {
      const r = await build({
        store: base.store,
        storeRoot: base.root,
        contextDir: dir,
        dockerfile,
        dryRun: true,
      });
      return r.steps.filter((s) => s.instruction.startsWith("RUN")).map((s) => s.cacheKey);
    };
    const first = await keys();
    assert.equal(first.length, 3);
    await writeFile(join(dir, "other.txt"), "not mounted");
    assert.deepEqual(await keys(), first, "a file no mount reads changes no key");
    await writeFile(join(dir, "d", "in.txt"), "in, changed");
    const second = await keys();
    assert.equal(second[0], first[0]);
    assert.notEqual(second[1], first[1], "a file under a mounted directory");
    await writeFile(join(dir, "m.txt"), "two");
    const third = await keys();
    assert.notEqual(third[0], second[0], "the mounted file");
    assert.notEqual(third[2], second[2], "the stage the mount comes from");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
