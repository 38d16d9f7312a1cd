import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";
import { MediaType } from "../image/mod.ts";
import { ImageNotFoundError, type ImageStore, loadArchive, memoryStore } from "../storage/mod.ts";
import { parseDockerfile, toParseJson } from "../builder/mod.ts";
import { dockerArchive, layerTar, streamOf } from "../tests/_fixtures.ts";
import { pushImage, type TestManifest } from "../tests/_served_registry.ts";
import { basicAuth } from "./auth.ts";
import { Htpasswd } from "./htpasswd.ts";
import { createRegistryApp } from "./registry_app.ts";
import { createDemoApp, type DemoAppOptions, type DemoBuildRequest } from "./demo_app.ts";

const base = "http://127.0.0.1:5000";
const enc = new TextEncoder();

/** The registry with the demo as its fallback, as `stratum serve --ui` and deploy.ts run it. */
function serve(store: ImageStore, options: DemoAppOptions = {}) {
  const app = createRegistryApp(store, {
    auth: options.auth,
    fallback: createDemoApp(store, options),
  });
  return (path: string, init?: RequestInit) => app(new Request(base + path, init));
}

/** An OCI image over real layer tars, with one history step per layer and one ENV step. */
async function tarImage(layers: Uint8Array[]): Promise<TestManifest> {
  const blobs = await Promise.all(layers.map(async (bytes) => ({
    bytes,
    digest: await sha256(bytes),
  })));
  const configBytes = enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: blobs.map((b) => b.digest) },
    history: [
      ...layers.map((_, i) => ({ created_by: `COPY step${i} /` })),
      { created_by: "ENV X=1", empty_layer: true },
    ],
  }));
  const config = { bytes: configBytes, digest: await sha256(configBytes) };
  const bytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: config.digest, size: configBytes.length },
    layers: blobs.map((b) => ({
      mediaType: MediaType.OCI_LAYER,
      digest: b.digest,
      size: b.bytes.length,
    })),
  }));
  return {
    bytes,
    digest: await sha256(bytes),
    mediaType: MediaType.OCI_MANIFEST,
    blobs: [
      config,
      ...blobs,
    ],
  };
}

async function pushedImage(store: ImageStore) {
  const req = serve(store);
  const image = await tarImage([
    await layerTar([{ name: "etc/motd", body: "hi\n" }, { name: "bin/tool", body: "x" }]),
    await layerTar([{ name: "etc/.wh.motd", body: "" }, { name: "app.txt", body: "app" }]),
  ]);
  const res = await pushImage(req, "demo/app", image, "1");
  assert.equal(res.status, 201);
  return { req, image };
}

test("GET / serves the page, whose script and stylesheet come from the same server", async () => {
  const req = serve(memoryStore());
  const page = await req("/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  assert.match(page.headers.get("content-security-policy")!, /default-src 'none'/);
  const html = await page.text();
  assert.match(html, /<label for="image">/);
  for (const asset of ["/demo.js", "/demo.css"]) {
    assert.ok(html.includes(`"${asset}"`), asset);
    const res = await req(asset);
    assert.equal(res.status, 200, asset);
    assert.ok((await res.text()).length > 100);
  }
  const head = await req("/", { method: "HEAD" });
  assert.equal(head.status, 200);
});

test("/api/inspect shows an image pushed to the registry, by name, by host and by digest", async () => {
  const { req, image } = await pushedImage(memoryStore());
  for (const ref of ["demo/app:1", "127.0.0.1:5000/demo/app:1", "localhost:5000/demo/app:1"]) {
    const res = await req(`/api/inspect?image=${encodeURIComponent(ref)}`);
    assert.equal(res.status, 200, ref);
    const body = await res.json();
    assert.equal(body.source, "local");
    assert.equal(body.reference, "127.0.0.1:5000/demo/app:1");
    assert.equal(body.manifestDigest, image.digest);
    assert.deepEqual(body.layers.map((l: { createdBy: string }) => l.createdBy), [
      "COPY step0 /",
      "COPY step1 /",
    ]);
    assert.deepEqual(body.layers[1].whiteouts, [{ path: "etc/motd", opaque: false, hides: [0] }]);
    const tree = new Map(body.tree.map((e: { path: string }) => [e.path, e]));
    assert.equal((tree.get("app.txt") as { layer: number }).layer, 1);
    assert.equal((tree.get("bin/tool") as { layer: number }).layer, 0);
    assert.equal(tree.has("etc/motd"), false);
  }
  const byDigest = await req(`/api/inspect?image=demo/app@${image.digest}`);
  assert.equal(byDigest.status, 200);
  assert.equal((await byDigest.json()).reference, `127.0.0.1:5000/demo/app@${image.digest}`);
});

test("/api/inspect refuses a missing or malformed reference with 400 and says why", async () => {
  const req = serve(memoryStore());
  const missing = await req("/api/inspect");
  assert.equal(missing.status, 400);
  assert.match((await missing.json()).error, /\?image=REF/);
  const bad = await req("/api/inspect?image=" + encodeURIComponent("Demo/App:1!"));
  assert.equal(bad.status, 400);
  const body = await bad.json();
  assert.equal(body.code, "REFERENCE_INVALID");
  assert.match(body.error, /Demo\/App:1!/);
});

test("/api/inspect answers 404 for an image this registry does not have", async () => {
  const { req } = await pushedImage(memoryStore());
  const res = await req("/api/inspect?image=127.0.0.1:5000/demo/app:2");
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.code, "IMAGE_UNKNOWN");
  assert.match(body.error, /127\.0\.0\.1:5000\/demo\/app:2/);
  // Without a host the name may also be Docker Hub's, and the answer says where it looked.
  const bare = await req("/api/inspect?image=demo/app:2");
  assert.equal(bare.status, 404);
  const bareBody = await bare.json();
  assert.equal(bareBody.code, "IMAGE_NOT_LOCAL");
  assert.match(bareBody.error, /docker\.io\/demo\/app:2.*nor "demo\/app:2" in this registry/);
});

test("/api/inspect of another registry's image, with no way to pull, is a clear 404", async () => {
  const req = serve(memoryStore());
  for (const ref of ["busybox", "ghcr.io/org/tool:2"]) {
    const res = await req(`/api/inspect?image=${encodeURIComponent(ref)}`);
    assert.equal(res.status, 404, ref);
    const body = await res.json();
    assert.equal(body.code, "IMAGE_NOT_LOCAL");
    assert.match(body.error, /does not pull from other registries/);
  }
  const res = await req("/api/inspect?image=busybox");
  assert.match((await res.json()).error, /docker\.io\/library\/busybox:latest/);
});

test("/api/inspect pulls other registries' images through the resolve hook", async () => {
  const store = memoryStore();
  const seen: string[] = [];
  // The hook stands in for the registry client: it "pulls" by loading an archive.
  const layer = await layerTar([{ name: "bin/busybox", body: "ELF", mode: 0o755 }]);
  const req = serve(store, {
    resolve: async (ref) => {
      seen.push(ref.toString());
      if (ref.repository !== "library/busybox") throw new ImageNotFoundError(ref.toString());
      const { tar } = await dockerArchive([layer], { repoTags: [ref.toString()] });
      await loadArchive(store, streamOf(tar));
      return await store.resolve(ref.toString());
    },
  });
  const res = await req("/api/inspect?image=busybox");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.source, "remote");
  assert.equal(body.reference, "docker.io/library/busybox:latest");
  assert.deepEqual(body.tree.map((e: { path: string }) => e.path), ["bin", "bin/busybox"]);
  assert.deepEqual(seen, ["docker.io/library/busybox:latest"]);

  const unknown = await req("/api/inspect?image=quay.io/nobody/nothing:1");
  assert.equal(unknown.status, 404);
  assert.match((await unknown.json()).error, /quay\.io\/nobody\/nothing:1/);
});

test("/api/inspect reports a failing resolve hook as 502 with its reason", async () => {
  const req = serve(memoryStore(), {
    resolve: () => Promise.reject(new Error("connection refused")),
  });
  const res = await req("/api/inspect?image=ghcr.io/org/tool:2");
  assert.equal(res.status, 502);
  const body = await res.json();
  assert.equal(body.code, "RESOLVE_FAILED");
  assert.match(body.error, /ghcr\.io\/org\/tool:2.*connection refused/);
});

test("/api/inspect asks for the registry's credentials when it has auth", async () => {
  const store = memoryStore();
  await pushedImage(store);
  const users = Htpasswd.parse(`alice:${bcrypt.hashSync("hunter2", 4)}`);
  const req = serve(store, { auth: basicAuth(users) });
  const anonymous = await req("/api/inspect?image=demo/app:1");
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get("www-authenticate")!, /^Basic/);
  assert.equal((await anonymous.json()).code, "UNAUTHORIZED");
  const alice = await req("/api/inspect?image=demo/app:1", {
    headers: { authorization: `Basic ${btoa("alice:hunter2")}` },
  });
  assert.equal(alice.status, 200);
});

test("/api/parse answers a Dockerfile's parse JSON", async () => {
  const text = "# syntax=docker/dockerfile:1\nFROM scratch AS base\nCOPY --chown=1:1 a b /x/\n" +
    'CMD ["/x/a"]\n';
  const res = await serve(memoryStore())("/api/parse", { method: "POST", body: text });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body, JSON.parse(toParseJson(parseDockerfile(text))));
  assert.deepEqual(body.instructions.map((i: { keyword: string }) => i.keyword), [
    "from",
    "copy",
    "cmd",
  ]);
  assert.equal(body.instructions[1].startLine, 3);
});

test("/api/parse answers 400 with the line of a syntax error", async () => {
  const res = await serve(memoryStore())("/api/parse", {
    method: "POST",
    body: "FROM scratch\n\nFROBNICATE now\n",
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.line, 3);
  assert.equal(body.code, "DOCKERFILE_INVALID");
  assert.match(body.error, /line 3: unknown instruction: FROBNICATE/i);
});

test("/api/parse refuses a Dockerfile over the size limit and the wrong method", async () => {
  const req = serve(memoryStore(), { maxDockerfileBytes: 64 });
  const big = await req("/api/parse", { method: "POST", body: "FROM scratch\n".repeat(10) });
  assert.equal(big.status, 413);
  assert.match((await big.json()).error, /64-byte limit/);
  const get = await req("/api/parse");
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  const unknown = await req("/api/nothing");
  assert.equal(unknown.status, 404);
});

test("/api/build answers 501 when the server has no build engine", async () => {
  const res = await serve(memoryStore())("/api/build", { method: "POST", body: "FROM scratch\n" });
  assert.equal(res.status, 501);
  const body = await res.json();
  assert.equal(body.code, "BUILD_UNAVAILABLE");
  assert.match(body.error, /no build engine/);
});

/**
 * A stand-in for builder/build.ts, which is tested on its own: it records what it was given
 * and stores a one-layer image of the whole context under the tag, as a build would.
 */
function fakeEngine(store: ImageStore) {
  const calls: Omit<DemoBuildRequest, "store" | "signal">[] = [];
  return {
    calls,
    build: async (request: DemoBuildRequest) => {
      assert.equal(request.store, store);
      calls.push({ dockerfile: request.dockerfile, context: request.context, tag: request.tag });
      const layer = await layerTar(
        [...request.context].map(([name, body]) => ({ name, body })),
      );
      const { tar } = await dockerArchive([layer], { repoTags: [request.tag] });
      const [loaded] = await loadArchive(store, streamOf(tar));
      return { imageId: loaded.id, manifestDigest: loaded.manifestDigest };
    },
  };
}

test("/api/build builds a multipart upload and the image is pullable from this server", async () => {
  const store = memoryStore();
  const engine = fakeEngine(store);
  const req = serve(store, { build: engine.build });
  const form = new FormData();
  const dockerfile = "FROM scratch\nCOPY . /\n";
  form.append("dockerfile", dockerfile);
  form.append("tag", "demo/hello:2");
  form.append("context", new Blob(["console.log(1)\n"]), "src/app.js");
  form.append("context", new Blob(["hello\n"]), "hello.txt");
  const res = await req("/api/build", { method: "POST", body: form });
  assert.equal(res.status, 201, await res.clone().text());
  const body = await res.json();
  assert.equal(body.reference, "127.0.0.1:5000/demo/hello:2");
  assert.equal(body.repository, "demo/hello");
  assert.equal(body.tag, "2");
  assert.equal(engine.calls.length, 1);
  assert.equal(engine.calls[0].dockerfile, dockerfile);
  assert.equal(engine.calls[0].tag, "localhost/demo/hello:2");
  assert.deepEqual(
    new Map([...engine.calls[0].context].map(([k, v]) => [k, new TextDecoder().decode(v)])),
    new Map([["src/app.js", "console.log(1)\n"], ["hello.txt", "hello\n"]]),
  );

  const manifest = await req("/v2/demo/hello/manifests/2", {
    headers: { accept: MediaType.DOCKER_MANIFEST + "," + MediaType.OCI_MANIFEST },
  });
  assert.equal(manifest.status, 200);
  assert.equal(manifest.headers.get("docker-content-digest"), body.manifestDigest);
  const byDigest = await req(`/v2/demo/hello/manifests/${body.manifestDigest}`);
  assert.equal(byDigest.status, 200);
  await byDigest.body?.cancel();
  const config = JSON.parse(await manifest.text()).config.digest;
  assert.equal(config, body.imageId);
  const inspected = await (await req("/api/inspect?image=demo/hello:2")).json();
  assert.deepEqual(inspected.tree.map((e: { path: string }) => e.path).sort(), [
    "hello.txt",
    "src",
    "src/app.js",
  ]);
});

test("/api/build reads a tar body with the Dockerfile inside and tags a fresh name", async () => {
  const store = memoryStore();
  const engine = fakeEngine(store);
  const req = serve(store, { build: engine.build });
  const tar = await packTar([
    { header: { name: "./", type: "directory", size: 0 } },
    { header: { name: "./Dockerfile", size: 24 }, body: enc.encode("FROM scratch\nCOPY a /a\n\n") },
    { header: { name: "./a", size: 2 }, body: enc.encode("a\n") },
  ]);
  const res = await req("/api/build", {
    method: "POST",
    headers: { "content-type": "application/x-tar" },
    body: tar as Uint8Array<ArrayBuffer>,
  });
  assert.equal(res.status, 201, await res.clone().text());
  const body = await res.json();
  assert.match(body.reference, /^127\.0\.0\.1:5000\/builds\/[0-9a-f]{12}:latest$/);
  assert.equal(engine.calls[0].dockerfile, "FROM scratch\nCOPY a /a\n\n");
  assert.deepEqual([...engine.calls[0].context.keys()].sort(), ["Dockerfile", "a"]);
  const pulled = await req(`/v2/${body.repository}/manifests/latest`);
  assert.equal(pulled.headers.get("docker-content-digest"), body.manifestDigest);
  await pulled.body?.cancel();
});

test("/api/build refuses RUN, bad Dockerfiles, bad tags and paths outside the context", async () => {
  const store = memoryStore();
  const engine = fakeEngine(store);
  const req = serve(store, { build: engine.build });
  const post = (body: BodyInit, headers: Record<string, string> = {}) =>
    req("/api/build", { method: "POST", body, headers });

  const run = await post("FROM scratch\nCOPY a /a\nRUN make\n");
  assert.equal(run.status, 400);
  const runBody = await run.json();
  assert.equal(runBody.line, 3);
  assert.match(runBody.error, /line 3: RUN is not available/);

  const syntax = await post("FROM scratch\nNOPE\n");
  assert.equal(syntax.status, 400);
  assert.equal((await syntax.json()).line, 2);

  const form = new FormData();
  form.append("dockerfile", "FROM scratch\n");
  form.append("tag", "Demo/Bad:1");
  const tag = await post(form);
  assert.equal(tag.status, 400);
  assert.match((await tag.json()).error, /Demo\/Bad/);

  const escape = new FormData();
  escape.append("dockerfile", "FROM scratch\n");
  escape.append("context", new Blob(["x"]), "../etc/passwd");
  const out = await post(escape);
  assert.equal(out.status, 400);
  assert.match((await out.json()).error, /\.\.\/etc\/passwd/);

  const stray = new FormData();
  stray.append("dockerfile", "FROM scratch\n");
  stray.append("password", "x");
  const strayRes = await post(stray);
  assert.equal(strayRes.status, 400);
  assert.match((await strayRes.json()).error, /"password"/);

  const noDockerfile = await post(
    await packTar([{ header: { name: "a", size: 1 }, body: enc.encode("a") }]) as Uint8Array<
      ArrayBuffer
    >,
    { "content-type": "application/x-tar" },
  );
  assert.equal(noDockerfile.status, 400);
  assert.match((await noDockerfile.json()).error, /no "Dockerfile"/);

  const json = await post("{}", { "content-type": "application/json" });
  assert.equal(json.status, 415);

  assert.equal(engine.calls.length, 0, "nothing reached the engine");
  assert.deepEqual(await store.tags.list(), [], "nothing was tagged");
});

test("/api/build reports an engine failure with the Dockerfile line it names", async () => {
  const req = serve(memoryStore(), {
    build: () =>
      Promise.reject(
        Object.assign(new Error('COPY failed: "missing.txt" not found in the context'), {
          line: 2,
        }),
      ),
  });
  const res = await req("/api/build", {
    method: "POST",
    body: "FROM scratch\nCOPY missing.txt /\n",
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.line, 2);
  assert.equal(body.code, "BUILD_FAILED");
  assert.match(body.error, /missing\.txt/);
});
