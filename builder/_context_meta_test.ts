import assert from "node:assert/strict";
import { test } from "node:test";
import type { Digest } from "../digest/mod.ts";
import { ContextMeta } from "./_context_meta.ts";

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

test("the context metadata cache reads back what it wrote, for the paths still sent", () => {
  const written = ["", "keep", "gone", "dir/ünï €"];
  const meta = new ContextMeta(written.length);
  meta.set(1, 1, 2.25, 3, A);
  meta.set(2, 4, 5, 6, B);
  meta.set(3, 7, 8, 2 ** 52, B);
  const bytes = meta.serialize((i) => written[i]);
  // Read against a listing where "gone" is no longer sent and the others moved.
  const listing = ["", "dir/ünï €", "keep"];
  const again = ContextMeta.parse(bytes, listing.length, (p) => {
    const i = listing.indexOf(p);
    return i < 0 ? undefined : i;
  });
  assert.equal(again.dirty, false);
  assert.equal(again.lookup(2, 1, 2.25, 3), A);
  assert.equal(again.lookup(1, 7, 8, 2 ** 52), B);
  assert.equal(again.lookup(0, 4, 5, 6), undefined);
});

test("a metadata cache cut short, of another layout, or with bad UTF-8 reads as empty", () => {
  const meta = new ContextMeta(2);
  meta.set(1, 1, 2, 3, A);
  const good = meta.serialize(() => "a");
  const indexOf = (p: string) => (p === "a" ? 1 : undefined);
  assert.equal(ContextMeta.parse(good, 2, indexOf).lookup(1, 1, 2, 3), A);
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
    assert.equal(ContextMeta.parse(bytes, 2, indexOf).lookup(1, 1, 2, 3), undefined, name);
  }
});
