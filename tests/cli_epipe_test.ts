// A closed standard output (`stratum ls IMAGE / | head -2`) ends a command quietly with
// status 141, as docker and coreutils end (killed by SIGPIPE): no EPIPE stack trace. The CLI
// runs in a child process over real pipes, on Deno and on Node (the npm build).
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stratum } from "./_cli.ts";
import { spawnTestScript } from "./_child.ts";
import { dockerArchive, layerTar } from "./_fixtures.ts";

let dir = "";
let root = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratum-epipe-"));
  root = join(dir, "store");
  // Many files for ls, and a 4 MB file so a saved archive is far bigger than a pipe holds.
  const files = Array.from({ length: 300 }, (_, i) => ({ name: `etc/file-${i}`, body: `${i}\n` }));
  const big = new Uint8Array(4 << 20);
  for (let o = 0; o < big.length; o += 65536) crypto.getRandomValues(big.subarray(o, o + 65536));
  const { tar } = await dockerArchive([await layerTar([...files, { name: "big", body: big }])], {
    repoTags: ["test/pipe:1"],
  });
  await writeFile(join(dir, "image.tar"), tar);
  const r = await stratum(root, "load", "-i", join(dir, "image.tar"));
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Collects a child's stderr and waits for its exit status. */
async function finished(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => stderr += d);
  const [code] = await once(child, "close");
  return { code, stderr };
}

/** Runs the CLI with the read end of its stdout closed before it writes a byte. */
async function withStdoutClosedFirst(args: string[]) {
  const child = spawnTestScript(import.meta.url, "_cli_child", ["--after-stdin", ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const result = finished(child);
  child.stdout!.destroy();
  await once(child.stdout!, "close");
  child.stdin!.end();
  return await result;
}

/** Runs the CLI, reads the first chunk of its stdout, then closes the pipe. */
async function withStdoutClosedAfterFirstChunk(args: string[]) {
  const child = spawnTestScript(import.meta.url, "_cli_child", args, {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result = finished(child);
  const [first] = await once(child.stdout!, "data");
  child.stdout!.destroy();
  return { ...(await result), first: first as Uint8Array };
}

test("stratum --help into a closed pipe exits 141 without a word", async () => {
  const r = await withStdoutClosedFirst(["--root", root, "--help"]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 141);
});

test("stratum ls into a closed pipe exits 141 without a stack trace", async () => {
  const r = await withStdoutClosedFirst(["--root", root, "ls", "test/pipe:1", "/"]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 141);
});

test("stratum save -o - stops when its reader goes after the first bytes", async () => {
  const r = await withStdoutClosedAfterFirstChunk([
    "--root",
    root,
    "save",
    "-o",
    "-",
    "test/pipe:1",
  ]);
  assert.ok(r.first.length > 0);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 141);
});

test("a command whose stdout stays open still exits 0 and prints everything", async () => {
  const child = spawnTestScript(import.meta.url, "_cli_child", [
    "--root",
    root,
    "ls",
    "test/pipe:1",
  ], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => stdout += d);
  const r = await finished(child);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0);
  assert.equal(stdout.trimEnd().split("\n").length, 302); // etc/, 300 files, big
});
