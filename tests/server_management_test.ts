// distribution-spec "Content Management": deleting tags, manifests and blobs, with raw HTTP.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  errorCode,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  testImage,
  withRegistry,
} from "./_served_registry.ts";

test("DELETE of a tag removes the tag and keeps the manifest pullable by digest", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage([10]);
    await pushImage(req, "mgmt/app", m, "v1");
    await (await putManifest(req, "mgmt/app", m, "v2")).body?.cancel();
    let res = await req("/v2/mgmt/app/manifests/v1", { method: "DELETE" });
    assert.equal(res.status, 202);
    await res.body?.cancel();
    res = await req("/v2/mgmt/app/manifests/v1");
    assert.equal(res.status, 404);
    await res.body?.cancel();
    assert.deepEqual((await (await req("/v2/mgmt/app/tags/list")).json()).tags, ["v2"]);
    res = await req(`/v2/mgmt/app/manifests/${m.digest}`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});

test("DELETE of a manifest by digest removes it and every tag pointing at it", async () => {
  await withRegistry({}, async ({ req, store }) => {
    const m = await testImage([10]);
    const keep = await testImage([11]);
    await pushImage(req, "mgmt/app", m, "v1");
    await (await putManifest(req, "mgmt/app", m, "v2")).body?.cancel();
    await pushImage(req, "mgmt/app", keep, "other");
    await pushImage(req, "mgmt/elsewhere", m, "v1");
    const res = await req(`/v2/mgmt/app/manifests/${m.digest}`, { method: "DELETE" });
    assert.equal(res.status, 202);
    await res.body?.cancel();
    for (const ref of ["v1", "v2", m.digest]) {
      const r = await req(`/v2/mgmt/app/manifests/${ref}`);
      assert.equal(r.status, 404, ref);
      assert.equal(await errorCode(r), "MANIFEST_UNKNOWN");
    }
    assert.deepEqual((await (await req("/v2/mgmt/app/tags/list")).json()).tags, ["other"]);
    const names = (await store.tags.list()).map((r) => r.name);
    assert.ok(names.includes("localhost/mgmt/elsewhere:v1"), "other repositories keep theirs");
  });
});

test("DELETE of an unknown manifest is 404 MANIFEST_UNKNOWN", async () => {
  await withRegistry({}, async ({ req }) => {
    for (const ref of ["nope", `sha256:${"f".repeat(64)}`]) {
      const res = await req(`/v2/mgmt/app/manifests/${ref}`, { method: "DELETE" });
      assert.equal(res.status, 404);
      assert.equal(await errorCode(res), "MANIFEST_UNKNOWN");
    }
  });
});

test("DELETE of a blob is 202 and it is gone; an unknown blob is 404 BLOB_UNKNOWN", async () => {
  await withRegistry({}, async ({ req, store }) => {
    const b = await randomBlob(100);
    await (await pushBlob(req, "mgmt/app", b)).body?.cancel();
    let res = await req(`/v2/mgmt/app/blobs/${b.digest}`, { method: "DELETE" });
    assert.equal(res.status, 202);
    await res.body?.cancel();
    assert.equal(await store.blobs.has(b.digest), false);
    res = await req(`/v2/mgmt/app/blobs/${b.digest}`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
    res = await req(`/v2/mgmt/app/blobs/${b.digest}`, { method: "DELETE" });
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "BLOB_UNKNOWN");
  });
});

test("a blob still used by a manifest cannot be deleted until the manifest is", async () => {
  await withRegistry({}, async ({ req, store }) => {
    const m = await testImage([10]);
    await pushImage(req, "mgmt/app", m, "v1");
    const layer = m.blobs[1].digest;
    let res = await req(`/v2/mgmt/app/blobs/${layer}`, { method: "DELETE" });
    assert.equal(res.status, 403);
    const body = await res.json();
    assert.equal(body.errors[0].code, "DENIED");
    assert.equal(body.errors[0].detail.usedBy, `localhost/mgmt/app:v1`);
    await (await req(`/v2/mgmt/app/manifests/${m.digest}`, { method: "DELETE" })).body?.cancel();
    res = await req(`/v2/mgmt/app/blobs/${layer}`, { method: "DELETE" });
    assert.equal(res.status, 202);
    await res.body?.cancel();
    const { problems } = await store.fsck();
    assert.deepEqual(problems, []);
  });
});
