// distribution-spec "Pull": manifests and blobs by tag and digest, with raw HTTP.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MediaType } from "../image/mod.ts";
import {
  bytesOf,
  errorCode,
  pushBlob,
  pushImage,
  randomBlob,
  testImage,
  testIndex,
  withRegistry,
} from "./_served_registry.ts";

test("GET /v2/ answers 200 with the API version header", async () => {
  await withRegistry({}, async ({ req }) => {
    const res = await req("/v2/");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
    assert.deepEqual(await res.json(), {});
  });
});

test("a manifest is served by tag and by digest with its exact bytes", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage();
    assert.equal((await pushImage(req, "pull/app", m, "v1")).status, 201);
    for (const ref of ["v1", m.digest]) {
      const res = await req(`/v2/pull/app/manifests/${ref}`, {
        headers: { accept: MediaType.OCI_MANIFEST },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), MediaType.OCI_MANIFEST);
      assert.equal(res.headers.get("docker-content-digest"), m.digest);
      assert.deepEqual(await bytesOf(res), m.bytes);
    }
  });
});

test("HEAD on a manifest gives its length and digest and no body", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage();
    await pushImage(req, "pull/app", m, "v1");
    const res = await req("/v2/pull/app/manifests/v1", { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), String(m.bytes.length));
    assert.equal(res.headers.get("docker-content-digest"), m.digest);
    assert.equal((await bytesOf(res)).length, 0);
  });
});

test("an unknown tag or digest is 404 MANIFEST_UNKNOWN, HEAD included", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage();
    await pushImage(req, "pull/app", m, "v1");
    let res = await req("/v2/pull/app/manifests/nope");
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "MANIFEST_UNKNOWN");
    res = await req(`/v2/pull/app/manifests/sha256:${"0".repeat(64)}`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "MANIFEST_UNKNOWN");
    res = await req("/v2/pull/app/manifests/nope", { method: "HEAD" });
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });
});

test("a manifest pushed to one repository is not served from another", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage();
    await pushImage(req, "pull/a", m, "v1");
    const res = await req(`/v2/pull/b/manifests/${m.digest}`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "MANIFEST_UNKNOWN");
  });
});

test("an invalid repository name is 400 NAME_INVALID", async () => {
  await withRegistry({}, async ({ req }) => {
    const res = await req("/v2/Upper/Case/manifests/latest");
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "NAME_INVALID");
  });
});

test("a malformed digest is 400 DIGEST_INVALID", async () => {
  await withRegistry({}, async ({ req }) => {
    for (const path of ["/v2/pull/app/blobs/sha256:xyz", "/v2/pull/app/manifests/sha256:12"]) {
      const res = await req(path);
      assert.equal(res.status, 400, path);
      assert.equal(await errorCode(res), "DIGEST_INVALID");
    }
  });
});

test("a blob is served with its digest, and HEAD gives its length", async () => {
  await withRegistry({}, async ({ req }) => {
    const b = await randomBlob(100_000);
    await (await pushBlob(req, "pull/app", b)).body?.cancel();
    const res = await req(`/v2/pull/app/blobs/${b.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("docker-content-digest"), b.digest);
    assert.deepEqual(await bytesOf(res), b.bytes);
    const head = await req(`/v2/pull/app/blobs/${b.digest}`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "100000");
    await head.body?.cancel();
  });
});

test("an unknown blob is 404 BLOB_UNKNOWN", async () => {
  await withRegistry({}, async ({ req }) => {
    const res = await req(`/v2/pull/app/blobs/sha256:${"1".repeat(64)}`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "BLOB_UNKNOWN");
    const head = await req(`/v2/pull/app/blobs/sha256:${"1".repeat(64)}`, { method: "HEAD" });
    assert.equal(head.status, 404);
    await head.body?.cancel();
  });
});

test("Range requests get 206 with Content-Range, and 416 outside the blob", async () => {
  await withRegistry({}, async ({ req }) => {
    const b = await randomBlob(1000);
    await (await pushBlob(req, "pull/app", b)).body?.cancel();
    let res = await req(`/v2/pull/app/blobs/${b.digest}`, { headers: { range: "bytes=10-19" } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get("content-range"), "bytes 10-19/1000");
    assert.deepEqual(await bytesOf(res), b.bytes.slice(10, 20));
    res = await req(`/v2/pull/app/blobs/${b.digest}`, { headers: { range: "bytes=-5" } });
    assert.equal(res.status, 206);
    assert.deepEqual(await bytesOf(res), b.bytes.slice(995));
    res = await req(`/v2/pull/app/blobs/${b.digest}`, { headers: { range: "bytes=990-" } });
    assert.deepEqual(await bytesOf(res), b.bytes.slice(990));
    res = await req(`/v2/pull/app/blobs/${b.digest}`, { headers: { range: "bytes=1000-1001" } });
    assert.equal(res.status, 416);
    assert.equal(res.headers.get("content-range"), "bytes */1000");
    await res.body?.cancel();
  });
});

test("an index's children are pullable by digest from the index's repository", async () => {
  await withRegistry({}, async ({ req }) => {
    const a = await testImage([10]);
    const b = await testImage([20]);
    for (const m of [a, b]) await pushImage(req, "pull/multi", m);
    const idx = await testIndex([a, b]);
    assert.equal((await pushImage(req, "pull/multi", idx, "latest")).status, 201);
    const res = await req("/v2/pull/multi/manifests/latest");
    assert.equal(res.headers.get("content-type"), MediaType.OCI_INDEX);
    assert.deepEqual(await bytesOf(res), idx.bytes);
    const child = await req(`/v2/pull/multi/manifests/${b.digest}`);
    assert.equal(child.status, 200);
    assert.deepEqual(await bytesOf(child), b.bytes);
  });
});

test("a client whose Accept header leaves out the manifest's type gets MANIFEST_UNKNOWN", async () => {
  await withRegistry({}, async ({ req }) => {
    const idx = await testIndex([]);
    await pushImage(req, "pull/neg", idx, "v1");
    const res = await req("/v2/pull/neg/manifests/v1", {
      headers: { accept: MediaType.DOCKER_MANIFEST },
    });
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "MANIFEST_UNKNOWN");
    const ok = await req("/v2/pull/neg/manifests/v1", {
      headers: { accept: `${MediaType.DOCKER_MANIFEST}, ${MediaType.OCI_INDEX}` },
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
});

test("a method an endpoint does not support is 405 UNSUPPORTED", async () => {
  await withRegistry({}, async ({ req }) => {
    const res = await req("/v2/pull/app/tags/list", { method: "POST" });
    assert.equal(res.status, 405);
    assert.equal(await errorCode(res), "UNSUPPORTED");
  });
});
