// One conformance suite, run against every BlobStore implementation.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DigestMismatchError, sha256, SizeMismatchError } from "../digest/mod.ts";
import { type BlobStore, putBytes, readBlob } from "./blob_store.ts";
import { BlobNotFoundError } from "./errors.ts";
import { FsBlobStore } from "./fs_blob_store.ts";
import { MemoryBlobStore } from "./memory_blob_store.ts";

const enc = new TextEncoder();

function chunked(parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

async function listAll(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const d of store.list()) out.push(d);
  return out;
}

const backends: [string, () => Promise<{ store: BlobStore; dir?: string }>][] = [
  ["MemoryBlobStore", () => Promise.resolve({ store: new MemoryBlobStore() })],
  ["FsBlobStore", async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratum-blobs-"));
    return { store: new FsBlobStore(dir), dir };
  }],
];

for (const [label, make] of backends) {
  test(`${label} conforms to BlobStore`, async (t) => {
    const { store, dir } = await make();
    try {
      await t.test("put() stores bytes under their digest and get() streams them back", async () => {
        const r = await store.put(chunked(["hel", "lo"]));
        assert.equal(r.digest, await sha256("hello"));
        assert.equal(r.size, 5);
        assert.ok(await store.has(r.digest));
        assert.deepEqual(await store.stat(r.digest), { digest: r.digest, size: 5 });
        assert.equal(new TextDecoder().decode(await readBlob(store, r.digest)), "hello");
      });

      await t.test("get() reads a byte range", async () => {
        const { digest } = await putBytes(store, enc.encode("0123456789"));
        const part = await new Response(await store.get(digest, { offset: 3, length: 4 })).text();
        assert.equal(part, "3456");
        await assert.rejects(store.get(digest, { offset: 8, length: 5 }), RangeError);
      });

      await t.test("put() with a wrong digest is refused and stores nothing", async () => {
        const before = await listAll(store);
        const wrong = await sha256("something else");
        await assert.rejects(store.put(chunked(["abc"]), { digest: wrong }), DigestMismatchError);
        assert.equal(await store.has(wrong), false);
        assert.deepEqual(await listAll(store), before);
      });

      await t.test("put() with a wrong size is refused and stores nothing", async () => {
        const before = await listAll(store);
        const digest = await sha256("abcd");
        await assert.rejects(store.put(chunked(["abcd"]), { digest, size: 3 }), SizeMismatchError);
        assert.deepEqual(await listAll(store), before);
      });

      await t.test("a stream that fails midway leaves no blob", async () => {
        const before = await listAll(store);
        const failing = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(enc.encode("partial"));
            c.error(new Error("connection reset"));
          },
        });
        await assert.rejects(store.put(failing), /connection reset/);
        assert.deepEqual(await listAll(store), before);
      });

      await t.test("an aborted writer leaves no blob", async () => {
        const before = await listAll(store);
        const w = await store.writer();
        const writer = w.writable.getWriter();
        await writer.write(enc.encode("never committed"));
        writer.releaseLock();
        await w.abort();
        assert.deepEqual(await listAll(store), before);
      });

      await t.test("a writer with a ref resumes where it was suspended", async () => {
        const w1 = await store.writer({ ref: "upload-1" });
        assert.equal(w1.offset, 0);
        const wr = w1.writable.getWriter();
        await wr.write(enc.encode("first half, "));
        await wr.close();
        const w2 = await store.writer({ ref: "upload-1" });
        assert.equal(w2.offset, 12);
        const wr2 = w2.writable.getWriter();
        await wr2.write(enc.encode("second half"));
        wr2.releaseLock();
        const r = await w2.commit({ digest: await sha256("first half, second half") });
        assert.equal(r.size, 23);
        const w3 = await store.writer({ ref: "upload-1" });
        assert.equal(w3.offset, 0, "a committed ref starts afresh");
        await w3.abort();
      });

      await t.test("get() of a missing blob rejects with BlobNotFoundError", async () => {
        await assert.rejects(store.get(await sha256("missing")), BlobNotFoundError);
        assert.equal(await store.stat(await sha256("missing")), undefined);
      });

      await t.test("delete() removes a blob and list() no longer shows it", async () => {
        const { digest } = await putBytes(store, enc.encode("to delete"));
        assert.ok((await listAll(store)).includes(digest));
        assert.equal(await store.delete(digest), true);
        assert.equal(await store.delete(digest), false);
        assert.ok(!(await listAll(store)).includes(digest));
      });

      await t.test("a malformed digest is never used as a path", async () => {
        assert.equal(await store.has("sha256:../../etc/passwd"), false);
        await assert.rejects(store.get("sha256:../../etc/passwd"));
      });

      await t.test("putting the same content twice keeps one blob", async () => {
        const a = await putBytes(store, enc.encode("same"));
        const b = await putBytes(store, enc.encode("same"));
        assert.deepEqual(a, b);
        assert.equal((await listAll(store)).filter((d) => d === a.digest).length, 1);
      });

      if (dir) {
        await t.test("no temporary files are left behind", async () => {
          const left = await readdir(join(dir, "ingest"));
          assert.deepEqual(left, []);
        });
      }
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });
}
