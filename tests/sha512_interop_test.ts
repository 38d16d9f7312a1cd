// Images whose content is named by sha512 (the image-spec and distribution-spec allow it):
// stratum loads, checks, saves, pushes and pulls them, and peers read what it writes.
//
// The peers installed here support sha512 only in part: skopeo 1.9 verifies sha512 layers
// and finds sha512 manifests, but checks a config in sha256 only ("Download config.json
// digest sha256:... does not match expected sha512:..."), and umoci 0.4 refuses every
// sha512 blob path ("unsupported algorithm"). So the skopeo test names the config by
// sha256, and the full-sha512 image is read back by stratum itself, the CNCF registry and
// docker load (Docker 20.10 reads archive paths as written and checks diff_ids).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { pull, push } from "../registry_client/mod.ts";
import {
  exportOciLayout,
  importOciLayout,
  loadArchive,
  memoryStore,
  openStore,
  saveDockerArchive,
  saveOciArchive,
} from "../storage/mod.ts";
import { streamOf } from "./_fixtures.ts";
import { startRegistry } from "./_cncf_registry.ts";
import { docker } from "./_docker.ts";
import { missingPeers } from "./_peers.ts";
import { withRegistry } from "./_served_registry.ts";
import { sha512, sha512Layout } from "./_sha512_layout.ts";

async function scratch(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-sha512-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("a layout stratum saves with sha512 layers is read and verified by skopeo", {
  skip: missingPeers("skopeo"),
}, async () => {
  await scratch(async (dir) => {
    const layout = await sha512Layout({ configBy: "sha256" });
    const store = await openStore(join(dir, "store"));
    await loadArchive(store, streamOf(layout.tar), { name: "localhost/sha512" });
    const img = await store.resolve("localhost/sha512:v512");
    assert.equal(img.manifestDigest, layout.manifestDigest);

    // The store is a layout too: skopeo finds the manifest under blobs/sha512/.
    const raw = execFileSync("skopeo", [
      "inspect",
      "--raw",
      `oci:${join(dir, "store")}:localhost/sha512:v512`,
    ]);
    assert.equal(await sha512(new Uint8Array(raw)), layout.manifestDigest);

    await exportOciLayout(store, ["localhost/sha512:v512"], join(dir, "layout"));
    const copyOut = (from: string, to: string) =>
      execFileSync("skopeo", [
        "copy",
        "--dest-decompress",
        `oci:${from}:v512`,
        `dir:${to}`,
      ], { stdio: "pipe" });
    copyOut(join(dir, "layout"), join(dir, "out"));
    // skopeo read the sha512 layer through its sha512 verifier and wrote it decompressed,
    // under the sha256 that is the config's diff_id.
    const out = await readdir(join(dir, "out"));
    for (const diffId of img.config.rootfs.diff_ids) assert.ok(out.includes(diffId.slice(7)));
    const layer = await readFile(join(dir, "out", img.config.rootfs.diff_ids[0].slice(7)));
    assert.equal(
      `sha256:${createHash("sha256").update(layer).digest("hex")}`,
      img.config.rootfs.diff_ids[0],
    );

    // The check is real: the same layout with one gzip header byte changed (the layer
    // still decompresses the same) is refused by skopeo on the sha512.
    const blob = join(dir, "layout", "blobs", "sha512", layout.layers[0].slice(7));
    const bytes = new Uint8Array(await readFile(blob));
    bytes[4] ^= 1;
    await writeFile(blob, bytes);
    assert.throws(
      () => copyOut(join(dir, "layout"), join(dir, "out2")),
      (e: unknown) => {
        assert.match(String((e as { stderr?: Buffer }).stderr), /Digest did not match.*sha512:/);
        return true;
      },
    );
  });
});

test("an image named by sha512 throughout loads, re-checks, saves and imports back", async () => {
  await scratch(async (dir) => {
    const layout = await sha512Layout();
    const store = await openStore(join(dir, "store"));
    await loadArchive(store, streamOf(layout.tar), { name: "localhost/sha512" });
    assert.deepEqual((await store.fsck()).problems, []);
    const oci = new Uint8Array(
      await new Response(saveOciArchive(store, ["localhost/sha512:v512"])).arrayBuffer(),
    );
    await exportOciLayout(store, ["localhost/sha512:v512"], join(dir, "layout"));
    assert.deepEqual(
      (await readdir(join(dir, "layout", "blobs", "sha512"))).sort(),
      [layout.manifestDigest, layout.configDigest, layout.layers[0]].map((d) => d.slice(7)).sort(),
    );
    for (
      const [label, load] of [
        ["oci archive", (s: ReturnType<typeof memoryStore>) => loadArchive(s, streamOf(oci))],
        ["oci-dir", (s: ReturnType<typeof memoryStore>) => importOciLayout(s, join(dir, "layout"))],
      ] as const
    ) {
      const again = memoryStore();
      const [loaded] = await load(again);
      assert.equal(loaded.manifestDigest, layout.manifestDigest, label);
      assert.equal(loaded.id, layout.id, label);
      assert.deepEqual((await again.fsck()).problems, [], label);
    }
  });
});

test("a sha512 image pushes to and pulls from stratum's own server", async () => {
  await withRegistry({}, async ({ url, req, store: served }) => {
    const host = new URL(url).host;
    const layout = await sha512Layout();
    const source = memoryStore();
    await loadArchive(source, streamOf(layout.tar), { name: "localhost/sha512" });
    await push(source, "localhost/sha512:v512", {
      destination: `${host}/sha512/app:v1`,
      retries: 0,
    });
    assert.ok(await served.blobs.has(layout.layers[0]));

    // The blob API by sha512 digest: GET and HEAD serve it, a PUT verifies it.
    const got = await req(`/v2/sha512/app/blobs/${layout.configDigest}`);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("docker-content-digest"), layout.configDigest);
    assert.equal(await sha512(new Uint8Array(await got.arrayBuffer())), layout.configDigest);
    const text = new TextEncoder().encode("uploaded by sha512");
    const wrong = await sha512("something else");
    const bad = await req(`/v2/sha512/app/blobs/uploads/?digest=${wrong}`, {
      method: "POST",
      body: text,
    });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).errors[0].code, "DIGEST_INVALID");
    assert.equal(await served.blobs.has(wrong), false);
    const good = await req(`/v2/sha512/app/blobs/uploads/?digest=${await sha512(text)}`, {
      method: "POST",
      body: text,
    });
    await good.body?.cancel();
    assert.equal(good.status, 201);
    assert.ok(await served.blobs.has(await sha512(text)));

    const pulled = memoryStore();
    const result = await pull(pulled, `${host}/sha512/app:v1`, { retries: 0 });
    assert.equal(result.id, layout.id);
    const img = await pulled.resolve(`${host}/sha512/app:v1`);
    assert.deepEqual(img.manifest.layers.map((l) => l.digest), layout.layers);
    assert.equal(img.manifest.config.digest, layout.configDigest);
    assert.deepEqual((await pulled.fsck()).problems, []);
  });
});

test("a sha512 image pushes to and pulls from the CNCF registry", {
  skip: missingPeers("docker-registry"),
}, async () => {
  const reg = await startRegistry("none");
  try {
    const layout = await sha512Layout();
    const source = memoryStore();
    await loadArchive(source, streamOf(layout.tar), { name: "localhost/sha512" });
    await push(source, "localhost/sha512:v512", {
      destination: `${reg.host}/sha512/app:v1`,
      retries: 0,
    });
    const head = await fetch(`http://${reg.host}/v2/sha512/app/blobs/${layout.layers[0]}`, {
      method: "HEAD",
    });
    assert.equal(head.status, 200, "distribution stored the layer under its sha512");
    const pulled = memoryStore();
    const result = await pull(pulled, `${reg.host}/sha512/app:v1`, { retries: 0 });
    assert.equal(result.id, layout.id);
    const img = await pulled.resolve(`${reg.host}/sha512/app:v1`);
    assert.deepEqual(img.manifest.layers.map((l) => l.digest), layout.layers);
    assert.deepEqual((await pulled.fsck()).problems, []);
  } finally {
    await reg.close();
  }
});

test("docker load reads a sha512 image stratum saves, under the same image ID", {
  skip: missingPeers("dockerd"),
}, async () => {
  await scratch(async (dir) => {
    const name = `stratum-interop/sha512-${process.pid}:v512`;
    const layout = await sha512Layout();
    const store = memoryStore();
    await loadArchive(store, streamOf(layout.tar), { name: name.split(":")[0] });
    const archive = new Uint8Array(
      await new Response(saveDockerArchive(store, [name])).arrayBuffer(),
    );
    await writeFile(join(dir, "stratum.tar"), archive);
    try {
      assert.match(docker("load", "-i", join(dir, "stratum.tar")), /Loaded image: /);
      // docker checked each layer against the config's diff_ids while loading.
      assert.equal(docker("inspect", "--format", "{{.Id}}", name), layout.id);
      const store2 = memoryStore();
      const saved = execFileSync("docker", ["save", name], { maxBuffer: 64 << 20 });
      const [back] = await loadArchive(store2, streamOf(new Uint8Array(saved)));
      assert.equal(back.id, layout.id);
    } finally {
      try {
        docker("rmi", "-f", name);
      } catch { /* not loaded */ }
    }
  });
});
