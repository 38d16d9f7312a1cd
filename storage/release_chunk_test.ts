import assert from "node:assert/strict";
import { test } from "node:test";
import { dropChunk, releaseChunk, soleChunk } from "./release_chunk.ts";

const canDetach = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === "function";

test("releaseChunk() frees a written chunk that ends its big buffer, and nothing else", {
  skip: canDetach ? false : "this runtime has no ArrayBuffer.prototype.transfer",
}, () => {
  const whole = new Uint8Array(256 << 10);
  releaseChunk(whole);
  assert.equal(whole.byteLength, 0, "a whole 256 KiB chunk is freed");

  const buffer = new Uint8Array(256 << 10);
  const head = buffer.subarray(0, 1000);
  releaseChunk(head);
  assert.equal(buffer.byteLength, 256 << 10, "a chunk before the end of its buffer is kept");
  releaseChunk(buffer.subarray(1000));
  assert.equal(buffer.byteLength, 0, "the last chunk of a buffer frees it");

  // A small buffer may be a pool slab shared with other data (Node's 8 KiB Buffer pool).
  const small = new Uint8Array(8 << 10);
  releaseChunk(small);
  assert.equal(small.byteLength, 8 << 10);
  releaseChunk(whole); // already freed: no error
});

test("dropChunk() frees only whole chunks that soleChunk() made", {
  skip: canDetach ? false : "this runtime has no ArrayBuffer.prototype.transfer",
}, () => {
  const theirs = new Uint8Array(256 << 10);
  dropChunk(theirs);
  assert.equal(theirs.byteLength, 256 << 10, "a caller's buffer is never freed");

  const sole = soleChunk(1024);
  dropChunk(sole.subarray(0, 512));
  assert.equal(sole.byteLength, 1024, "part of a sole chunk is kept");
  dropChunk(sole);
  assert.equal(sole.byteLength, 0, "a whole sole chunk is freed");
});
