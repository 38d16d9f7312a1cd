// distribution-spec "Push": uploads (monolithic, chunked, single POST), mounts and manifests,
// with raw HTTP.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { MediaType } from "../image/mod.ts";
import { openStore } from "../storage/mod.ts";
import {
  bytesOf,
  errorCode,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  testImage,
  testIndex,
  type TestRegistry,
  textBlob,
  withRegistry,
} from "./_served_registry.ts";

async function startUpload(req: TestRegistry["req"], repo: string): Promise<string> {
  const res = await req(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(res.status, 202);
  await res.body?.cancel();
  const location = res.headers.get("location");
  assert.ok(location);
  assert.ok(res.headers.get("docker-upload-uuid"));
  return location;
}

function bodyOf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

test("POST then PUT ?digest= uploads a blob in one piece", async () => {
  await withRegistry({}, async ({ req, store }) => {
    const b = await randomBlob(5000);
    const loc = await startUpload(req, "push/app");
    const res = await req(`${loc}?digest=${b.digest}`, { method: "PUT", body: bodyOf(b.bytes) });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("location"), `/v2/push/app/blobs/${b.digest}`);
    assert.equal(res.headers.get("docker-content-digest"), b.digest);
    assert.ok(await store.blobs.has(b.digest));
  });
});

test("POST ?digest= with the body uploads a blob in one request", async () => {
  await withRegistry({}, async ({ req }) => {
    const b = await randomBlob(3000);
    const res = await pushBlob(req, "push/app", b);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("docker-content-digest"), b.digest);
    assert.deepEqual(await bytesOf(await req(`/v2/push/app/blobs/${b.digest}`)), b.bytes);
  });
});

test("a body that does not hash to the digest is 400 DIGEST_INVALID and stores nothing", async () => {
  await withRegistry({}, async ({ req, store }) => {
    const b = await randomBlob(100);
    const other = await randomBlob(100);
    const res = await pushBlob(req, "push/app", { bytes: other.bytes, digest: b.digest });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "DIGEST_INVALID");
    assert.equal(await store.blobs.has(b.digest), false);
    assert.equal(await store.blobs.has(other.digest), false);
  });
});

test("chunks with Content-Range are appended in order and the status shows the offset", async () => {
  await withRegistry({}, async ({ req }) => {
    const b = await randomBlob(30_000);
    const loc = await startUpload(req, "push/chunks");
    let res = await req(loc, {
      method: "PATCH",
      headers: { "content-range": "0-9999", "content-type": "application/octet-stream" },
      body: bodyOf(b.bytes.slice(0, 10_000)),
    });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("range"), "0-9999");
    res = await req(res.headers.get("location")!, {
      method: "PATCH",
      headers: { "content-range": "10000-19999" },
      body: bodyOf(b.bytes.slice(10_000, 20_000)),
    });
    assert.equal(res.headers.get("range"), "0-19999");
    const status = await req(loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get("range"), "0-19999");
    res = await req(`${loc}?digest=${b.digest}`, {
      method: "PUT",
      headers: { "content-range": "20000-29999" },
      body: bodyOf(b.bytes.slice(20_000)),
    });
    assert.equal(res.status, 201);
    assert.deepEqual(await bytesOf(await req(`/v2/push/chunks/blobs/${b.digest}`)), b.bytes);
  });
});

test("a chunk out of order is 416 with the current Range, and the upload continues", async () => {
  await withRegistry({}, async ({ req }) => {
    const b = await randomBlob(200);
    const loc = await startUpload(req, "push/chunks");
    await req(loc, {
      method: "PATCH",
      headers: { "content-range": "0-99" },
      body: bodyOf(b.bytes.slice(0, 100)),
    });
    let res = await req(loc, {
      method: "PATCH",
      headers: { "content-range": "150-199" },
      body: bodyOf(b.bytes.slice(150)),
    });
    assert.equal(res.status, 416);
    assert.equal(res.headers.get("range"), "0-99");
    assert.equal(await errorCode(res), "BLOB_UPLOAD_INVALID");
    res = await req(loc, {
      method: "PATCH",
      headers: { "content-range": "garbage" },
      body: bodyOf(b.bytes.slice(100)),
    });
    assert.equal(res.status, 416);
    await res.body?.cancel();
    res = await req(loc, {
      method: "PATCH",
      headers: { "content-range": "100-199" },
      body: bodyOf(b.bytes.slice(100)),
    });
    assert.equal(res.status, 202);
    res = await req(`${loc}?digest=${b.digest}`, { method: "PUT" });
    assert.equal(res.status, 201);
  });
});

test("a PATCH without Content-Range streams the whole blob (docker's way)", async () => {
  await withRegistry({}, async ({ req }) => {
    const b = await randomBlob(70_000);
    const loc = await startUpload(req, "push/stream");
    const res = await req(loc, { method: "PATCH", body: bodyOf(b.bytes) });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("range"), "0-69999");
    const done = await req(`${loc}?digest=${b.digest}`, { method: "PUT" });
    assert.equal(done.status, 201);
  });
});

test("finishing without a digest, or with the wrong one, is 400 DIGEST_INVALID", async () => {
  await withRegistry({}, async ({ req, store }) => {
    const b = await randomBlob(100);
    const loc = await startUpload(req, "push/app");
    await req(loc, { method: "PATCH", body: bodyOf(b.bytes) });
    let res = await req(loc, { method: "PUT" });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "DIGEST_INVALID");
    res = await req(`${loc}?digest=sha256:${"a".repeat(64)}`, { method: "PUT" });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "DIGEST_INVALID");
    assert.equal(await store.blobs.has(`sha256:${"a".repeat(64)}`), false);
    assert.equal(await store.blobs.has(b.digest), false);
    res = await req(loc);
    assert.equal(res.status, 404, "a rejected upload's session is gone");
    assert.equal(await errorCode(res), "BLOB_UPLOAD_UNKNOWN");
  });
});

test("an unknown or cancelled upload is 404 BLOB_UPLOAD_UNKNOWN", async () => {
  await withRegistry({}, async ({ req }) => {
    let res = await req("/v2/push/app/blobs/uploads/no-such-session");
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "BLOB_UPLOAD_UNKNOWN");
    const loc = await startUpload(req, "push/app");
    res = await req(loc, { method: "DELETE" });
    assert.equal(res.status, 204);
    res = await req(loc, { method: "PATCH", body: "x" });
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "BLOB_UPLOAD_UNKNOWN");
    const other = await startUpload(req, "push/app");
    res = await req(other.replace("push/app", "push/elsewhere"));
    assert.equal(res.status, 404, "a session belongs to its repository");
    await res.body?.cancel();
  });
});

test("a mount from another repository is 201 when the blob exists, else an upload starts", async () => {
  await withRegistry({}, async ({ req }) => {
    const b = await randomBlob(100);
    await (await pushBlob(req, "push/source", b)).body?.cancel();
    let res = await req(`/v2/push/dest/blobs/uploads/?mount=${b.digest}&from=push/source`, {
      method: "POST",
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("location"), `/v2/push/dest/blobs/${b.digest}`);
    assert.equal(res.headers.get("docker-content-digest"), b.digest);
    res = await req(
      `/v2/push/dest/blobs/uploads/?mount=sha256:${"b".repeat(64)}&from=push/source`,
      {
        method: "POST",
      },
    );
    assert.equal(res.status, 202);
    assert.ok(res.headers.get("location")?.startsWith("/v2/push/dest/blobs/uploads/"));
    await res.body?.cancel();
  });
});

test("a pushed manifest keeps its exact bytes and names store records under the namespace", async () => {
  await withRegistry({}, async ({ req, store }) => {
    const m = await testImage([10]);
    // Pretty-printed JSON: a re-serialization would change the digest.
    const pretty = new TextEncoder().encode(
      JSON.stringify(JSON.parse(new TextDecoder().decode(m.bytes)), null, 3) + "\n",
    );
    const digest = `sha256:${
      Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", pretty)))
        .map((x) => x.toString(16).padStart(2, "0")).join("")
    }`;
    const res = await pushImage(req, "push/exact", { ...m, bytes: pretty, digest }, "v1");
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("docker-content-digest"), digest);
    assert.equal(res.headers.get("location"), `/v2/push/exact/manifests/${digest}`);
    const got = await req("/v2/push/exact/manifests/v1");
    assert.deepEqual(await bytesOf(got), pretty);
    const names = (await store.tags.list()).map((r) => r.name);
    assert.deepEqual(names, [`localhost/push/exact:v1`, `localhost/push/exact@${digest}`].sort());
    const img = await store.resolve("localhost/push/exact:v1");
    assert.equal(img.manifestDigest, digest);
  });
});

test("a manifest naming a blob not in the registry is 400 MANIFEST_BLOB_UNKNOWN", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage([10, 20]);
    for (const b of m.blobs.slice(0, 2)) await (await pushBlob(req, "push/app", b)).body?.cancel();
    const res = await putManifest(req, "push/app", m, "v1");
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.errors[0].code, "MANIFEST_BLOB_UNKNOWN");
    assert.equal(body.errors[0].detail.digest, m.blobs[2].digest);
    assert.equal(body.errors[0].detail.field, "layers[1]");
  });
});

test("a malformed manifest is 400 MANIFEST_INVALID naming the field", async () => {
  await withRegistry({}, async ({ req }) => {
    let res = await req("/v2/push/app/manifests/v1", {
      method: "PUT",
      headers: { "content-type": MediaType.OCI_MANIFEST },
      body: "{not json",
    });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "MANIFEST_INVALID");
    res = await req("/v2/push/app/manifests/v1", {
      method: "PUT",
      headers: { "content-type": MediaType.OCI_MANIFEST },
      body: JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        config: { mediaType: MediaType.OCI_CONFIG, digest: "sha256:nothex", size: 1 },
        layers: [],
      }),
    });
    const body = await res.json();
    assert.equal(body.errors[0].code, "MANIFEST_INVALID");
    assert.equal(body.errors[0].detail.field, "config.digest");
  });
});

test("a descriptor whose size disagrees with the stored blob is MANIFEST_INVALID", async () => {
  await withRegistry({}, async ({ req }) => {
    const cfg = await textBlob("{}");
    await (await pushBlob(req, "push/app", cfg)).body?.cancel();
    const res = await req("/v2/push/app/manifests/v1", {
      method: "PUT",
      headers: { "content-type": MediaType.OCI_MANIFEST },
      body: JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        config: { mediaType: MediaType.OCI_CONFIG, digest: cfg.digest, size: 99 },
        layers: [],
      }),
    });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "MANIFEST_INVALID");
  });
});

test("a manifest PUT by digest must hash to that digest", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage([10]);
    const res = await pushImage(req, "push/app", m, `sha256:${"c".repeat(64)}`);
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "DIGEST_INVALID");
  });
});

test("an index naming a manifest not yet pushed is refused; pushed after it, accepted", async () => {
  await withRegistry({}, async ({ req }) => {
    const a = await testImage([10]);
    const idx = await testIndex([a]);
    let res = await putManifest(req, "push/multi", idx, "latest");
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "MANIFEST_BLOB_UNKNOWN");
    assert.equal((await pushImage(req, "push/multi", a)).status, 201);
    res = await putManifest(req, "push/multi", idx, "latest");
    assert.equal(res.status, 201);
  });
});

test("a manifest whose subject is not pushed yet is accepted and answers OCI-Subject", async () => {
  await withRegistry({}, async ({ req }) => {
    const subject = await testImage([10]);
    const sig = await testImage([5], { subject, artifactType: "application/vnd.example.sig" });
    const res = await pushImage(req, "push/app", sig);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("oci-subject"), subject.digest);
    const got = await req(`/v2/push/app/manifests/${sig.digest}`);
    assert.equal(got.headers.get("oci-subject"), subject.digest);
    await got.body?.cancel();
  });
});

test("a manifest over the size limit is 413", async () => {
  await withRegistry({ maxManifestBytes: 512 }, async ({ req }) => {
    const m = await testImage(new Array(10).fill(1));
    assert.ok(m.bytes.length > 512);
    const res = await pushImage(req, "push/app", m, "v1");
    assert.equal(res.status, 413);
    assert.equal(await errorCode(res), "MANIFEST_INVALID");
  });
});

test("a blob over the size limit is 413 SIZE_INVALID and its upload is dropped", async () => {
  await withRegistry({ maxBlobBytes: 1000 }, async ({ req, store }) => {
    const b = await randomBlob(1500);
    let res = await pushBlob(req, "push/app", b);
    assert.equal(res.status, 413);
    assert.equal(await errorCode(res), "SIZE_INVALID");
    const loc = await startUpload(req, "push/app");
    res = await req(loc, { method: "PATCH", body: bodyOf(b.bytes) });
    assert.equal(res.status, 413);
    await res.body?.cancel();
    res = await req(loc);
    assert.equal(res.status, 404);
    await res.body?.cancel();
    assert.equal(await store.blobs.has(b.digest), false);
  });
});

test("uploads beyond the concurrency limit get 429 TOOMANYREQUESTS", async () => {
  await withRegistry({ maxUploads: 2 }, async ({ req }) => {
    const first = await startUpload(req, "push/app");
    await startUpload(req, "push/app");
    let res = await req("/v2/push/app/blobs/uploads/", { method: "POST" });
    assert.equal(res.status, 429);
    assert.equal(await errorCode(res), "TOOMANYREQUESTS");
    assert.ok(res.headers.get("retry-after"));
    await (await req(first, { method: "DELETE" })).body?.cancel();
    res = await req("/v2/push/app/blobs/uploads/", { method: "POST" });
    assert.equal(res.status, 202);
    await res.body?.cancel();
  });
});

test("an upload session idle past its timeout expires and loses its bytes", async () => {
  let clock = 1_000_000;
  const root = await mkdtemp(join(tmpdir(), "stratum-expiry-"));
  try {
    const store = await openStore(root);
    await withRegistry({ store, uploadTimeoutMs: 60_000, now: () => clock }, async ({ req }) => {
      const loc = await startUpload(req, "push/app");
      await (await req(loc, { method: "PATCH", body: "partial" })).body?.cancel();
      assert.notDeepEqual(await readdir(join(root, "ingest")), [], "the bytes are held");
      clock += 30_000;
      let res = await req(loc);
      assert.equal(res.status, 204, "still alive inside the timeout");
      clock += 61_000;
      res = await req(loc);
      assert.equal(res.status, 404);
      assert.equal(await errorCode(res), "BLOB_UPLOAD_UNKNOWN");
      assert.deepEqual(await readdir(join(root, "ingest")), [], "the partial bytes were discarded");
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("a read-only registry refuses pushes and deletes with 405 UNSUPPORTED but serves pulls", async () => {
  await withRegistry({ readOnly: true }, async ({ req }) => {
    for (
      const [method, path] of [
        ["POST", "/v2/ro/app/blobs/uploads/"],
        ["PUT", "/v2/ro/app/manifests/v1"],
        ["DELETE", "/v2/ro/app/manifests/v1"],
        ["DELETE", `/v2/ro/app/blobs/sha256:${"d".repeat(64)}`],
      ]
    ) {
      const res = await req(path, { method, body: method === "GET" ? undefined : "{}" });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(await errorCode(res), "UNSUPPORTED");
    }
    const res = await req("/v2/");
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});
