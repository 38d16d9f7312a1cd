import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryBlobStore } from "../storage/mod.ts";
import { createLayer, storeLayer } from "./create_layer.ts";
import { dir, file } from "./_test_util.ts";
import type { WriteEntry } from "./_tar_writer.ts";

const entries = () => [dir("etc/"), file("etc/motd", "hello\n"), file("etc/issue", "stratum\n")];

async function stored(blobs: MemoryBlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const d of blobs.list()) out.push(d);
  return out;
}

for (const compression of ["gzip", "none"] as const) {
  test(`storeLayer stores the blob createLayer makes and names it alike (${compression})`, async () => {
    const blobs = new MemoryBlobStore();
    const layer = await storeLayer(blobs, entries(), { compression });
    const made = createLayer(entries(), { compression });
    await new Response(made.stream).arrayBuffer();
    const d = await made.digests;
    assert.deepEqual(layer, {
      descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size },
      diffId: d.diffId,
      uncompressedSize: d.uncompressedSize,
    });
    assert.deepEqual(await stored(blobs), [d.digest]);
    assert.equal((await blobs.stat(d.digest))?.size, d.size);
  });
}

test("storeLayer of entries that fail midway rejects and stores nothing", async () => {
  const blobs = new MemoryBlobStore();
  async function* failing(): AsyncGenerator<WriteEntry> {
    yield dir("etc/");
    throw new Error("the source went away");
  }
  await assert.rejects(storeLayer(blobs, failing()), /the source went away/);
  assert.deepEqual(await stored(blobs), []);
});
