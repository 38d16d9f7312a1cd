// The on-disk store under several processes and under kill -9.
import assert from "node:assert/strict";
import { spawnTestScript } from "./_child.ts";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadArchive, openStore } from "../storage/mod.ts";
import { dockerArchive, layerTar, streamOf } from "./_fixtures.ts";

/** Runs the child script with this runtime (deno run, or node on the npm build). */
function child(...args: string[]) {
  return spawnTestScript(import.meta.url, "_store_child", args, {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

function exited(p: ReturnType<typeof child>): Promise<number | null> {
  return new Promise((resolve) => p.on("exit", (code) => resolve(code)));
}

async function storeWithOneImage(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-proc-"));
  const store = await openStore(dir);
  await loadArchive(
    store,
    streamOf((await dockerArchive([await layerTar([{ name: "f", body: "x" }])])).tar),
  );
  return dir;
}

test("two processes tagging at once lose none of each other's tags", async () => {
  const dir = await storeWithOneImage();
  try {
    const codes = await Promise.all([
      exited(child("tags", dir, "a", "25")),
      exited(child("tags", dir, "b", "25")),
    ]);
    assert.deepEqual(codes, [0, 0]);
    const names = (await (await openStore(dir)).tags.list()).map((r) => r.name);
    assert.equal(names.length, 51);
    for (const p of ["a", "b"]) {
      for (let i = 0; i < 25; i++) {
        assert.ok(names.includes(`docker.io/${p}/app:${i}`), `${p}:${i}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a process killed mid-write leaves no blob and a store that fsck passes", async () => {
  const dir = await storeWithOneImage();
  try {
    const before = (await readdir(join(dir, "blobs", "sha256"))).sort();
    const p = child("slowblob", dir);
    await new Promise<void>((resolve) => p.stdout!.once("data", () => resolve()));
    await new Promise((r) => setTimeout(r, 200));
    p.kill("SIGKILL");
    await exited(p);
    assert.deepEqual((await readdir(join(dir, "blobs", "sha256"))).sort(), before);
    const store = await openStore(dir);
    assert.deepEqual((await store.fsck()).problems, []);
    assert.equal((await store.images()).length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
