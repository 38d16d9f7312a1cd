import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";
import { MediaType, serializeManifest } from "../image/mod.ts";
import { dockerArchive, imageConfig, layerTar, streamOf } from "../tests/_fixtures.ts";
import { sha512Layout } from "../tests/_sha512_layout.ts";
import { putBytes } from "./blob_store.ts";
import { loadArchive } from "./docker_archive.ts";
import { ConflictError, ImageNotFoundError } from "./errors.ts";
import type { ImageStore } from "./image_store.ts";
import { memoryStore, openStore } from "./open_store.ts";

async function withImage(
  store: ImageStore,
  content: string,
  tags: string[] | null = ["test/app:1"],
) {
  const shared = await layerTar([{ name: "shared", body: "same base in every image" }]);
  const own = await layerTar([{ name: "own", body: content }]);
  const { tar, id } = await dockerArchive([shared, own], { repoTags: tags });
  await loadArchive(store, streamOf(tar));
  return id;
}

async function blobCount(store: ImageStore): Promise<number> {
  let n = 0;
  for await (const _ of store.blobs.list()) n++;
  return n;
}

test("resolve() finds an image by name, full ID, short ID and name@digest", async () => {
  const store = memoryStore();
  const id = await withImage(store, "one");
  const byName = await store.resolve("test/app:1");
  assert.equal(byName.id, id);
  assert.equal((await store.resolve("docker.io/test/app:1")).id, id);
  assert.equal((await store.resolve(id)).id, id);
  assert.equal((await store.resolve(id.slice(7, 19))).id, id);
  assert.equal((await store.resolve(`test/app@${byName.manifestDigest}`)).id, id);
  await assert.rejects(store.resolve("test/app:2"), ImageNotFoundError);
  await assert.rejects(store.resolve("nosuch"), /No such image: nosuch/);
});

test("resolve() refuses an ambiguous ID prefix", async () => {
  const store = memoryStore();
  const ids = [await withImage(store, "a", ["x/a:1"]), await withImage(store, "b", ["x/b:1"])];
  let common = 0;
  while (ids[0][7 + common] === ids[1][7 + common]) common++;
  if (common > 0) {
    await assert.rejects(store.resolve(ids[0].slice(7, 7 + common)), ConflictError);
  }
  assert.equal((await store.resolve(ids[1].slice(7, 8 + common))).id, ids[1]);
});

test("tag() adds a name and images() lists one row per name", async () => {
  const store = memoryStore();
  const id = await withImage(store, "one");
  await store.tag("test/app:1", "localhost:5000/mirror/app:v2");
  const rows = await store.images();
  assert.deepEqual(rows.map((r) => r.name).sort(), [
    "docker.io/test/app:1",
    "localhost:5000/mirror/app:v2",
  ]);
  assert.ok(rows.every((r) => r.id === id));
  await assert.rejects(store.tag("test/app:1", "x@sha256:" + "a".repeat(64)), TypeError);
});

test("rmi by name untags while another name is left, and deletes with the last one", async () => {
  const store = memoryStore();
  const id = await withImage(store, "one");
  await store.tag("test/app:1", "test/app:latest");
  const blobs = await blobCount(store);
  const first = await store.remove("test/app:1");
  assert.deepEqual(first, { untagged: ["docker.io/test/app:1"], deleted: [] });
  assert.equal(await blobCount(store), blobs);
  const second = await store.remove("test/app");
  assert.deepEqual(second, { untagged: ["docker.io/test/app:latest"], deleted: [id] });
  assert.equal(await blobCount(store), 0);
});

test("rmi by ID of an image in several repositories needs force", async () => {
  const store = memoryStore();
  const id = await withImage(store, "one");
  await store.tag("test/app:1", "other/app:1");
  await assert.rejects(store.remove(id.slice(7, 19)), /must be forced/);
  const r = await store.remove(id.slice(7, 19), { force: true });
  assert.equal(r.untagged.length, 2);
  assert.deepEqual(r.deleted, [id]);
});

test("removing an image keeps the layers another image still uses", async () => {
  const store = memoryStore();
  await withImage(store, "one", ["x/one:1"]);
  const two = await withImage(store, "two", ["x/two:1"]);
  await store.remove("x/one:1");
  const img = await store.resolve("x/two:1");
  assert.equal(img.id, two);
  for (const l of img.manifest.layers) assert.ok(await store.blobs.has(l.digest));
  assert.deepEqual((await store.fsck()).problems, []);
});

test("gc() deletes blobs no name reaches and nothing else", async () => {
  const store = memoryStore();
  await withImage(store, "keep", ["x/keep:1"]);
  const before = await blobCount(store);
  const stray = await store.blobs.put(streamOf(new TextEncoder().encode("stray")));
  const r = await store.gc();
  assert.deepEqual(r.removed, [stray.digest]);
  assert.equal(r.bytes, 5);
  assert.equal(await blobCount(store), before);
});

test("fsck() finds a blob whose content was corrupted on disk", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-fsck-"));
  try {
    const store = await openStore(dir);
    await withImage(store, "one");
    assert.deepEqual((await store.fsck()).problems, []);
    const img = await store.resolve("test/app:1");
    const victim = img.manifest.layers[1].digest;
    await writeFile(join(dir, "blobs", "sha256", victim.slice(7)), "corrupted");
    const { problems } = await store.fsck();
    assert.equal(problems.length, 1);
    assert.equal(problems[0].digest, victim);
    assert.match(problems[0].problem, /hashes to sha256:/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("gc() keeps blobs named as extra roots", async () => {
  const store = memoryStore();
  const kept = await store.blobs.put(streamOf(new TextEncoder().encode("cache layer")));
  const r = await store.gc({ roots: [{ mediaType: "application/octet-stream", ...kept }] });
  assert.deepEqual(r.removed, []);
  assert.ok(await store.blobs.has(kept.digest));
});

test("an OCI archive with no image for this platform loads, and rmi removes its name and blobs", async () => {
  const store = memoryStore({ platform: { os: "linux", architecture: "amd64" } });
  const layer = await layerTar([{ name: "f", body: "riscv only" }]);
  const config = await imageConfig([layer]);
  const blob = (bytes: Uint8Array, mediaType: string) => ({ bytes, mediaType });
  const cfg = blob(config, MediaType.OCI_CONFIG);
  const lay = blob(layer, MediaType.OCI_LAYER);
  const desc = async (b: { bytes: Uint8Array; mediaType: string }) => ({
    mediaType: b.mediaType,
    digest: await sha256(b.bytes),
    size: b.bytes.length,
  });
  const manifest = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: await desc(cfg),
    layers: [await desc(lay)],
  });
  const index = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: [{
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.bytes.length,
      platform: { os: "linux", architecture: "riscv64" },
    }],
  });
  const top = {
    schemaVersion: 2,
    manifests: [{
      mediaType: index.mediaType,
      digest: index.digest,
      size: index.bytes.length,
      annotations: { "io.containerd.image.name": "docker.io/library/riscv:1" },
    }],
  };
  const files = [["oci-layout", enc('{"imageLayoutVersion":"1.0.0"}')], [
    "index.json",
    enc(JSON.stringify(top)),
  ]] as [string, Uint8Array][];
  for (const b of [config, layer, manifest.bytes, index.bytes]) {
    files.push([`blobs/sha256/${(await sha256(b)).slice(7)}`, b]);
  }
  const tar = await packTar(
    files.map(([name, body]) => ({ header: { name, size: body.length }, body })),
  );
  const loaded = await loadArchive(store, streamOf(tar));
  assert.deepEqual(loaded[0].names, ["docker.io/library/riscv:1"]);
  await assert.rejects(store.resolve("riscv:1"), /for platform linux\/amd64/);
  // Listed by its index digest, as docker's containerd store lists it.
  const [row] = await store.images();
  assert.equal(row.id, index.digest);
  assert.equal(row.name, "docker.io/library/riscv:1");
  assert.equal(row.size, config.length + layer.length + manifest.bytes.length + index.bytes.length);
  const r = await store.remove("riscv:1");
  assert.deepEqual(r.untagged, ["docker.io/library/riscv:1"]);
  assert.deepEqual(r.deleted, [index.digest]);
  assert.deepEqual(await store.tags.list(), []);
  assert.equal(await blobCount(store), 0);
  await assert.rejects(store.remove("riscv:1"), ImageNotFoundError);
  // By the ID images() shows, too.
  await loadArchive(store, streamOf(tar));
  const byId = await store.remove(index.digest.slice(7, 19));
  assert.deepEqual(byId.untagged, ["docker.io/library/riscv:1"]);
  assert.equal(await blobCount(store), 0);
});

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

test("fsck() re-hashes sha512 blobs with sha512, and rmi and gc remove them", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-fsck512-"));
  try {
    const store = await openStore(dir);
    const layout = await sha512Layout();
    await loadArchive(store, streamOf(layout.tar), { name: "localhost/x" });
    assert.deepEqual((await store.fsck()).problems, []);
    const victim = layout.layers[0];
    const path = join(dir, "blobs", "sha512", victim.slice(7));
    const good = await readFile(path);
    await writeFile(path, "corrupted");
    const { problems } = await store.fsck();
    assert.deepEqual(problems, [{
      digest: victim,
      problem: `content hashes to ${await sha256("corrupted", { algorithm: "sha512" })}`,
    }]);
    await writeFile(path, good);

    // An unnamed sha512 blob is garbage like any other.
    const stray = await store.blobs.put(streamOf(enc("stray")), {
      digest: await sha256("stray", { algorithm: "sha512" }),
    });
    assert.deepEqual((await store.gc()).removed, [stray.digest]);
    assert.equal(await blobCount(store), 4);
    const removed = await store.remove("localhost/x:v512");
    assert.deepEqual(removed.deleted, [layout.id]);
    assert.equal(await blobCount(store), 0);
    assert.deepEqual(await readdir(join(dir, "blobs", "sha512")), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("resolve() gives each layer with its diff ID and its bytes; a diff_ids count that differs from the manifest's layers is refused, and rmi still removes the name", async () => {
  const store = memoryStore();
  await withImage(store, "one");
  const img = await store.resolve("test/app:1");
  assert.deepEqual(img.layers.map((l) => l.diffId), img.config.rootfs.diff_ids);
  assert.deepEqual(img.layers.map((l) => l.descriptor), img.manifest.layers);
  const bytes = new Uint8Array(await new Response(await img.layers[1].open()).arrayBuffer());
  assert.equal(await sha256(bytes), img.layers[1].digest);

  const layers = [await layerTar([{ name: "a", body: "a" }]), await layerTar([{ name: "b" }])];
  const config = await imageConfig(layers.slice(0, 1));
  const descriptor = async (bytes: Uint8Array, mediaType: string) => ({
    mediaType,
    ...(await putBytes(store.blobs, bytes)),
  });
  const manifest = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: await descriptor(config, MediaType.OCI_CONFIG),
    layers: await Promise.all(layers.map((l) => descriptor(l, MediaType.OCI_LAYER))),
  });
  await store.tags.set(
    "docker.io/test/odd:1",
    await descriptor(manifest.bytes, MediaType.OCI_MANIFEST),
  );
  await assert.rejects(
    store.resolve("test/odd:1"),
    /rootfs\.diff_ids.*lists 1 layers but manifest sha256:[0-9a-f]{64} has 2/,
  );
  await store.remove("test/odd:1");
  await assert.rejects(store.resolve("test/odd:1"), ImageNotFoundError);
});
