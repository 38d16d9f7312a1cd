import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Digest } from "../digest/mod.ts";
import { ContextMeta } from "./_context_meta.ts";
import { ContextTable, type ContextTableOptions } from "./_context_table.ts";

/** A table of `paths` (types do not matter here). */
function tableOf(paths: string[], options?: ContextTableOptions): ContextTable {
  const table = new ContextTable(options);
  for (const path of paths) table.add(path, 0);
  table.done();
  return table;
}

/** A table's size, mtime and inode columns, three a path. */
function numbersOf(table: ContextTable): number[] {
  const out: number[] = [];
  for (let i = 0; i < table.length; i++) {
    out.push(table.number(i, 0), table.number(i, 1), table.number(i, 2));
  }
  return out;
}

/** The cache as one array: each piece copied before the next is asked for (it is reused). */
function serialized(meta: ContextMeta): Uint8Array {
  const pieces = [...(function* () {
    for (const piece of meta.serialize()) yield piece.slice();
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

/** A cache of `table` with `digest` for each row stat'ed with `[size, mtime, inode]`. */
function cacheOf(table: ContextTable, paths: [number, [number, number, number], Digest][]) {
  const meta = new ContextMeta(table);
  for (const [i, [size, mtime, ino], digest] of paths) {
    meta.stated(i, size, mtime, ino);
    meta.set(i, digest);
  }
  return meta;
}

test("the context metadata cache answers only for the size, mtime and inode it recorded", async () => {
  const meta = new ContextMeta(tableOf(["", "p", "q"]));
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

  const bytes = serialized(cacheOf(tableOf(["", "p", "q"]), [[1, [10, 1700000000.5, 42], A]]));
  const stats: [number, number, number, Digest | undefined][] = [
    [10, 1700000000.5, 42, A],
    [11, 1700000000.5, 42, undefined],
    [10, 1700000001, 42, undefined],
    [10, 1700000000.5, 43, undefined],
  ];
  for (const [size, mtime, ino, digest] of stats) {
    const table = tableOf(["", "p", "q"]);
    const again = await ContextMeta.read([bytes], table, (p) => (p === "p" ? 1 : undefined));
    assert.deepEqual(numbersOf(table).slice(3, 6), [10, 1700000000.5, 42], "recorded, until stat");
    again.stated(1, size, mtime, ino);
    assert.equal(again.lookup(1), digest, `${size} ${mtime} ${ino}`);
    assert.deepEqual(numbersOf(table).slice(3, 6), [size, mtime, ino], "then as stat'ed");
    assert.equal(again.lookup(2), undefined);
    assert.equal(again.dirty, false, "a digest forgotten is no change to write");
  }
});

test("the context metadata cache reads back what it wrote, for the paths still sent", async () => {
  const written = ["", "keep", "gone", "dir/ünï €"];
  const meta = cacheOf(tableOf(written), [
    [1, [1, 2.25, 3], A],
    [2, [4, 5, 6], B],
    [3, [7, 8, 2 ** 52], B],
  ]);
  const bytes = serialized(meta);
  // Read against a listing where "gone" is no longer sent and the others moved.
  const listing = ["", "dir/ünï €", "keep"];
  for (const size of [bytes.length, 1, 7]) {
    const table = tableOf(listing);
    const again = await ContextMeta.read(inPieces(bytes, size), table, (p) => {
      const i = listing.indexOf(p);
      return i < 0 ? undefined : i;
    });
    assert.equal(again.dirty, false);
    assert.deepEqual(numbersOf(table), [0, 0, 0, 7, 8, 2 ** 52, 1, 2.25, 3], `pieces of ${size}`);
    assert.equal(again.lookup(2), A);
    assert.equal(again.lookup(1), B);
    assert.equal(again.lookup(0), undefined);
  }
});

test("a metadata cache cut short, of another layout, or with bad UTF-8 reads as empty", async () => {
  const good = serialized(cacheOf(tableOf(["", "a"]), [[1, [1, 2, 3], A]]));
  const indexOf = (p: string) => (p === "a" ? 1 : undefined);
  assert.equal((await ContextMeta.read([good], tableOf(["", "a"]), indexOf)).lookup(1), A);
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
      const table = tableOf(["", "a"]);
      const meta = await ContextMeta.read(inPieces(bytes, size), table, indexOf);
      assert.equal(meta.lookup(1), undefined, `${name} in pieces of ${size}`);
      assert.deepEqual(numbersOf(table), [0, 0, 0, 0, 0, 0], `${name}: nothing of it kept`);
      assert.equal([...serialized(meta).subarray(4, 8)].join(), "0,0,0,0", `${name}: no entries`);
    }
  }
});

test("a metadata cache larger than one written piece reads back whole, its table spilt", async () => {
  const count = 30_000;
  const path = (i: number) => `some/rather/long/directory/name/for/the/test/file-${i}.txt`;
  const paths = Array.from({ length: count }, (_, i) => path(i));
  const spillDir = await mkdtemp(join(tmpdir(), "stratum-context-meta-"));
  // Pages of 1,024 rows, two in memory: the cache is written and read through the spill file.
  const small = { spillDir, pageRows: 1024, residentPages: 2 };
  try {
    const meta = cacheOf(
      tableOf(paths, small),
      Array.from({ length: count }, (_, i) => [i, [i, i + 0.5, i * 7], i % 2 ? A : B]),
    );
    const pieces = [...meta.serialize()].length;
    assert.ok(pieces > 1, `${pieces} pieces`);
    const bytes = serialized(meta);
    const again = await ContextMeta.read(
      inPieces(bytes, 4093),
      tableOf(paths, small),
      (p) => Number(p.match(/file-(\d+)/)![1]),
    );
    for (const i of [0, 1, 1023, 1024, 12_345, count - 1]) {
      again.stated(i, i, i + 0.5, i * 7);
      assert.equal(again.lookup(i), i % 2 ? A : B, `${i}`);
    }
    again.stated(5, 1, 1, 1);
    assert.equal(again.lookup(5), undefined, "a changed stat forgets the digest");
    assert.deepEqual([...serialized(again).subarray(4, 8)], [0x2f, 0x75, 0, 0], "one fewer");
    assert.deepEqual(await readdir(spillDir), [], "the spill file has no name");
  } finally {
    await rm(spillDir, { recursive: true, force: true });
  }
});
