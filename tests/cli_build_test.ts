// `stratum build` as a user types it, on the bundled examples.
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { stratum } from "./_cli.ts";

const examples = join(dirname(fileURLToPath(import.meta.url)), "..", "examples");

test("stratum build -q prints the image ID, --iidfile writes it, a rebuild is all cached", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-build-"));
  const root = join(dir, "store");
  try {
    const ctx = join(dir, "hello");
    await cp(join(examples, "hello"), ctx, { recursive: true });
    const first = await stratum(
      root,
      "build",
      "-q",
      "--iidfile",
      join(dir, "iid"),
      "-t",
      "ex/hello:1",
      ctx,
    );
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await readFile(join(dir, "iid"), "utf8"), first.stdout);
    const [info] = JSON.parse((await stratum(root, "inspect", "ex/hello:1")).stdout);
    assert.equal(info.Id, first.stdout);
    assert.equal(info.Config.WorkingDir, "/srv");
    assert.deepEqual(info.Config.Cmd, ["/srv/hello.txt"]);

    const again = await stratum(root, "build", "-q", "--explain-cache", "-t", "ex/hello:1", ctx);
    assert.equal(again.stdout, first.stdout);
    assert.ok(again.stderr.split("\n").every((l) => l.includes("CACHED")), again.stderr);

    await writeFile(join(ctx, "hello.txt"), "changed\n");
    const dry = await stratum(root, "build", "--dry-run", "-t", "ex/hello:1", ctx);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stderr,
      /COPY hello\.txt \/srv\/hello\.txt {2}would run: context file hello\.txt changed/,
    );
    assert.equal(
      JSON.parse((await stratum(root, "inspect", "ex/hello:1")).stdout)[0].Id,
      first.stdout,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a bad Dockerfile fails the build with its line, on one line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-build-"));
  try {
    await writeFile(join(dir, "Dockerfile"), "FROM scratch\nCOPY\n");
    const r = await stratum(join(dir, "store"), "build", "-q", dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 2/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
