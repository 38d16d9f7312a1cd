// `stratum build -f`: the Dockerfile path is relative to the current directory, as with
// `docker build`, and `<Dockerfile>.dockerignore` beside it is used for any form of -f.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { stratum } from "./_cli.ts";

async function files(root: string, list: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(list)) {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

/** The paths of an image's tree, as `stratum ls` prints them. */
async function pathsOf(root: string, image: string): Promise<string[]> {
  const r = await stratum(root, "ls", image);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean).map((l) => l.slice(l.indexOf(" /") + 2)).sort();
}

test("build -f reads the Dockerfile relative to the current directory, with its .dockerignore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-build-file-"));
  const root = join(dir, "store");
  try {
    const ctx = join(dir, "ctx");
    await files(ctx, { ".dockerignore": "a\n", a: "a", b: "b", c: "c", Dockerfile: "x" });
    await files(dir, {
      "df/my.Dockerfile": "FROM scratch\nCOPY . /\n",
      "df/my.Dockerfile.dockerignore": "b\nDockerfile\n",
    });
    const dockerfile = join(dir, "df", "my.Dockerfile");
    for (
      const [form, path] of [["relative", relative(process.cwd(), dockerfile)], [
        "absolute",
        dockerfile,
      ]]
    ) {
      const tag = `file/${form}:1`;
      const r = await stratum(root, "build", "-q", "-f", path, "-t", tag, ctx);
      assert.equal(r.code, 0, `${form}: ${r.stderr}`);
      // my.Dockerfile.dockerignore applies (b and Dockerfile out), not ctx/.dockerignore.
      assert.deepEqual(await pathsOf(root, tag), [".dockerignore", "a", "c"], form);
    }
    // A path relative to the context, not to the current directory, is not found there.
    await files(ctx, { "only-in-context.Dockerfile": "FROM scratch\n" });
    const wrong = await stratum(root, "build", "-q", "-f", "only-in-context.Dockerfile", ctx);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Cannot read the Dockerfile .*only-in-context\.Dockerfile/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
