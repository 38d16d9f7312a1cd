import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LayerSource, storeLayer, type WriteEntry } from "../unionfs/mod.ts";
import { openStore, readLayers } from "../storage/mod.ts";
import { LayerBodies } from "./_layer_bodies.ts";

const BIG = 200 * 1024;

/** A file entry whose body is `size` bytes of `fill`. */
function file(name: string, size: number, fill: number): WriteEntry {
  return {
    header: { name, type: "file", mode: 0o644, uid: 0, gid: 0, size, mtime: 0, linkname: "" },
    body: new Uint8Array(size).fill(fill),
  };
}

/** All bytes of a body as it is handed over, whether in one array or a stream. */
async function bytesOf(body: ReadableStream<Uint8Array> | Uint8Array): Promise<Uint8Array> {
  return body instanceof Uint8Array ? body : new Uint8Array(await new Response(body).arrayBuffer());
}

/** Layers of files 0..n-1 (entry i is byte i, the third one large), each open counted. */
async function fixture(root: string, spool?: string) {
  const store = await openStore(root);
  const entries = [0, 1, 2, 3, 4].map((i) => file(`f${i}`, i === 2 ? BIG : i + 1, i));
  const { descriptor, diffId } = await storeLayer(store.blobs, entries);
  const opens = [0];
  const [source] = readLayers(store.blobs, [{ descriptor, diffId }]);
  const counted: LayerSource = { ...source, open: () => (opens[0]++, source.open()) };
  return { bodies: new LayerBodies([counted], spool), opens };
}

async function check(bodies: LayerBodies, entry: number) {
  const bytes = await bytesOf(
    await bodies.read(0, entry, entry === 2 ? BIG : entry + 1, `f${entry}`),
  );
  assert.equal(bytes.length, entry === 2 ? BIG : entry + 1, `f${entry}`);
  assert.ok(bytes.every((b) => b === entry), `f${entry}'s bytes`);
}

for (const spooled of [false, true]) {
  test(`bodies asked for out of layer order are read once each, waiting ${spooled ? "in a spool file" : "in memory"}`, async () => {
    const root = await mkdtemp(join(tmpdir(), "stratum-layer-bodies-"));
    const spool = spooled ? join(root, "spool") : undefined;
    try {
      const { bodies, opens } = await fixture(join(root, "store"), spool);
      for (const e of [0, 1, 2, 3, 4]) bodies.want(0, e);
      // The copy's order (by path) need not be the layer's: 3 first parks 0..2 on the way.
      for (const e of [3, 2, 0, 4, 1]) await check(bodies, e);
      assert.equal(opens[0], 1, "the layer is read once");
      if (spool) assert.deepEqual(await readdir(spool), [], "the spool file is unlinked at once");
      await bodies.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
}

test("a body nobody said would be wanted, or asked for twice, reads its layer again", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-layer-bodies-"));
  try {
    const { bodies, opens } = await fixture(root);
    await check(bodies, 3);
    await check(bodies, 1);
    assert.equal(opens[0], 2, "1 was passed unwanted, so the layer is read from the start");
    await check(bodies, 1);
    assert.equal(opens[0], 3);
    await check(bodies, 4);
    assert.equal(opens[0], 3, "4 is ahead of the cursor");
    await assert.rejects(bodies.read(0, 9, 1, "/nine"), /Cannot read "\/nine": its layer ends/);
    await bodies.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
