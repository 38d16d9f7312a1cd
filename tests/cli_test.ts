import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { humanDuration, humanSize } from "../cli/_format.ts";
import { stratum } from "./_cli.ts";
import { dockerArchive, layerTar } from "./_fixtures.ts";

async function withStore(fn: (root: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-"));
  try {
    await fn(join(dir, "store"), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loaded(root: string, dir: string, tags = ["test/app:1"]): Promise<string> {
  const { tar, id } = await dockerArchive([
    await layerTar([{ name: "hello", body: "hello world\n" }]),
  ], {
    repoTags: tags,
  });
  await writeFile(join(dir, "image.tar"), tar);
  const r = await stratum(root, "load", "-i", join(dir, "image.tar"));
  assert.equal(r.code, 0, r.stderr);
  return id;
}

test("sizes and durations print the way docker prints them", () => {
  assert.equal(humanSize(0), "0B");
  assert.equal(humanSize(999), "999B");
  assert.equal(humanSize(1_240_000), "1.24MB");
  assert.equal(humanSize(72_800_000), "72.8MB");
  assert.equal(humanDuration(500), "Less than a second");
  assert.equal(humanDuration(45_000), "45 seconds");
  assert.equal(humanDuration(90_000), "About a minute");
  assert.equal(humanDuration(3 * 3600_000), "3 hours");
  assert.equal(humanDuration(10 * 86400_000), "10 days");
  assert.equal(humanDuration(800 * 86400_000), "2 years");
});

test("stratum images lists name, tag, ID and size in docker's columns", async () => {
  await withStore(async (root, dir) => {
    const id = await loaded(root, dir);
    const r = await stratum(root, "images");
    assert.equal(r.code, 0);
    const [head, row] = r.stdout.split("\n");
    assert.match(head, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.match(row, new RegExp(`^test/app\\s+1\\s+${id.slice(7, 19)}\\s+\\d+ \\w+ ago\\s+\\d`));
    const digests = await stratum(root, "images", "--digests");
    // A loaded image has no repository digest until it is pushed or pulled: docker's <none>.
    assert.match(digests.stdout.split("\n")[0], /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
    assert.match(digests.stdout.split("\n")[1], /^test\/app\s+1\s+<none>\s+/);
    const q = await stratum(root, "images", "-q");
    assert.equal(q.stdout, id.slice(7, 19));
  });
});

test("stratum rmi untags, then deletes, printing docker's lines", async () => {
  await withStore(async (root, dir) => {
    const id = await loaded(root, dir);
    assert.equal((await stratum(root, "tag", "test/app:1", "test/app:2")).code, 0);
    assert.deepEqual(await stratum(root, "rmi", "test/app:1"), {
      code: 0,
      stdout: "Untagged: test/app:1",
      stderr: "",
    });
    const last = await stratum(root, "rmi", "test/app:2");
    assert.equal(last.stdout, `Untagged: test/app:2\nDeleted: ${id}`);
    assert.equal((await stratum(root, "images", "-q")).stdout, "");
    const gone = await stratum(root, "rmi", "test/app:2");
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such image: test\/app:2/);
  });
});

test("stratum inspect and history show the config", async () => {
  await withStore(async (root, dir) => {
    const id = await loaded(root, dir);
    const [info] = JSON.parse((await stratum(root, "inspect", "test/app:1")).stdout);
    assert.equal(info.Id, id);
    assert.deepEqual(info.RepoTags, ["test/app:1"]);
    assert.deepEqual(info.Config.Cmd, ["sh"]);
    assert.equal(info.Os, "linux");
    assert.equal(info.RootFS.Type, "layers");
    const h = await stratum(root, "history", "test/app:1");
    assert.match(
      h.stdout.split("\n")[1],
      new RegExp(`^${id.slice(7, 19)}\\s+\\d+ \\w+ ago\\s+step 0`),
    );
  });
});

test("errors are one line on stderr with a non-zero exit", async () => {
  await withStore(async (root, dir) => {
    const unknown = await stratum(root, "frobnicate");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const badFlag = await stratum(root, "images", "--bogus");
    assert.equal(badFlag.code, 2);
    assert.equal(
      badFlag.stderr,
      "stratum images: unknown flag: --bogus\nUsage: stratum images [OPTIONS] [REPOSITORY[:TAG]]",
    );
    await writeFile(join(dir, "junk.tar"), "this is not an archive");
    const bad = await stratum(root, "load", "-i", join(dir, "junk.tar"));
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.split("\n").length, 1);
    assert.match(bad.stderr, /junk\.tar/);
    const badRef = await stratum(root, "tag", "nosuch", "UPPER:case");
    assert.equal(badRef.code, 1);
  });
});

test("every command answers --help", async () => {
  await withStore(async (root) => {
    const top = await stratum(root, "--help");
    assert.equal(top.code, 0);
    const listed = [...top.stdout.matchAll(/^ {2}([a-z]+) {2}/gm)].map((m) => m[1]);
    for (
      const name of [
        ...[
          "images",
          "tag",
          "rmi",
          "inspect",
          "history",
          "save",
          "load",
          "gc",
          "fsck",
          "parse",
          "fmt",
        ],
        ...["pull", "push", "copy", "login", "logout", "tags", "manifest", "serve"],
        ...["export", "layers", "ls", "diff"],
      ]
    ) assert.ok(listed.includes(name), `${name} is listed`);
    for (const name of listed) {
      const r = await stratum(root, name, "--help");
      assert.equal(r.code, 0, name);
      assert.match(r.stdout, new RegExp(`^Usage: stratum ${name}`));
    }
  });
});

test("gc and fsck report on the store", async () => {
  await withStore(async (root, dir) => {
    await loaded(root, dir);
    const f = await stratum(root, "fsck");
    assert.equal(f.code, 0);
    assert.match(f.stdout, /checked 3 blobs, 0 problems/);
    const g = await stratum(root, "gc");
    assert.equal(g.stdout, "Total reclaimed space: 0B");
  });
});

test("stratum parse --json prints BuildKit's split of each instruction; errors name the line", async () => {
  await withStore(async (root, dir) => {
    const file = join(dir, "Dockerfile");
    await writeFile(file, "# escape=`\nFROM busybox AS base\nENV A=1 `\n    B=2\nCMD echo hi\n");
    const r = await stratum(root, "parse", "-f", file, "--json");
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout);
    assert.deepEqual(parsed.directives.map((d: { name: string }) => d.name), ["escape"]);
    assert.deepEqual(parsed.instructions.map((i: { keyword: string }) => i.keyword), [
      "from",
      "env",
      "cmd",
    ]);
    assert.deepEqual(parsed.instructions[1].args, [
      { key: "A", value: "1", equals: true },
      { key: "B", value: "2", equals: true },
    ]);
    assert.equal(parsed.instructions[1].endLine, 4);
    await writeFile(file, "FROM x\nFOO bar\n");
    const bad = await stratum(root, "parse", "-f", file);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /line 2: unknown instruction: FOO/);
  });
});

test("stratum fmt --check tells formatted files from others", async () => {
  await withStore(async (root, dir) => {
    const file = join(dir, "Dockerfile");
    await writeFile(file, "from busybox\nrun   echo hi\n");
    assert.equal((await stratum(root, "fmt", "--check", "-f", file)).code, 1);
    assert.equal((await stratum(root, "fmt", "--write", "-f", file)).code, 0);
    assert.equal((await stratum(root, "fmt", "--check", "-f", file)).code, 0);
  });
});
