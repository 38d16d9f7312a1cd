// Chunked uploads into a disk store: each PATCH is hashed once as it arrives, the final PUT
// verifies the digest (a mismatch leaves nothing behind), and an upload outlives a restart.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import { openStore } from "../storage/mod.ts";
import { errorCode, startRegistry, type TestRegistry } from "./_served_registry.ts";

const MIB = 1 << 20;

async function onDisk(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "stratum-upload-"));
  try {
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function post(r: TestRegistry, repo: string): Promise<string> {
  const res = await r.req(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(res.status, 202);
  return res.headers.get("location")!;
}

/** PATCHes `bytes[from, to)` with its Content-Range; asserts the Range the server reports. */
async function patch(
  r: TestRegistry,
  location: string,
  bytes: Uint8Array,
  from: number,
  to: number,
): Promise<void> {
  const res = await r.req(location, {
    method: "PATCH",
    headers: { "content-range": `${from}-${to - 1}` },
    body: bytes.slice(from, to),
  });
  assert.equal(res.status, 202, await res.text());
  assert.equal(res.headers.get("range"), `0-${to - 1}`);
}

async function ingestFiles(root: string): Promise<string[]> {
  return await readdir(join(root, "ingest")).catch(() => []);
}

test("a 24 MiB blob sent in six PATCHes to a disk store is committed on PUT and reads back", async () => {
  await onDisk(async (root) => {
    const r = await startRegistry({ store: await openStore(root) });
    try {
      const bytes = new Uint8Array(randomBytes(24 * MIB));
      const digest = await sha256(bytes);
      const loc = await post(r, "up/big");
      for (let at = 0; at < bytes.length; at += 4 * MIB) {
        await patch(r, loc, bytes, at, at + 4 * MIB);
      }
      const res = await r.req(`${loc}?digest=${digest}`, { method: "PUT" });
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get("docker-content-digest"), digest);
      const got = await r.req(`/v2/up/big/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.equal(await sha256(new Uint8Array(await got.arrayBuffer())), digest);
      assert.deepEqual(await ingestFiles(root), [], "the upload's write left the ingest area");
    } finally {
      await r.close();
    }
  });
});

test("a final PUT whose digest the chunks do not hash to is DIGEST_INVALID and leaves no blob", async () => {
  await onDisk(async (root) => {
    const store = await openStore(root);
    const r = await startRegistry({ store });
    try {
      const bytes = new Uint8Array(randomBytes(6 * MIB));
      const digest = await sha256(bytes);
      // The digest of the same bytes but the last one: only hashing every chunk tells them apart.
      const wrong = await sha256(bytes.subarray(0, bytes.length - 1));
      const loc = await post(r, "up/bad");
      for (let at = 0; at < bytes.length; at += 2 * MIB) {
        await patch(r, loc, bytes, at, at + 2 * MIB);
      }
      const res = await r.req(`${loc}?digest=${wrong}`, { method: "PUT" });
      assert.equal(res.status, 400);
      assert.equal(await errorCode(res), "DIGEST_INVALID");
      assert.equal(await store.blobs.has(wrong), false);
      assert.equal(await store.blobs.has(digest), false);
      assert.deepEqual(await ingestFiles(root), [], "the rejected upload's bytes are gone");
      const again = await r.req(loc);
      assert.equal(again.status, 404, "the session ended with the rejection");
      await again.body?.cancel();
    } finally {
      await r.close();
    }
  });
});

test("an upload outlives a restart of the server: the new one resumes it from its file", async () => {
  await onDisk(async (root) => {
    const bytes = new Uint8Array(randomBytes(3 * MIB));
    const digest = await sha256(bytes);
    let r = await startRegistry({ store: await openStore(root) });
    let loc: string;
    try {
      loc = await post(r, "up/restart");
      await patch(r, loc, bytes, 0, 2 * MIB);
    } finally {
      await r.close();
    }
    r = await startRegistry({ store: await openStore(root) });
    try {
      const elsewhere = await r.req(loc.replace("up/restart", "up/other"));
      assert.equal(elsewhere.status, 404, "only through the repository it was started in");
      await elsewhere.body?.cancel();
      const status = await r.req(loc);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get("range"), `0-${2 * MIB - 1}`);
      await patch(r, loc, bytes, 2 * MIB, 3 * MIB);
      const res = await r.req(`${loc}?digest=${digest}`, { method: "PUT" });
      assert.equal(res.status, 201, await res.text());
      assert.deepEqual(await ingestFiles(root), []);
    } finally {
      await r.close();
    }
  });
});
