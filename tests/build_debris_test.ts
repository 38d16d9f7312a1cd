// A build killed (kill -9) during RUN leaves its overlay mount and a running runc container;
// the next build and `stratum gc` find them by the dead owner's pid and remove them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { spawnTestScript } from "./_child.ts";
import { stratum } from "./_cli.ts";
import { missingPeers } from "./_peers.ts";

async function mountsUnder(root: string): Promise<string[]> {
  return (await readFile("/proc/self/mountinfo", "utf8")).split("\n")
    .map((l) => l.split(" ")[4]).filter((p) => p?.startsWith(`${root}/`));
}

/** Pids of runtime processes working with a state root under `root`. */
async function runtimesUnder(root: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (/(^|\/)(runc|crun)$/.test(argv[0]) && argv.some((a) => a.startsWith(`${root}/`))) {
      out.push(Number(pid));
    }
  }
  return out;
}

/** Starts a build of `ctx` as its own process and kills it (-9) once its RUN container runs. */
async function killedDuringRun(root: string, ctx: string): Promise<void> {
  const p = spawnTestScript(import.meta.url, "_cli_child", ["--root", root, "build", "-q", ctx], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  p.stderr!.on("data", (d) => stderr += d);
  const exited = new Promise((r) => p.on("exit", r));
  while ((await runtimesUnder(root)).length === 0) {
    assert.equal(p.exitCode, null, `the build ended before its RUN started: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  p.kill("SIGKILL");
  await exited;
}

const notRoot = process.getuid?.() !== 0 ? "RUN needs root" : false;

test(
  "a build killed during RUN leaves a mount and a container that the next build and gc remove",
  { skip: notRoot || missingPeers("runc", "busybox") },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratum-killed-run-"));
    const root = join(dir, "store");
    try {
      const base = join(dir, "base");
      await mkdir(base);
      await copyFile("/bin/busybox", join(base, "busybox"));
      await writeFile(
        join(base, "Dockerfile"),
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
      );
      assert.equal((await stratum(root, "build", "-q", "-t", "t/bb:1", base)).code, 0);
      const ctx = join(dir, "ctx");
      await mkdir(ctx);
      await writeFile(join(ctx, "Dockerfile"), "FROM t/bb:1\nRUN sleep 300\n");

      for (const cleaner of ["build", "gc"]) {
        await killedDuringRun(root, ctx);
        assert.ok((await mountsUnder(root)).length > 0, "the killed build left its mount");
        assert.ok((await runtimesUnder(root)).length > 0, "and its container");
        if (cleaner === "build") {
          await writeFile(join(ctx, "Dockerfile.quick"), "FROM t/bb:1\nRUN true\n");
          const r = await stratum(root, "build", "-q", "-f", join(ctx, "Dockerfile.quick"), ctx);
          assert.equal(r.code, 0, r.stderr);
        } else {
          const r = await stratum(root, "gc");
          assert.equal(r.code, 0, r.stderr);
        }
        assert.deepEqual(await mountsUnder(root), [], `after ${cleaner}: no mount is left`);
        // A runtime process that was killed may take a moment to be gone from /proc.
        for (let i = 0; i < 100 && (await runtimesUnder(root)).length > 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(await runtimesUnder(root), [], `after ${cleaner}: no container runs`);
        assert.deepEqual(await readdir(join(root, "build-cache", "tmp")), []);
      }
    } finally {
      for (const p of (await mountsUnder(root)).reverse()) execFileSync("umount", ["-l", p]);
      await rm(dir, { recursive: true, force: true });
    }
  },
);
