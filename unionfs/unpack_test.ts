import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  type ContainerConfig,
  type Descriptor,
  type Digest,
  MediaType,
  serializeImageConfig,
  serializeManifest,
} from "../image/mod.ts";
import { ImageNotFoundError, type ImageStore, memoryStore, putBytes } from "../storage/mod.ts";
import { storeLayer } from "./create_layer.ts";
import type { WriteEntry } from "./_tar_writer.ts";
import { dir, file, symlink } from "./_test_util.ts";
import { unpack } from "./unpack.ts";

const asRoot = process.getuid?.() === 0 ? false : "needs root (file owners)";

let work = "";
let store: ImageStore;

async function putImage(
  tag: string,
  layers: WriteEntry[][],
  config: ContainerConfig = {},
): Promise<void> {
  const descriptors: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const entries of layers) {
    const { descriptor, diffId } = await storeLayer(store.blobs, entries);
    descriptors.push(descriptor);
    diffIds.push(diffId);
  }
  const cfg = await serializeImageConfig({
    architecture: "amd64",
    os: "linux",
    created: "2024-01-01T00:00:00Z",
    config,
    rootfs: { type: "layers", diff_ids: diffIds },
  });
  await putBytes(store.blobs, cfg.bytes, { digest: cfg.digest });
  const manifest = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: cfg.digest, size: cfg.bytes.length },
    layers: descriptors,
  });
  await putBytes(store.blobs, manifest.bytes, { digest: manifest.digest });
  await store.tags.set(`docker.io/library/${tag}`, {
    mediaType: MediaType.OCI_MANIFEST,
    digest: manifest.digest,
    size: manifest.bytes.length,
  });
}

const ACCOUNTS = [
  dir("etc/"),
  file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"),
  file("etc/group", "root:x:0:\napp:x:1000:\nwheel:x:10:app\n"),
];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "stratum-unpack-"));
  store = memoryStore();
  await putImage("app:1", [ACCOUNTS, [
    dir("srv/", { uid: 1000, gid: 1000 }),
    file("srv/data", "payload", { uid: 1000, gid: 10, mode: 0o4755 }),
  ]], { User: "app", Cmd: ["/bin/app"], WorkingDir: "/srv", Env: ["A=1"] });
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function siblings(): Promise<string[]> {
  return (await readdir(work)).filter((n) => n.includes(".unpack-"));
}

test("unpack() writes rootfs and a config.json resolved against the rootfs", async () => {
  const bundle = join(work, "b1");
  const { spec, rootfs } = await unpack(store, "app:1", bundle);
  assert.deepEqual((await readdir(bundle)).sort(), ["config.json", "rootfs"]);
  assert.equal((await lstat(bundle)).mode & 0o777, 0o700);
  assert.equal(await readFile(join(bundle, "rootfs/srv/data"), "utf8"), "payload");
  const written = JSON.parse(await readFile(join(bundle, "config.json"), "utf8"));
  assert.deepEqual(written, spec);
  assert.deepEqual(spec.process.args, ["/bin/app"]);
  assert.equal(spec.process.cwd, "/srv");
  assert.deepEqual(spec.process.user, { uid: 1000, gid: 1000, additionalGids: [10] });
  assert.ok(spec.process.env.includes("HOME=/home/app") && spec.process.env.includes("A=1"));
  assert.ok(rootfs.paths >= 5);
  assert.deepEqual(await siblings(), []);
});

test("unpack() maps file owners through the ID mappings", { skip: asRoot }, async () => {
  const bundle = join(work, "mapped");
  const m = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const { spec } = await unpack(store, "app:1", bundle, { uidMappings: m, gidMappings: m });
  const st = await lstat(join(bundle, "rootfs/srv/data"));
  assert.deepEqual([st.uid, st.gid], [101000, 100010]);
  // chown would clear the setuid bit: the mode is set after the owner.
  assert.equal(st.mode & 0o7777, 0o4755);
  const root = await lstat(join(bundle, "rootfs"));
  assert.deepEqual([root.uid, root.gid], [100000, 100000]);
  assert.deepEqual(spec.linux.uidMappings, m);
  assert.equal(spec.linux.namespaces.at(-1)?.type, "user");
});

test("unpack() refuses owners outside the mappings and leaves nothing", async () => {
  const bundle = join(work, "unmapped");
  const m = [{ containerID: 0, hostID: 100000, size: 1 }];
  await assert.rejects(
    unpack(store, "app:1", bundle, { uidMappings: m }),
    /\/srv is owned by uid 1000, which the UID mappings leave out/,
  );
  await assert.rejects(lstat(bundle), { code: "ENOENT" });
  assert.deepEqual(await siblings(), []);
});

test("unpack() --rootless chowns nothing and makes the spec rootless", async () => {
  const bundle = join(work, "rootless");
  const { spec } = await unpack(store, "app:1", bundle, { rootless: true });
  const st = await lstat(join(bundle, "rootfs/srv/data"));
  assert.deepEqual([st.uid, st.gid], [process.getuid!(), process.getgid!()]);
  assert.deepEqual(spec.linux.uidMappings, [
    { containerID: 0, hostID: process.geteuid!(), size: 1 },
  ]);
  assert.ok(!spec.linux.namespaces.some((n) => n.type === "network"));
  assert.equal(spec.process.user.additionalGids, undefined);
  assert.equal(spec.linux.resources, undefined);
});

test("unpack() refuses a directory that is not empty, and a file", async () => {
  const full = join(work, "full");
  await mkdir(full);
  await writeFile(join(full, "keep"), "x");
  await assert.rejects(
    unpack(store, "app:1", full),
    /Cannot unpack into ".*full": the directory is not empty/,
  );
  assert.deepEqual(await readdir(full), ["keep"]);
  await assert.rejects(unpack(store, "app:1", join(full, "keep")), /exists and is not a directory/);
  // An empty directory is fine: the bundle takes its place.
  const empty = join(work, "empty");
  await mkdir(empty);
  await unpack(store, "app:1", empty);
  assert.deepEqual((await readdir(empty)).sort(), ["config.json", "rootfs"]);
});

test("unpack() of a missing image or a user the image lacks leaves nothing behind", async () => {
  const bundle = join(work, "missing");
  await assert.rejects(unpack(store, "nope:1", bundle), ImageNotFoundError);
  await assert.rejects(unpack(store, "Not A Reference", bundle), ImageNotFoundError);
  // A read-only directory with a file: a non-root caller must still be able to clean up.
  const readOnly = [dir("ro/", { mode: 0o555 }), file("ro/f", "x", { mode: 0o444 })];
  await putImage("nouser:1", [ACCOUNTS, readOnly], { User: "ghost" });
  await assert.rejects(unpack(store, "nouser:1", bundle), /no user "ghost"/);
  await assert.rejects(lstat(bundle), { code: "ENOENT" });
  assert.deepEqual(await siblings(), []);
});

test("unpack() reads /etc/passwd inside the rootfs even when it is a symlink out", async () => {
  // The host's file would say uid 4242; the image's root has no such file at all.
  const outside = join(work, "host-passwd");
  await writeFile(outside, "evil:x:4242:4242::/evil:/bin/sh\n");
  await putImage("linked:1", [[dir("etc/"), symlink("etc/passwd", outside)]], { User: "evil" });
  await assert.rejects(unpack(store, "linked:1", join(work, "linked")), /no user "evil"/);
  await putImage("linked:2", [[dir("etc/"), symlink("etc/passwd", outside)]], { User: "4242" });
  const { spec } = await unpack(store, "linked:2", join(work, "linked2"));
  assert.deepEqual(spec.process.user, { uid: 4242, gid: 0 });
  assert.ok(!spec.process.env.some((e) => e.startsWith("HOME=")));
});
