// One conformance suite, run against every BlobStore implementation.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  DigestMismatchError,
  sha256,
  SizeMismatchError,
  UnsupportedDigestError,
} from "../digest/mod.ts";
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

// sha512("abc"), FIPS 180-2 appendix C.1.
const SHA512_ABC = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" +
  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

function sha512(text: string): Promise<string> {
  return sha256(text, { algorithm: "sha512" });
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

      await t.test("put() stores content named by a sha512 digest and verifies it", async () => {
        const digest = await sha512("sha512 content");
        const r = await store.put(chunked(["sha512 ", "content"]), { digest, size: 14 });
        assert.deepEqual(r, { digest, size: 14 });
        assert.ok(await store.has(digest));
        assert.deepEqual(await store.stat(digest), { digest, size: 14 });
        assert.equal(new TextDecoder().decode(await readBlob(store, digest)), "sha512 content");
        assert.ok((await listAll(store)).includes(digest));
        // The same bytes are not stored under their sha256 by this put.
        assert.equal(await store.has(await sha256("sha512 content")), false);
        if (dir) {
          assert.deepEqual(await readdir(join(dir, "blobs", "sha512")), [digest.slice(7)]);
        }
        assert.equal(await store.delete(digest), true);
        assert.equal(await store.has(digest), false);
      });

      await t.test("a sha512 put whose bytes hash otherwise is refused and stores nothing", async () => {
        const before = await listAll(store);
        const wrong = await sha512("other bytes");
        await assert.rejects(store.put(chunked(["abc"]), { digest: wrong }), (e: unknown) => {
          assert.ok(e instanceof DigestMismatchError);
          assert.equal(e.expected, wrong);
          assert.equal(e.actual, `sha512:${SHA512_ABC}`);
          return true;
        });
        await assert.rejects(
          store.put(chunked(["abc"]), { digest: `sha512:${SHA512_ABC}`, size: 4 }),
          SizeMismatchError,
        );
        assert.deepEqual(await listAll(store), before);
      });

      await t.test("a resumed write commits against a sha512 digest", async () => {
        const w1 = await store.writer({ ref: "upload-512" });
        const wr = w1.writable.getWriter();
        await wr.write(enc.encode("a"));
        await wr.close();
        const w2 = await store.writer({ ref: "upload-512" });
        assert.equal(w2.offset, 1);
        const wr2 = w2.writable.getWriter();
        await wr2.write(enc.encode("bc"));
        wr2.releaseLock();
        const r = await w2.commit({ digest: `sha512:${SHA512_ABC}` });
        assert.deepEqual(r, { digest: `sha512:${SHA512_ABC}`, size: 3 });
      });

      await t.test("a digest in an algorithm stratum cannot hash is refused by name", async () => {
        const before = await listAll(store);
        const digest = "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564";
        await assert.rejects(store.put(chunked(["abc"]), { digest }), (e: unknown) => {
          assert.ok(e instanceof UnsupportedDigestError);
          assert.equal(e.algorithm, "sha256+b64u");
          assert.match(e.message, /"sha256\+b64u"/);
          return true;
        });
        assert.equal(await store.has(digest), false);
        assert.deepEqual(await listAll(store), before);
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
