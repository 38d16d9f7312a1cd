// /api/build with stratum's real build engine: the posted image is pullable from the same server.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { MediaType } from "../image/mod.ts";
import { createDemoApp, createRegistryApp, demoBuildEngine } from "../server/mod.ts";
import { memoryStore } from "../storage/mod.ts";

test("/api/build runs the real engine and the image is pullable and inspectable here", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-demo-build-"));
  try {
    const store = memoryStore();
    const app = createRegistryApp(store, {
      fallback: createDemoApp(store, { build: demoBuildEngine(dir) }),
    });
    const req = (path: string, init?: RequestInit) =>
      app(new Request(`http://127.0.0.1:5000${path}`, init));
    const form = new FormData();
    form.append(
      "dockerfile",
      'FROM scratch\nCOPY . /site/\nENV MODE=demo\nCMD ["/site/index.html"]\n',
    );
    form.append("tag", "demo/site:1");
    form.append("context", new Blob(["<h1>hi</h1>\n"]), "index.html");
    form.append("context", new Blob(["body{}\n"]), "css/site.css");
    const res = await req("/api/build", { method: "POST", body: form });
    assert.equal(res.status, 201, await res.clone().text());
    const built = await res.json();
    assert.equal(built.reference, "127.0.0.1:5000/demo/site:1");

    const manifest = await req("/v2/demo/site/manifests/1", {
      headers: { accept: MediaType.OCI_MANIFEST },
    });
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get("docker-content-digest"), built.manifestDigest);
    const config = JSON.parse(await manifest.text()).config;
    assert.equal(config.digest, built.imageId);
    const blob = await req(`/v2/demo/site/blobs/${config.digest}`);
    const image = JSON.parse(await blob.text());
    assert.deepEqual(image.config.Cmd, ["/site/index.html"]);
    assert.ok(image.config.Env.includes("MODE=demo"));

    const inspected = await (await req("/api/inspect?image=demo/site:1")).json();
    assert.deepEqual(
      inspected.tree.map((e: { path: string }) => e.path).sort(),
      ["site", "site/css", "site/css/site.css", "site/index.html"],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("seed() builds the bundled demo image into an empty store as the page's placeholder", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-demo-seed-"));
  try {
    const store = memoryStore();
    const demo = createDemoApp(store, { build: demoBuildEngine(dir), namespace: "127.0.0.1:5000" });
    const app = createRegistryApp(store, { fallback: demo, namespace: "127.0.0.1:5000" });
    const req = (path: string) => app(new Request(`http://127.0.0.1:5000${path}`));
    // Before seeding, the placeholder is the 404 a first visitor used to get.
    assert.equal((await req("/api/inspect?image=demo/app:1")).status, 404);

    assert.deepEqual(await demo.seed(), { seeded: true, reference: "demo/app:1" });
    const res = await req("/api/inspect?image=demo/app:1");
    assert.equal(res.status, 200, await res.clone().text());
    const inspected = await res.json();
    // Three COPY layers and WORKDIR's, the last COPY hiding the first os-release.
    assert.equal(inspected.layers.length, 4);
    assert.equal(
      inspected.tree.find((e: { path: string }) => e.path === "etc/os-release").layer,
      2,
    );
    // Layer 0's os-release, 32 bytes, is the file content the page calls wasted.
    assert.equal(inspected.layers[0].wastedBytes, 32);
    assert.ok(inspected.config.env.includes("GREETING=hello from stratum"));
    assert.deepEqual(inspected.config.exposedPorts, ["8080/tcp"]);
    assert.deepEqual(inspected.config.healthcheck, {
      Test: ["CMD", "/app/healthcheck"],
      Interval: 30e9,
      Timeout: 3e9,
      Retries: 3,
    });
    // And it is an image of this registry like any pushed one.
    const manifest = await req("/v2/demo/app/manifests/1");
    assert.equal(manifest.status, 200);
    await manifest.body?.cancel();

    // A second start finds images and leaves them alone.
    const again = await demo.seed();
    assert.equal(again.seeded, false);
    assert.match(again.reason ?? "", /already has images/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("seed() never touches a store that has images, even one without demo/app", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-demo-seed-"));
  try {
    const store = memoryStore();
    const user = createDemoApp(store, { build: demoBuildEngine(dir) });
    await user.seed();
    const before = await store.tags.list();
    // Someone's own image under the demo's name: a later start must not rebuild over it.
    const demo = createDemoApp(store, { build: demoBuildEngine(dir) });
    const r = await demo.seed();
    assert.equal(r.seeded, false);
    assert.deepEqual(await store.tags.list(), before);

    const none = await createDemoApp(memoryStore()).seed();
    assert.deepEqual(none, { seeded: false, reference: "demo/app:1", reason: "no build engine" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the demo image's embedded context is examples/demo_image, byte for byte", async () => {
  const root = new URL("../examples/demo_image/", import.meta.url);
  const { DEMO_IMAGE_CONTEXT, DEMO_IMAGE_DOCKERFILE } = await import("../server/_demo_image.ts");
  assert.equal(DEMO_IMAGE_DOCKERFILE, await readFile(new URL("Dockerfile", root), "utf8"));
  const onDisk = (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name !== "Dockerfile")
    .map((e) => join(e.parentPath, e.name).slice(fileURLToPath(root).length));
  assert.deepEqual([...DEMO_IMAGE_CONTEXT.keys()].sort(), onDisk.sort());
  for (const [path, text] of DEMO_IMAGE_CONTEXT) {
    assert.equal(text, await readFile(new URL(path, root), "utf8"), path);
  }
});
