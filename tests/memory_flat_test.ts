/**
 * MEMORY TEST (slow: about 40 s, three gigabytes through the disk). The commands that
 * stream a blob keep their peak resident memory (VmHWM) under 150 MB whatever the layer
 * size: `load`, `save`, `export`, `push` and `pull` of an image with a 1 GiB layer, each in
 * a process of its own (tests/_rss_child.ts reports the kernel's high-water mark just
 * before it exits). `serve` is held to the same bound by tests/server_memory_test.ts.
 *
 * The archive is made on the fly and piped into `load`; `save` and `export` write to a pipe
 * that this test drains, so they touch no disk. `push` and `pull` go through the CNCF
 * docker-registry. Linux only (/proc). Set STRATUM_SKIP_MEMORY_TEST=1 to leave it out of a
 * quick run.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { test } from "node:test";
import { spawnTestScript } from "./_child.ts";
import { bigDockerArchive } from "./_big_image.ts";
import { startRegistry } from "./_cncf_registry.ts";
import { memoryBoundUnsupported, missingPeers } from "./_peers.ts";

const LIMIT_MB = 150;
const LAYER_BYTES = 1 << 30;

/** Runs the CLI with `args`; feeds `stdin`; returns its peak RSS in MB and stdout's size. */
async function peakRss(
  args: string[],
  stdin?: ReadableStream<Uint8Array>,
): Promise<{ mb: number; stdoutBytes: number }> {
  const child: ChildProcess = spawnTestScript(import.meta.url, "_rss_child", args, {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => err += d);
  let stdoutBytes = 0;
  const drained = pipeline(
    child.stdout!,
    new Writable({
      write(chunk, _enc, done) {
        stdoutBytes += chunk.length;
        done();
      },
    }),
  );
  const fed = stdin
    ? pipeline(Readable.fromWeb(stdin as never), child.stdin!)
    : Promise.resolve(child.stdin!.end());
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  await Promise.all([drained, fed]);
  assert.equal(code, 0, `stratum ${args.join(" ")} failed: ${err}`);
  const kb = Number(/VmHWM (\d+)\s*$/.exec(err)?.[1]);
  assert.ok(kb > 0, `no VmHWM line from the child: ${err}`);
  return { mb: kb / 1024, stdoutBytes };
}

const skip = process.platform !== "linux" || !existsSync("/proc/self/status")
  ? "needs Linux /proc"
  : process.env.STRATUM_SKIP_MEMORY_TEST === "1"
  ? "STRATUM_SKIP_MEMORY_TEST=1"
  : memoryBoundUnsupported();

test(
  "load, save, export, push and pull of a 1 GiB layer each stay under 150 MB of RSS",
  { skip },
  async (t) => {
    const root = await mkdtemp(join(tmpdir(), "stratum-memory-"));
    try {
      const store = join(root, "store");
      const load = await peakRss(["--root", store, "load"], bigDockerArchive(LAYER_BYTES, "big:1"));
      const save = await peakRss(["--root", store, "save", "big:1"]);
      const exp = await peakRss(["--root", store, "export", "big:1"]);
      // All of it went through: the archive holds the layer, the export the file.
      assert.ok(save.stdoutBytes > LAYER_BYTES, `save wrote ${save.stdoutBytes} bytes`);
      assert.ok(exp.stdoutBytes > LAYER_BYTES, `export wrote ${exp.stdoutBytes} bytes`);
      const report = `load ${load.mb.toFixed(0)} MB, save ${save.mb.toFixed(0)} MB, ` +
        `export ${exp.mb.toFixed(0)} MB`;
      console.log(`peak RSS for a 1 GiB layer: ${report}`);
      await t.test("save", () => assert.ok(save.mb < LIMIT_MB, report));
      await t.test("export", () => assert.ok(exp.mb < LIMIT_MB, report));
      await t.test("load", () => assert.ok(load.mb < LIMIT_MB, report));

      // push and pull through the CNCF registry (a peer: skipped with a reason without it).
      const missing = missingPeers("docker-registry");
      if (missing) return void await t.test("push and pull", { skip: missing }, () => {});
      const reg = await startRegistry("none");
      let push: { mb: number } | undefined;
      let pull: { mb: number } | undefined;
      try {
        const remote = `${reg.host}/bench/big:1`;
        await peakRss(["--root", store, "tag", "big:1", remote]);
        push = await peakRss(["--root", store, "push", "-q", remote]);
        pull = await peakRss(["--root", join(root, "pulled"), "pull", "-q", remote]);
      } finally {
        await reg.close();
      }
      const more = `push ${push.mb.toFixed(0)} MB, pull ${pull.mb.toFixed(0)} MB`;
      console.log(`peak RSS for a 1 GiB layer: ${more}`);
      await t.test("push", () => assert.ok(push!.mb < LIMIT_MB, more));
      await t.test("pull", () => assert.ok(pull!.mb < LIMIT_MB, more));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
);
