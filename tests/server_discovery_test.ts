// distribution-spec "Content Discovery": tags list with pagination, _catalog and referrers,
// with raw HTTP.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MediaType } from "../image/mod.ts";
import { errorCode, pushImage, putManifest, testImage, withRegistry } from "./_served_registry.ts";

test("tags/list returns the repository's tags in lexical order", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage([10]);
    await pushImage(req, "disc/app", m, "v2");
    for (const t of ["v10", "latest", "v1"]) {
      await (await putManifest(req, "disc/app", m, t)).body?.cancel();
    }
    const res = await req("/v2/disc/app/tags/list");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: "disc/app", tags: ["latest", "v1", "v10", "v2"] });
  });
});

test("tags/list pages with n and last and links the next page", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage([10]);
    await pushImage(req, "disc/app", m, "a");
    for (const t of ["b", "c", "d", "e"]) {
      await (await putManifest(req, "disc/app", m, t)).body?.cancel();
    }
    let res = await req("/v2/disc/app/tags/list?n=2");
    assert.deepEqual((await res.json()).tags, ["a", "b"]);
    const link = res.headers.get("link");
    assert.equal(link, '</v2/disc/app/tags/list?n=2&last=b>; rel="next"');
    res = await req(link!.slice(1, link!.indexOf(">")));
    assert.deepEqual((await res.json()).tags, ["c", "d"]);
    res = await req("/v2/disc/app/tags/list?n=2&last=d");
    assert.deepEqual((await res.json()).tags, ["e"]);
    assert.equal(res.headers.get("link"), null, "no next page after the last");
    res = await req("/v2/disc/app/tags/list?last=c");
    assert.deepEqual((await res.json()).tags, ["d", "e"]);
    res = await req("/v2/disc/app/tags/list?n=0");
    assert.deepEqual((await res.json()).tags, []);
  });
});

test("tags/list of an unknown repository is 404 NAME_UNKNOWN; a bad n is 400", async () => {
  await withRegistry({}, async ({ req }) => {
    let res = await req("/v2/disc/none/tags/list");
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), "NAME_UNKNOWN");
    await pushImage(req, "disc/app", await testImage([1]), "v1");
    res = await req("/v2/disc/app/tags/list?n=-1");
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "PAGINATION_NUMBER_INVALID");
  });
});

test("_catalog lists repositories with pagination", async () => {
  await withRegistry({}, async ({ req }) => {
    const m = await testImage([10]);
    for (const r of ["c/one", "a/one", "b/one"]) await pushImage(req, r, m, "v1");
    let res = await req("/v2/_catalog");
    assert.deepEqual(await res.json(), { repositories: ["a/one", "b/one", "c/one"] });
    res = await req("/v2/_catalog?n=1&last=a/one");
    assert.deepEqual(await res.json(), { repositories: ["b/one"] });
    assert.match(res.headers.get("link") ?? "", /^<\/v2\/_catalog\?n=1&last=b%2Fone>; rel="next"$/);
  });
});

test("referrers lists the manifests whose subject is the digest, with artifactType", async () => {
  await withRegistry({}, async ({ req }) => {
    const subject = await testImage([10]);
    await pushImage(req, "disc/app", subject, "v1");
    const sig = await testImage([5], {
      subject,
      artifactType: "application/vnd.example.sig",
      annotations: { "org.example.kind": "signature" },
    });
    const sbom = await testImage([6], { subject, artifactType: "application/vnd.example.sbom" });
    const unrelated = await testImage([7]);
    for (const m of [sig, sbom, unrelated]) await pushImage(req, "disc/app", m);
    const res = await req(`/v2/disc/app/referrers/${subject.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), MediaType.OCI_INDEX);
    const index = await res.json();
    assert.equal(index.mediaType, MediaType.OCI_INDEX);
    const byDigest = new Map(index.manifests.map((d: { digest: string }) => [d.digest, d]));
    assert.equal(byDigest.size, 2);
    assert.deepEqual(byDigest.get(sig.digest), {
      mediaType: MediaType.OCI_MANIFEST,
      digest: sig.digest,
      size: sig.bytes.length,
      artifactType: "application/vnd.example.sig",
      annotations: { "org.example.kind": "signature" },
    });
    assert.equal(
      (byDigest.get(sbom.digest) as { artifactType: string }).artifactType,
      "application/vnd.example.sbom",
    );
  });
});

test("referrers filtered by artifactType says so in OCI-Filters-Applied", async () => {
  await withRegistry({}, async ({ req }) => {
    const subject = await testImage([10]);
    const sig = await testImage([5], { subject, artifactType: "application/vnd.example.sig" });
    const sbom = await testImage([6], { subject, artifactType: "application/vnd.example.sbom" });
    for (const m of [sig, sbom]) await pushImage(req, "disc/app", m);
    const res = await req(
      `/v2/disc/app/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`,
    );
    assert.equal(res.headers.get("oci-filters-applied"), "artifactType");
    const index = await res.json();
    assert.deepEqual(index.manifests.map((d: { digest: string }) => d.digest), [sbom.digest]);
  });
});

test("referrers of a digest nothing refers to is an empty index, a bad digest 400", async () => {
  await withRegistry({}, async ({ req }) => {
    let res = await req(`/v2/disc/app/referrers/sha256:${"e".repeat(64)}`);
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).manifests, []);
    res = await req("/v2/disc/app/referrers/sha256:zz");
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "DIGEST_INVALID");
  });
});

test("a referrer without artifactType takes its config's media type", async () => {
  await withRegistry({}, async ({ req }) => {
    const subject = await testImage([10]);
    const ref = await testImage([3], { subject });
    await pushImage(req, "disc/app", ref);
    const index = await (await req(`/v2/disc/app/referrers/${subject.digest}`)).json();
    assert.equal(index.manifests[0].artifactType, MediaType.OCI_CONFIG);
  });
});
