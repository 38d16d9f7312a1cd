// Leases against gc and rmi, on disk (shared by processes) and in memory.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import { dockerArchive, layerTar, streamOf } from "../tests/_fixtures.ts";
import { loadArchive } from "./docker_archive.ts";
import { putBytes } from "./blob_store.ts";
import type { ImageStore } from "./image_store.ts";
import { memoryStore, openStore } from "./open_store.ts";

const enc = new TextEncoder();

async function deadPid(): Promise<number> {
  const child = spawn("sleep", ["0"]);
  await new Promise((r) => child.on("exit", r));
  return child.pid!;
}

const backends: [string, (dir: string) => Promise<ImageStore>][] = [
  ["memory", () => Promise.resolve(memoryStore())],
  ["disk", (dir) => openStore(dir)],
];

for (const [label, open] of backends) {
  const withStore = async (fn: (store: ImageStore, dir: string) => Promise<void>) => {
    const dir = await mkdtemp(join(tmpdir(), "stratum-lease-"));
    try {
      await fn(await open(dir), dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  test(`${label}: gc keeps what a live lease wrote, and deletes it once the lease ends`, async () => {
    await withStore(async (store) => {
      let digest = "";
      await store.withLease(async (leased) => {
        digest = (await putBytes(leased.blobs, enc.encode("in flight"))).digest;
        assert.deepEqual((await store.gc()).removed, []);
        assert.ok(await store.blobs.has(digest));
      });
      assert.deepEqual((await store.gc()).removed, [digest]);
    });
  });

  test(`${label}: a blob a lease found already stored is kept until the lease ends`, async () => {
    await withStore(async (store) => {
      const { digest } = await putBytes(store.blobs, enc.encode("left by an earlier pull"));
      await store.withLease(async (leased) => {
        assert.ok(await leased.blobs.has(digest)); // a pull would now skip it
        await store.gc();
        assert.ok(await store.blobs.has(digest));
      });
      await store.gc();
      assert.equal(await store.blobs.has(digest), false);
    });
  });

  test(`${label}: rmi keeps the layers a lease holds for an image not yet named`, async () => {
    await withStore(async (store) => {
      const shared = await layerTar([{ name: "shared", body: "a base layer" }]);
      const own = await layerTar([{ name: "own", body: "the old image's own" }]);
      await loadArchive(
        store,
        streamOf((await dockerArchive([shared, own], { repoTags: ["old:1"] })).tar),
      );
      const layer = { digest: await sha256(shared) };
      const ownDigest = await sha256(own);
      await store.withLease(async (leased) => {
        assert.ok(await leased.blobs.has(layer.digest));
        await store.remove("old:1");
        assert.ok(await store.blobs.has(layer.digest), "the leased layer stays");
        assert.equal(await store.blobs.has(ownDigest), false, "the rest goes");
      });
    });
  });

  test(`${label}: a lease cannot add while gc sweeps, so has() never answers for a deleted blob`, async () => {
    await withStore(async (store) => {
      const { digest } = await putBytes(store.blobs, enc.encode("unnamed"));
      let entered!: () => void;
      const inside = new Promise<void>((r) => entered = r);
      let finish!: () => void;
      const gate = new Promise<void>((r) => finish = r);
      const gc = store.gc({
        roots: async () => {
          entered();
          await gate;
          return [];
        },
      });
      await inside;
      await store.withLease(async (leased) => {
        let answered = false;
        const has = leased.blobs.has(digest).then((v) => {
          answered = true;
          return v;
        });
        // Give a lease that does not wait every chance to answer now.
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(answered, false, "has() waits for the sweep");
        finish();
        await gc;
        assert.equal(await has, false);
        assert.equal(await store.blobs.has(digest), false);
      });
    });
  });
}

test("a lease of a process that died expires: gc deletes what it held and the lease", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-lease-"));
  try {
    const store = await openStore(dir);
    const { digest } = await putBytes(store.blobs, enc.encode("held by a killed pull"));
    await mkdir(join(dir, "leases"), { recursive: true });
    const dead = await deadPid();
    await writeFile(join(dir, "leases", `${dead}-x`), `${dead}\n${digest}\n`);
    assert.deepEqual((await store.gc()).removed, [digest]);
    assert.deepEqual(await readdir(join(dir, "leases")), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a lease of another live process holds its blobs against this process's gc", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-lease-"));
  const other = spawn("sleep", ["30"]);
  try {
    const store = await openStore(dir);
    const { digest } = await putBytes(store.blobs, enc.encode("held by another pull"));
    await mkdir(join(dir, "leases"), { recursive: true });
    await writeFile(join(dir, "leases", `${other.pid}-x`), `${other.pid}\n${digest}\n`);
    assert.deepEqual((await store.gc()).removed, []);
    other.kill("SIGKILL");
    await new Promise((r) => other.on("exit", r));
    assert.deepEqual((await store.gc()).removed, [digest]);
  } finally {
    other.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  }
});

test("gc and rmi called on a leased view run (they read past the lease they would wait on)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-lease-"));
  try {
    const store = await openStore(dir);
    const layer = await layerTar([{ name: "f", body: "x" }]);
    await loadArchive(store, streamOf((await dockerArchive([layer], { repoTags: ["v:1"] })).tar));
    const unnamed = await putBytes(store.blobs, enc.encode("unnamed"));
    await store.withLease(async (leased) => {
      assert.deepEqual((await leased.gc()).removed, [unnamed.digest]);
      assert.deepEqual((await leased.remove("v:1")).untagged, ["docker.io/library/v:1"]);
    });
    assert.deepEqual(await store.tags.list(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a released lease takes nothing more and leaves no file behind", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-lease-"));
  try {
    const store = await openStore(dir);
    const lease = await store.leases.create();
    await lease.add([await sha256("a")]);
    assert.equal((await readdir(join(dir, "leases"))).length, 1);
    await lease.release();
    await assert.rejects(lease.add([await sha256("b")]), /already released/);
    assert.deepEqual(await readdir(join(dir, "leases")), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
