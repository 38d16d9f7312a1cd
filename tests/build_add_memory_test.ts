/**
 * ADD of a small archive that inflates to far more than memory: the build's peak memory
 * must not grow with what the archive unpacks to (issue 10: a 2 MB tar.gz of 2 GiB took
 * more than 4 GB, every entry read whole).
 */
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { createGzip } from "node:zlib";
import { openStore } from "../storage/mod.ts";
import { openLayer } from "../unionfs/mod.ts";
import { spawnTestScript } from "./_child.ts";
import { memoryBoundUnsupported } from "./_peers.ts";

/** What the archive's one file inflates to. */
const INFLATED = 512 * 1024 * 1024;
/** The bound: the issue asks ≤ 200 MB for an ADD that unpacks to 4 GiB. */
const MAX_RSS = 200 * 1024 * 1024;

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "stratum-addbomb-"));
  await mkdir(join(root, "ctx"));
  // A tar of one file of zeros, gzipped as it is written: ~0.5 MB on disk.
  const gzip = createGzip({ level: 9 });
  const done = once(gzip.pipe(createWriteStream(join(root, "ctx", "bomb.tar.gz"))), "finish");
  const header = new Uint8Array(512);
  const put = (at: number, text: string) => header.set(new TextEncoder().encode(text), at);
  put(0, "bomb.bin");
  put(100, "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, `${INFLATED.toString(8).padStart(11, "0")}\0`);
  put(136, "00000000000\0");
  put(156, "0");
  put(257, "ustar\x0000");
  header.fill(0x20, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  put(148, `${sum.toString(8).padStart(6, "0")}\0 `);
  gzip.write(header);
  const zeros = new Uint8Array(1 << 20);
  for (let i = 0; i < INFLATED / zeros.length; i++) {
    if (!gzip.write(zeros)) await once(gzip, "drain");
  }
  gzip.end(new Uint8Array(1024));
  await done;
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Builds `dockerfile` in a child process; its image and peak memory. */
async function buildInChild(
  storeRoot: string,
  dockerfile?: string,
): Promise<{ imageId: string; peakRss: number }> {
  const args = [storeRoot, join(root, "ctx"), ...(dockerfile ? [dockerfile] : [])];
  const child = spawnTestScript(import.meta.url, "_add_bomb_child", args, {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const [code] = await once(child, "exit");
  assert.equal(code, 0, "the build succeeds");
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

/** The size of each file in the image's layer `index`. */
async function layerSizes(storeRoot: string, imageId: string, index = 0) {
  const store = await openStore(storeRoot);
  const layer = (await store.resolve(imageId)).manifest.layers[index];
  const sizes: Record<string, number> = {};
  for await (
    const { header, body } of openLayer({
      digest: layer.digest,
      open: () => store.blobs.get(layer.digest),
    })
  ) {
    let n = 0;
    for await (const chunk of body) n += chunk.length;
    sizes[header.name] = n;
  }
  return sizes;
}

test("ADD of an archive that inflates to 512 MiB keeps the build under 200 MB", {
  skip: memoryBoundUnsupported(),
}, async () => {
  const compressed = (await stat(join(root, "ctx", "bomb.tar.gz"))).size;
  assert.ok(compressed < 4 << 20, `the archive is small (${compressed} bytes)`);
  const storeRoot = join(root, "store");
  const { imageId, peakRss } = await buildInChild(storeRoot);
  // The file is all there, at its full size, in the image's one layer.
  assert.equal((await layerSizes(storeRoot, imageId))["x/bomb.bin"], INFLATED);
  console.log(`peak resident memory of the build: ${peakRss >> 20} MiB`);
  assert.ok(
    peakRss <= MAX_RSS,
    `peak memory ${peakRss >> 20} MiB for ${INFLATED >> 20} MiB unpacked`,
  );
});

test("COPY --from of a stage's 512 MiB file of zeros reads its small layer in bounded memory", {
  skip: memoryBoundUnsupported(),
}, async () => {
  // The stage's layer is a gzip blob that inflates ~1000:1; reading it back for COPY --from
  // must not inflate a whole read chunk at once (unionfs's decompress, pulled).
  const storeRoot = join(root, "store-from");
  const { imageId, peakRss } = await buildInChild(
    storeRoot,
    "FROM scratch AS a\nADD bomb.tar.gz /x/\nFROM scratch\nCOPY --from=a /x/bomb.bin /y\n",
  );
  assert.equal((await layerSizes(storeRoot, imageId))["y"], INFLATED);
  console.log(`peak resident memory of the build: ${peakRss >> 20} MiB`);
  assert.ok(peakRss <= MAX_RSS, `peak memory ${peakRss >> 20} MiB`);
});
