import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { withLock } from "./_lock.ts";

async function scratch(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-lock-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("withLock() serializes holders in one process", async () => {
  await scratch(async (dir) => {
    const lock = join(dir, "x.lock");
    const order: string[] = [];
    await Promise.all([1, 2, 3].map((n) =>
      withLock(lock, async () => {
        order.push(`in${n}`);
        await new Promise((r) => setTimeout(r, 5));
        order.push(`out${n}`);
      })
    ));
    for (let i = 0; i < order.length; i += 2) {
      assert.equal(order[i].slice(2), order[i + 1].slice(3));
    }
  });
});

test("a lock left by a dead process is taken over", async () => {
  await scratch(async (dir) => {
    const lock = join(dir, "x.lock");
    const child = spawn("sleep", ["0"]);
    const pid = child.pid!;
    await new Promise((r) => child.on("exit", r));
    await writeFile(lock, String(pid));
    assert.equal(await withLock(lock, () => Promise.resolve("got it"), 2_000), "got it");
  });
});

test("a killed process that is not reaped yet does not hold its lock", async () => {
  await scratch(async (dir) => {
    const lock = join(dir, "x.lock");
    const child = spawn("sleep", ["30"]);
    await writeFile(lock, String(child.pid));
    child.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 100)); // dead, and a zombie until reaped
    assert.equal(await withLock(lock, () => Promise.resolve("got it"), 2_000), "got it");
  });
});

test("an old lock file whose owner never wrote its pid is taken over", async () => {
  await scratch(async (dir) => {
    const lock = join(dir, "x.lock");
    await writeFile(lock, "");
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    assert.equal(await withLock(lock, () => Promise.resolve("got it"), 2_000), "got it");
  });
});

test("a live holder's lock is waited for, then times out", async () => {
  await scratch(async (dir) => {
    const lock = join(dir, "x.lock");
    const child = spawn("sleep", ["30"]);
    try {
      await writeFile(lock, String(child.pid));
      await assert.rejects(
        withLock(lock, () => Promise.resolve(), 300),
        /Timed out waiting for the store lock/,
      );
    } finally {
      child.kill("SIGKILL");
    }
  });
});
