import assert from "node:assert/strict";
import { test } from "node:test";
import { digestOf, DigestStream } from "./digest_stream.ts";
import { DigestMismatchError, SizeMismatchError } from "./errors.ts";
import { sha256 } from "./hasher.ts";
import { VerifyStream } from "./verify_stream.ts";

const enc = new TextEncoder();

function source(parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

test("DigestStream passes bytes through and yields digest and size in one read", async () => {
  const ds = new DigestStream();
  const text = await new Response(source(["ab", "", "c"]).pipeThrough(ds)).text();
  assert.equal(text, "abc");
  assert.deepEqual(await ds.result, { digest: await sha256("abc"), size: 3 });
});

test("DigestStream's result rejects when the stream is cancelled", async () => {
  const ds = new DigestStream();
  const reader = source(["abc"]).pipeThrough(ds).getReader();
  await reader.cancel(new Error("stop"));
  await assert.rejects(ds.result);
});

test("digestOf() hashes a whole stream", async () => {
  assert.deepEqual(await digestOf(source(["x", "y"])), { digest: await sha256("xy"), size: 2 });
});

test("VerifyStream lets matching content through", async () => {
  const v = new VerifyStream(await sha256("hello"), { size: 5 });
  assert.equal(await new Response(source(["he", "llo"]).pipeThrough(v)).text(), "hello");
});

test("VerifyStream errors at the end on a digest mismatch", async () => {
  const v = new VerifyStream(await sha256("hello"));
  await assert.rejects(new Response(source(["hellO"]).pipeThrough(v)).text(), DigestMismatchError);
});

test("VerifyStream errors on a size overrun before the extra bytes pass", async () => {
  const v = new VerifyStream(await sha256("hello"), { size: 5 });
  const reader = source(["hello", "!"]).pipeThrough(v).getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), "hello");
  await assert.rejects(reader.read(), SizeMismatchError);
});

test("VerifyStream errors on a short body", async () => {
  const v = new VerifyStream(await sha256("hello"), { size: 5 });
  await assert.rejects(new Response(source(["hell"]).pipeThrough(v)).text(), (e: unknown) => {
    assert.ok(e instanceof SizeMismatchError);
    assert.match((e as Error).message, /declared 5 bytes, got 4/);
    return true;
  });
});

test("VerifyStream refuses a malformed expected digest at construction", () => {
  assert.throws(() => new VerifyStream("sha256:xyz"), SyntaxError);
});
