import assert from "node:assert/strict";
import { test } from "node:test";
import type { Digest } from "../digest/mod.ts";
import { ContextMeta } from "./_context_meta.ts";

const A = `sha256:${"a".repeat(64)}` as Digest;
const B = `sha256:${"b".repeat(64)}` as Digest;

test("the context metadata cache answers only for the size, mtime and inode it recorded", () => {
  const meta = new ContextMeta();
  assert.equal(meta.dirty, false);
  meta.set("dir/a", 10, 1700000000.5, 42, A);
  assert.equal(meta.dirty, true);
  assert.equal(meta.lookup("dir/a", 10, 1700000000.5, 42), A);
  assert.equal(meta.lookup("dir/a", 11, 1700000000.5, 42), undefined);
  assert.equal(meta.lookup("dir/a", 10, 1700000001, 42), undefined);
  assert.equal(meta.lookup("dir/a", 10, 1700000000.5, 43), undefined);
  assert.equal(meta.lookup("dir/b", 10, 1700000000.5, 42), undefined);
  // Set again: the record is replaced, not added.
  meta.set("dir/a", 12, 5, 7, B);
  assert.equal(meta.lookup("dir/a", 12, 5, 7), B);
  assert.equal(meta.lookup("dir/a", 10, 1700000000.5, 42), undefined);
});

test("the context metadata cache reads back what it wrote, less what is no longer sent", () => {
  const meta = new ContextMeta();
  meta.set("keep", 1, 2, 3, A);
  meta.set("gone", 4, 5, 6, B);
  const again = ContextMeta.parse(meta.serialize((path) => path !== "gone"));
  assert.equal(again.dirty, false);
  assert.equal(again.lookup("keep", 1, 2, 3), A);
  assert.equal(again.lookup("gone", 4, 5, 6), undefined);
});

test("a metadata cache of another layout, or not JSON, reads as empty", () => {
  const good = { version: 2, paths: ["a"], numbers: [1, 2, 3], digests: ["a".repeat(64)] };
  assert.equal(ContextMeta.parse(JSON.stringify(good)).lookup("a", 1, 2, 3), A);
  for (
    const text of [
      "",
      "{",
      JSON.stringify({ a: [1, 2, 3, A] }),
      JSON.stringify({ version: 2, paths: ["a"], numbers: [1, 2], digests: ["a".repeat(64)] }),
      JSON.stringify({ version: 2, paths: ["a"], numbers: [1, 2, 3], digests: [] }),
      JSON.stringify({ version: 2, paths: ["a"], numbers: [1, 2, 3], digests: ["../x"] }),
      JSON.stringify({ version: 3, paths: [], numbers: [], digests: [] }),
    ]
  ) {
    assert.equal(ContextMeta.parse(text).lookup("a", 1, 2, 3), undefined, text);
  }
});
