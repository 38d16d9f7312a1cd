// Blobs are scoped to repositories, as in the distribution registry: under a per-repository
// AccessPolicy, a digest alone does not read, probe or delete another repository's blob.
import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { type Digest, sha256 } from "../digest/mod.ts";
import { MediaType } from "../image/mod.ts";
import { type AccessPolicy, type Action, basicAuth, Htpasswd } from "../server/mod.ts";
import { type ImageStore, memoryStore, putBytes } from "../storage/mod.ts";
import {
  errorCode,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  testImage,
  testIndex,
  type TestManifest,
  withRegistry,
} from "./_served_registry.ts";

const HASH = bcrypt.hashSync("pw", 4);
const users = Htpasswd.parse(`alice:${HASH}\nbob:${HASH}\n`);

/** Each user owns `<user>/*`; anyone may pull `public/*`, and only bob may push there. */
const policy: AccessPolicy = (user, repo): Action[] => {
  if (repo === undefined) return [];
  if (repo.startsWith("public/")) return user === "bob" ? ["pull", "push", "delete"] : ["pull"];
  if (user && repo.startsWith(`${user}/`)) return ["pull", "push", "delete"];
  return [];
};

const as = (user: string) => ({ authorization: `Basic ${btoa(`${user}:pw`)}` });

type Req = (path: string, init?: RequestInit) => Promise<Response>;

/** `req` with `user`'s credentials on every request. */
function signedIn(req: Req, user: string): Req {
  return (path, init = {}) =>
    req(path, { ...init, headers: { ...as(user), ...(init.headers ?? {}) } });
}

async function status(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.body?.cancel();
  return r.status;
}

function withPolicyRegistry(
  fn: (r: { req: Req; alice: Req; bob: Req; store: ImageStore }) => Promise<void>,
): Promise<void> {
  return withRegistry({ auth: basicAuth(users, { policy }) }, async ({ req, store }) => {
    await fn({ req, alice: signedIn(req, "alice"), bob: signedIn(req, "bob"), store });
  });
}

test("a blob uploaded to one repository is unknown through another's path (GET, HEAD, DELETE)", async () => {
  await withPolicyRegistry(async ({ alice, bob, store }) => {
    const blob = await randomBlob(4096);
    assert.equal(await status(pushBlob(bob, "bob/private", blob)), 201);
    for (const method of ["GET", "HEAD", "DELETE"]) {
      const res = await alice(`/v2/alice/x/blobs/${blob.digest}`, { method });
      assert.equal(res.status, 404, method);
      if (method !== "HEAD") assert.equal(await errorCode(res), "BLOB_UNKNOWN", method);
      else await res.body?.cancel();
    }
    // alice may not use bob's repository at all.
    assert.equal(await status(alice(`/v2/bob/private/blobs/${blob.digest}`)), 403);
    assert.equal(
      await status(bob(`/v2/bob/private/blobs/${blob.digest}`, { method: "HEAD" })),
      200,
    );
    assert.equal(await store.blobs.has(blob.digest), true);
  });
});

test("anonymous users read only what a public repository links", async () => {
  await withPolicyRegistry(async ({ req, bob }) => {
    const secret = await testImage([512]);
    const open = await testImage([256]);
    assert.equal(await status(pushImage(bob, "bob/private", secret, "v1")), 201);
    assert.equal(await status(pushImage(bob, "public/app", open, "v1")), 201);
    for (const b of secret.blobs) {
      const res = await req(`/v2/public/app/blobs/${b.digest}`);
      assert.equal(res.status, 404);
      assert.equal(await errorCode(res), "BLOB_UNKNOWN");
    }
    const res = await req(`/v2/public/app/blobs/${secret.digest}`);
    assert.equal(res.status, 404, "nor is another repository's manifest a blob here");
    await res.body?.cancel();
    for (const b of [...open.blobs, open]) {
      const r = await req(`/v2/public/app/blobs/${b.digest}`);
      assert.equal(r.status, 200);
      assert.deepEqual(new Uint8Array(await r.arrayBuffer()), b.bytes);
    }
  });
});

test("a manifest may name only blobs linked in its repository", async () => {
  await withPolicyRegistry(async ({ alice, bob }) => {
    const secret = await testImage([300, 400]);
    assert.equal(await status(pushImage(bob, "bob/private", secret, "v1")), 201);
    // alice knows every digest and pushes the same manifest to her own repository.
    const res = await putManifest(alice, "alice/x", secret, "stolen");
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.errors[0].code, "MANIFEST_BLOB_UNKNOWN");
    assert.match(body.errors[0].message, /not in repository alice\/x/);
    assert.equal(await status(alice(`/v2/alice/x/blobs/${secret.blobs[1].digest}`)), 404);
    // Uploading the bytes herself proves she has them, and links them.
    assert.equal(await status(pushImage(alice, "alice/x", secret, "mine")), 201);
    assert.equal(await status(alice(`/v2/alice/x/blobs/${secret.blobs[1].digest}`)), 200);
  });
});

test("an index may name only manifests linked in its repository", async () => {
  await withPolicyRegistry(async ({ alice, bob }) => {
    const theirs = await testImage([100]);
    const mine = await testImage([200]);
    assert.equal(await status(pushImage(bob, "bob/private", theirs)), 201);
    assert.equal(await status(pushImage(alice, "alice/multi", mine)), 201);
    const index = await testIndex([mine, theirs]);
    const res = await putManifest(alice, "alice/multi", index, "v1");
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "MANIFEST_BLOB_UNKNOWN");
    assert.equal(await status(alice(`/v2/alice/multi/manifests/${theirs.digest}`)), 404);
    const own = await testIndex([mine]);
    assert.equal(await status(putManifest(alice, "alice/multi", own, "v1")), 201);
  });
});

test("a cross-repository mount needs pull access on `from` and a blob linked there", async () => {
  await withPolicyRegistry(async ({ alice, bob }) => {
    const blob = await randomBlob(1000);
    assert.equal(await status(pushBlob(bob, "bob/private", blob)), 201);
    const mount = (who: Req, repo: string, from: string | undefined) =>
      who(
        `/v2/${repo}/blobs/uploads/?mount=${blob.digest}` +
          (from === undefined ? "" : `&from=${from}`),
        { method: "POST" },
      );
    // Refused mounts fall back to an upload session (202), as the spec says.
    assert.equal(await status(mount(alice, "alice/x", "bob/private")), 202);
    assert.equal(await status(mount(alice, "alice/x", undefined)), 202);
    assert.equal(await status(mount(alice, "alice/x", "alice/empty")), 202);
    assert.equal(await status(alice(`/v2/alice/x/blobs/${blob.digest}`)), 404);
    // bob may pull bob/private, where the blob is linked: the mount links it into bob/copy.
    const res = await mount(bob, "bob/copy", "bob/private");
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("location"), `/v2/bob/copy/blobs/${blob.digest}`);
    await res.body?.cancel();
    assert.equal(await status(bob(`/v2/bob/copy/blobs/${blob.digest}`)), 200);
    // Not linked in bob/other, so nothing to mount from there.
    assert.equal(await status(mount(bob, "bob/third", "bob/other")), 202);
  });
});

test("DELETE of a blob unlinks it from that repository; the bytes go with the last link", async () => {
  await withPolicyRegistry(async ({ alice, bob, store }) => {
    const blob = await randomBlob(2000);
    assert.equal(await status(pushBlob(bob, "bob/a", blob)), 201);
    assert.equal(await status(pushBlob(alice, "alice/a", blob)), 201);
    assert.equal(
      await status(alice(`/v2/alice/a/blobs/${blob.digest}`, { method: "DELETE" })),
      202,
    );
    assert.equal(await status(alice(`/v2/alice/a/blobs/${blob.digest}`)), 404);
    assert.equal(await store.blobs.has(blob.digest), true, "bob's link keeps the bytes");
    assert.equal(await status(bob(`/v2/bob/a/blobs/${blob.digest}`)), 200);
    assert.equal(await status(bob(`/v2/bob/a/blobs/${blob.digest}`, { method: "DELETE" })), 202);
    assert.equal(await store.blobs.has(blob.digest), false);
  });
});

/** Writes `m` and its blobs into `store` and names it `name`, as load, build or tag do. */
async function storeImage(store: ImageStore, name: string, m: TestManifest): Promise<void> {
  for (const b of m.blobs) await putBytes(store.blobs, b.bytes, { digest: b.digest });
  await putBytes(store.blobs, m.bytes, { digest: m.digest });
  await store.tags.set(name, {
    mediaType: m.mediaType,
    digest: m.digest as Digest,
    size: m.bytes.length,
  });
}

test("images put in the store locally are served through the repositories that name them", async () => {
  const store = memoryStore();
  const a = await testImage([111, 222]);
  const b = await testImage([333]);
  await storeImage(store, "localhost/loaded/app:1", a);
  // b is in the store only as a child of an index, like one platform of a pulled index.
  for (const x of [...b.blobs, b]) await putBytes(store.blobs, x.bytes, { digest: x.digest });
  const index = await testIndex([b]);
  await storeImage(store, "localhost/loaded/multi:1", { ...index, blobs: [] });
  await withRegistry({ store }, async ({ req }) => {
    for (const x of [...a.blobs, a]) {
      assert.equal(await status(req(`/v2/loaded/app/blobs/${x.digest}`)), 200);
      assert.equal(await status(req(`/v2/other/repo/blobs/${x.digest}`)), 404);
    }
    // Through an index: its children and their blobs.
    for (const x of [...b.blobs, b, index]) {
      assert.equal(await status(req(`/v2/loaded/multi/blobs/${x.digest}`)), 200);
      assert.equal(await status(req(`/v2/loaded/app/blobs/${x.digest}`)), 404);
    }
    // A blob only the store has (no record names it) is in no repository.
    const loose = await randomBlob(64);
    await putBytes(store.blobs, loose.bytes, { digest: loose.digest });
    assert.equal(await status(req(`/v2/loaded/app/blobs/${loose.digest}`)), 404);
    assert.equal(
      await status(req(`/v2/loaded/app/blobs/${loose.digest}`, { method: "DELETE" })),
      404,
    );
    assert.equal(await store.blobs.has(loose.digest), true);
  });
});

test("an index that lists layers, as a build cache does, serves them through its repository", async () => {
  const store = memoryStore();
  const layers = [await randomBlob(700), await randomBlob(800)];
  for (const l of layers) await putBytes(store.blobs, l.bytes, { digest: l.digest });
  const bytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: l.digest,
      size: l.bytes.length,
    })),
  }));
  const index = { bytes, digest: await sha256(bytes), mediaType: MediaType.OCI_INDEX, blobs: [] };
  await storeImage(store, "localhost/cache/app:buildcache", index);
  await withRegistry({ store }, async ({ req }) => {
    for (const l of layers) {
      assert.equal(await status(req(`/v2/cache/app/blobs/${l.digest}`)), 200);
      assert.equal(await status(req(`/v2/other/app/blobs/${l.digest}`)), 404);
    }
  });
});
