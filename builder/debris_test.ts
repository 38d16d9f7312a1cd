import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { buildTempRoot, ownedTempDir, sweepDebris } from "./debris.ts";

async function deadPid(): Promise<number> {
  const child = spawn("sleep", ["0"]);
  await new Promise((r) => child.on("exit", r));
  return child.pid!;
}

async function mounted(under: string): Promise<string[]> {
  return (await readFile("/proc/self/mountinfo", "utf8")).split("\n")
    .map((l) => l.split(" ")[4]).filter((p) => p?.startsWith(under));
}

test("ownedTempDir() names its owner, and sweepDebris() leaves a live owner's directory", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-debris-"));
  try {
    const dir = await ownedTempDir(buildTempRoot(root), "build-");
    assert.match(basename(dir), new RegExp(`^build-${process.pid}(\\.\\d+)?-`));
    await writeFile(join(dir, "work"), "in progress");
    const r = await sweepDebris(root);
    assert.equal(r.builds, 0);
    assert.equal(await readFile(join(dir, "work"), "utf8"), "in progress");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("sweepDebris() removes a dead build's directory and one without an owner once old", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-debris-"));
  try {
    const parent = buildTempRoot(root);
    const dead = join(parent, `build-${await deadPid()}-AbC123`);
    await mkdir(join(dead, "run-1", "upper"), { recursive: true });
    const legacyOld = join(parent, "build-Xy1234");
    const legacyNew = join(parent, "build-Zz9876");
    await mkdir(legacyOld);
    await mkdir(legacyNew);
    const old = new Date(Date.now() - 2 * 86_400_000);
    await utimes(legacyOld, old, old);
    const r = await sweepDebris(root);
    assert.equal(r.builds, 2);
    assert.deepEqual(await readdir(parent), ["build-Zz9876"]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test(
  "sweepDebris() unmounts what a dead build left mounted before removing its directory",
  { skip: process.getuid?.() !== 0 ? "mounting needs root" : false },
  async () => {
    const root = await mkdtemp(join(tmpdir(), "stratum-debris-"));
    try {
      const dead = join(buildTempRoot(root), `build-${await deadPid()}-AbC123`);
      const point = join(dead, "run-1", "rootfs");
      await mkdir(point, { recursive: true });
      execFileSync("mount", ["-t", "tmpfs", "tmpfs", point]);
      await writeFile(join(point, "f"), "inside the mount");
      assert.equal((await mounted(root)).length, 1);
      const r = await sweepDebris(root);
      assert.equal(r.mounts, 1);
      assert.equal(r.builds, 1);
      assert.deepEqual(await mounted(root), []);
      assert.deepEqual(await readdir(buildTempRoot(root)), []);
    } finally {
      for (const p of await mounted(root)) execFileSync("umount", ["-l", p]);
      await rm(root, { recursive: true, force: true });
    }
  },
);
