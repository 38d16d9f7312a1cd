// /api/build with stratum's real build engine: the posted image is pullable from the same server.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
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
