import assert from "node:assert/strict";
import { test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import { type History, MediaType, serializeManifest } from "../image/mod.ts";
import { type ImageStore, memoryStore, putBytes } from "../storage/mod.ts";
import { layerTar } from "../tests/_fixtures.ts";
import { describeImage } from "./describe_image.ts";

const enc = new TextEncoder();

/** Stores an image of `layers` with `history` under `name` and resolves it. */
async function storeImage(
  store: ImageStore,
  name: string,
  layers: Uint8Array[],
  history: History[],
) {
  const config = enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created: "2024-05-06T07:08:09Z",
    config: { Cmd: ["sh"], WorkingDir: "/srv" },
    rootfs: { type: "layers", diff_ids: await Promise.all(layers.map((l) => sha256(l))) },
    history,
  }));
  const configDigest = await sha256(config);
  await putBytes(store.blobs, config, { digest: configDigest });
  const descriptors = [];
  for (const l of layers) {
    const digest = await sha256(l);
    await putBytes(store.blobs, l, { digest });
    descriptors.push({ mediaType: MediaType.OCI_LAYER, digest, size: l.length });
  }
  const manifest = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: configDigest, size: config.length },
    layers: descriptors,
  });
  await putBytes(store.blobs, manifest.bytes, { digest: manifest.digest });
  await store.tags.set(name, {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.bytes.length,
  });
  return await store.resolve(name);
}

async function threeLayers(): Promise<Uint8Array[]> {
  return [
    await layerTar([
      { name: "etc/", type: "directory" },
      { name: "etc/motd", body: "welcome\n" },
      { name: "etc/hosts", body: "127.0.0.1 localhost\n" },
      { name: "var/cache/", type: "directory" },
      { name: "var/cache/a.bin", body: "aaaaaaaaaa" },
      { name: "bin/sh", body: "#!sh", mode: 0o755 },
    ]),
    await layerTar([
      { name: "etc/hosts", body: "127.0.0.1 localhost app\n" },
      { name: "app/", type: "directory" },
      { name: "app/main.js", body: "console.log(1)\n" },
      { name: "app/link", type: "symlink", linkname: "main.js" },
    ]),
    await layerTar([
      { name: "etc/.wh.motd", body: "" },
      { name: "var/cache/.wh..wh..opq", body: "" },
      { name: "tmp/.wh.never-existed", body: "" },
    ]),
  ];
}

test("describeImage() maps layers to history steps, skipping empty_layer steps", async () => {
  const store = memoryStore();
  const image = await storeImage(store, "localhost/demo/app:1", await threeLayers(), [
    { created_by: "ADD rootfs.tar /", created: "2024-01-01T00:00:00Z" },
    { created_by: "ENV A=1", empty_layer: true },
    { created_by: "COPY app /app", comment: "buildkit" },
    { created_by: 'CMD ["sh"]', empty_layer: true },
    { created_by: "RUN rm /etc/motd" },
  ]);
  const got = await describeImage(image);
  assert.deepEqual(got.layers.map((l) => l.createdBy), [
    "ADD rootfs.tar /",
    "COPY app /app",
    "RUN rm /etc/motd",
  ]);
  assert.equal(got.layers[0].created, "2024-01-01T00:00:00Z");
  assert.equal(got.layers[1].comment, "buildkit");
  assert.deepEqual(got.history.map((h) => h.layer), [0, null, 1, null, 2]);
  assert.deepEqual(got.layers.map((l) => l.digest), image.manifest.layers.map((l) => l.digest));
  assert.deepEqual(got.layers.map((l) => l.diffId), image.config.rootfs.diff_ids);
  assert.equal(got.id, image.id);
  assert.equal(got.manifestDigest, image.manifestDigest);
  assert.equal(got.platform, "linux/amd64");
  assert.equal(got.config.workingDir, "/srv");
  assert.equal(
    got.size,
    image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0),
  );
});

test("describeImage() counts each layer's added, changed and removed files and wasted bytes", async () => {
  const store = memoryStore();
  const image = await storeImage(store, "localhost/demo/app:1", await threeLayers(), []);
  const [base, app, cleanup] = (await describeImage(image)).layers;
  assert.deepEqual(base.added, { files: 4, bytes: 8 + 20 + 10 + 4 });
  assert.deepEqual(app.added, { files: 2, bytes: 15 });
  assert.deepEqual(app.modified, { files: 1, bytes: 24 });
  // motd (8 bytes) is deleted and var/cache/a.bin (10) hidden by the opaque marker.
  assert.deepEqual(cleanup.removed, { files: 2, bytes: 18 });
  // Of the base layer's bytes, the old hosts, motd and a.bin are no longer visible.
  assert.equal(base.wastedBytes, 20 + 8 + 10);
  assert.equal(app.wastedBytes, 0);
  assert.equal(cleanup.entries, 3);
  assert.equal(cleanup.createdBy, undefined, "no history: no step to name");
});

test("describeImage() lists whiteouts with the lower layers whose paths they hide", async () => {
  const store = memoryStore();
  const image = await storeImage(store, "localhost/demo/app:1", await threeLayers(), []);
  const got = await describeImage(image);
  assert.deepEqual(got.layers[0].whiteouts, []);
  assert.deepEqual(got.layers[2].whiteouts, [
    { path: "etc/motd", opaque: false, hides: [0] },
    { path: "var/cache", opaque: true, hides: [0] },
    { path: "tmp/never-existed", opaque: false, hides: [] },
  ]);
});

test("describeImage() gives every merged path its type, mode, size, link and layer", async () => {
  const store = memoryStore();
  const image = await storeImage(store, "localhost/demo/app:1", await threeLayers(), []);
  const got = await describeImage(image);
  const byPath = new Map(got.tree.map((e) => [e.path, e]));
  assert.equal(byPath.has("etc/motd"), false, "whited out");
  assert.equal(byPath.has("var/cache/a.bin"), false, "under an opaque directory");
  assert.deepEqual(byPath.get("etc/hosts"), {
    path: "etc/hosts",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 24,
    layer: 1,
  });
  assert.equal(byPath.get("bin/sh")?.mode, 0o755);
  assert.equal(byPath.get("bin/sh")?.layer, 0);
  assert.equal(byPath.get("bin")?.implicit, true, "bin/ has no entry of its own");
  assert.equal(byPath.get("app/link")?.link, "main.js");
  assert.equal(byPath.get("app/link")?.type, "symlink");
  assert.equal(byPath.get("var/cache")?.layer, 0, "an opaque marker empties, not replaces");
  assert.equal(got.treeTotal, got.tree.length);
  const paths = got.tree.map((e) => e.path);
  assert.ok(paths.indexOf("app") < paths.indexOf("app/main.js"), "parents come first");
});

test("describeImage() returns at most maxTreeEntries paths and counts the rest", async () => {
  const store = memoryStore();
  const image = await storeImage(store, "localhost/demo/app:1", await threeLayers(), []);
  const all = await describeImage(image);
  const some = await describeImage(image, { maxTreeEntries: 3 });
  assert.equal(some.tree.length, 3);
  assert.equal(some.treeTotal, all.tree.length);
  assert.deepEqual(some.tree, all.tree.slice(0, 3));
});

test("describeImage() rejects a layer that is not a tar, naming its digest", async () => {
  const store = memoryStore();
  const junk = enc.encode("this is not a tar archive, not even close to 512 bytes");
  const image = await storeImage(store, "localhost/demo/bad:1", [junk], []);
  await assert.rejects(
    describeImage(image),
    (e: Error) => e.message.includes(image.manifest.layers[0].digest),
  );
});
