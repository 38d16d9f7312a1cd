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

/** A cache with `digest` for each path of `paths` stat'ed with `[size, mtime, inode]`. */
function cacheOf(count: number, paths: [number, [number, number, number], Digest][]) {
  const meta = new ContextMeta(new Float64Array(count * 3));
  for (const [i, [size, mtime, ino], digest] of paths) {
    meta.stated(i, size, mtime, ino);
    meta.set(i, digest);
  }
  return meta;
}

test("the context metadata cache answers only for the size, mtime and inode it recorded", async () => {
  const meta = new ContextMeta(new Float64Array(9));
  assert.equal(meta.dirty, false);
  assert.equal(meta.lookup(1), undefined, "nothing recorded: no answer, not zeros");
  meta.stated(1, 10, 1700000000.5, 42);
  meta.set(1, A);
  assert.equal(meta.dirty, true);
  assert.equal(meta.lookup(1), A);
  // Set again: the record is replaced, not added.
  meta.set(1, B);
  assert.equal(meta.lookup(1), B);
  assert.throws(() => meta.set(0, "sha256:abc" as Digest), TypeError);

  const bytes = serialized(cacheOf(3, [[1, [10, 1700000000.5, 42], A]]), () => "p");
  const stats: [number, number, number, Digest | undefined][] = [
    [10, 1700000000.5, 42, A],
    [11, 1700000000.5, 42, undefined],
    [10, 1700000001, 42, undefined],
    [10, 1700000000.5, 43, undefined],
  ];
  for (const [size, mtime, ino, digest] of stats) {
    const numbers = new Float64Array(9);
    const again = await ContextMeta.read([bytes], numbers, (p) => (p === "p" ? 1 : undefined));
    assert.deepEqual([...numbers.subarray(3, 6)], [10, 1700000000.5, 42], "recorded, until stat");
    again.stated(1, size, mtime, ino);
    assert.equal(again.lookup(1), digest, `${size} ${mtime} ${ino}`);
    assert.deepEqual([...numbers.subarray(3, 6)], [size, mtime, ino], "then as stat'ed");
    assert.equal(again.lookup(2), undefined);
    assert.equal(again.dirty, false, "a digest forgotten is no change to write");
  }
});

test("the context metadata cache reads back what it wrote, for the paths still sent", async () => {
  const written = ["", "keep", "gone", "dir/ünï €"];
  const meta = cacheOf(written.length, [
    [1, [1, 2.25, 3], A],
    [2, [4, 5, 6], B],
    [3, [7, 8, 2 ** 52], B],
  ]);
  const bytes = serialized(meta, (i) => written[i]);
  // Read against a listing where "gone" is no longer sent and the others moved.
  const listing = ["", "dir/ünï €", "keep"];
  for (const size of [bytes.length, 1, 7]) {
    const numbers = new Float64Array(listing.length * 3);
    const again = await ContextMeta.read(inPieces(bytes, size), numbers, (p) => {
      const i = listing.indexOf(p);
      return i < 0 ? undefined : i;
    });
    assert.equal(again.dirty, false);
    assert.deepEqual([...numbers], [0, 0, 0, 7, 8, 2 ** 52, 1, 2.25, 3], `pieces of ${size}`);
    assert.equal(again.lookup(2), A);
    assert.equal(again.lookup(1), B);
    assert.equal(again.lookup(0), undefined);
  }
});

test("a metadata cache cut short, of another layout, or with bad UTF-8 reads as empty", async () => {
  const good = serialized(cacheOf(2, [[1, [1, 2, 3], A]]), () => "a");
  const indexOf = (p: string) => (p === "a" ? 1 : undefined);
  assert.equal((await ContextMeta.read([good], new Float64Array(6), indexOf)).lookup(1), A);
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
      const numbers = new Float64Array(6);
      const meta = await ContextMeta.read(inPieces(bytes, size), numbers, indexOf);
      assert.equal(meta.lookup(1), undefined, `${name} in pieces of ${size}`);
      assert.deepEqual([...numbers], [0, 0, 0, 0, 0, 0], `${name}: nothing of it kept`);
    }
  }
});

test("a metadata cache larger than one written piece reads back whole", async () => {
  const count = 30_000;
  const path = (i: number) => `some/rather/long/directory/name/for/the/test/file-${i}.txt`;
  const meta = cacheOf(
    count,
    Array.from({ length: count }, (_, i) => [i, [i, i + 0.5, i * 7], i % 2 ? A : B]),
  );
  const pieces = [...meta.serialize(path)].length;
  assert.ok(pieces > 1, `${pieces} pieces`);
  const bytes = serialized(meta, path);
  const numbers = new Float64Array(count * 3);
  const again = await ContextMeta.read(
    inPieces(bytes, 4093),
    numbers,
    (p) => Number(p.match(/file-(\d+)/)![1]),
  );
  for (const i of [0, 1, 12_345, count - 1]) {
    again.stated(i, i, i + 0.5, i * 7);
    assert.equal(again.lookup(i), i % 2 ? A : B, `${i}`);
  }
});
