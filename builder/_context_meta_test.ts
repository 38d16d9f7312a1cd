import assert from "node:assert/strict";
import { test } from "node:test";
import type { Digest } from "../digest/mod.ts";
import { ContextMeta } from "./_context_meta.ts";

/** The cache as one array: each piece copied before the next is asked for (it is reused). */
function serialized(meta: ContextMeta, pathOf: (i: number) => string): Uint8Array {
  const pieces = [...(function* () {
    for (const piece of meta.serialize(pathOf)) yield piece.slice();
  })()];
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `bytes` in pieces of `size`, each in one buffer reused for the next, as a file is read. */
function* inPieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  const buffer = new Uint8Array(size);
  for (let at = 0; at < bytes.length; at += size) {
    const n = Math.min(size, bytes.length - at);
    buffer.set(bytes.subarray(at, at + n));
    yield buffer.subarray(0, n);
  }
}

const A = `sha256:${"a".repeat(64)}` as Digest;
const B = `sha256:${"0123456789abcdef".repeat(4)}` as Digest;

test("the context metadata cache answers only for the size, mtime and inode it recorded", () => {
  const meta = new ContextMeta(3);
  assert.equal(meta.dirty, false);
  assert.equal(meta.lookup(1, 0, 0, 0), undefined, "nothing recorded: no answer, not zeros");
  meta.set(1, 10, 1700000000.5, 42, A);
  assert.equal(meta.dirty, true);
  assert.equal(meta.lookup(1, 10, 1700000000.5, 42), A);
  assert.equal(meta.lookup(1, 11, 1700000000.5, 42), undefined);
  assert.equal(meta.lookup(1, 10, 1700000001, 42), undefined);
  assert.equal(meta.lookup(1, 10, 1700000000.5, 43), undefined);
  assert.equal(meta.lookup(2, 10, 1700000000.5, 42), undefined);
  // Set again: the record is replaced, not added.
  meta.set(1, 12, 5, 7, B);
  assert.equal(meta.lookup(1, 12, 5, 7), B);
  assert.equal(meta.lookup(1, 10, 1700000000.5, 42), undefined);
  assert.throws(() => meta.set(0, 1, 1, 1, "sha256:abc" as Digest), TypeError);
});

test("the context metadata cache reads back what it wrote, for the paths still sent", async () => {
  const written = ["", "keep", "gone", "dir/ünï €"];
  const meta = new ContextMeta(written.length);
  meta.set(1, 1, 2.25, 3, A);
  meta.set(2, 4, 5, 6, B);
  meta.set(3, 7, 8, 2 ** 52, B);
  const bytes = serialized(meta, (i) => written[i]);
  // Read against a listing where "gone" is no longer sent and the others moved.
  const listing = ["", "dir/ünï €", "keep"];
  for (const size of [bytes.length, 1, 7]) {
    const again = await ContextMeta.read(inPieces(bytes, size), listing.length, (p) => {
      const i = listing.indexOf(p);
      return i < 0 ? undefined : i;
    });
    assert.equal(again.dirty, false);
    assert.equal(again.lookup(2, 1, 2.25, 3), A, `pieces of ${size}`);
    assert.equal(again.lookup(1, 7, 8, 2 ** 52), B);
    assert.equal(again.lookup(0, 4, 5, 6), undefined);
  }
});

test("a metadata cache cut short, of another layout, or with bad UTF-8 reads as empty", async () => {
  const meta = new ContextMeta(2);
  meta.set(1, 1, 2, 3, A);
  const good = serialized(meta, () => "a");
  const indexOf = (p: string) => (p === "a" ? 1 : undefined);
  assert.equal((await ContextMeta.read([good], 2, indexOf)).lookup(1, 1, 2, 3), A);
  const badUtf8 = good.slice();
  badUtf8[12] = 0xff;
  const otherMagic = good.slice();
  otherMagic[3] = 0x32;
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  const tooMany = good.slice();
  tooMany[4] = 2;
  const hugeLength = good.slice();
  hugeLength[11] = 0x7f;
  const cases = {
    empty: new Uint8Array(0),
    json: new TextEncoder().encode(JSON.stringify({ version: 2, paths: ["a"] })),
    cut: good.subarray(0, good.length - 1),
    badUtf8,
    otherMagic,
    longer,
    tooMany,
    hugeLength,
  };
  for (const [name, bytes] of Object.entries(cases)) {
    for (const size of [1, 5, 1000]) {
      const meta = await ContextMeta.read(inPieces(bytes, size), 2, indexOf);
      assert.equal(meta.lookup(1, 1, 2, 3), undefined, `${name} in pieces of ${size}`);
    }
  }
});

test("a metadata cache larger than one written piece reads back whole", async () => {
  const count = 30_000;
  const path = (i: number) => `some/rather/long/directory/name/for/the/test/file-${i}.txt`;
  const meta = new ContextMeta(count);
  for (let i = 0; i < count; i++) meta.set(i, i, i + 0.5, i * 7, i % 2 ? A : B);
  const pieces = [...meta.serialize(path)].length;
  assert.ok(pieces > 1, `${pieces} pieces`);
  const bytes = serialized(meta, path);
  const again = await ContextMeta.read(
    inPieces(bytes, 4093),
    count,
    (p) => Number(p.match(/file-(\d+)/)![1]),
  );
  for (const i of [0, 1, 12_345, count - 1]) {
    assert.equal(again.lookup(i, i, i + 0.5, i * 7), i % 2 ? A : B, `${i}`);
  }
});
