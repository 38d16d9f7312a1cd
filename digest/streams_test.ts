import assert from "node:assert/strict";
import { test } from "node:test";
import { digestOf, DigestStream } from "./digest_stream.ts";
import { DigestMismatchError, SizeMismatchError, UnsupportedDigestError } from "./errors.ts";
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

// sha512("abc") from FIPS 180-2, appendix C.1.
const SHA512_ABC = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" +
  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

test("VerifyStream verifies content named by a sha512 digest, with either engine", async () => {
  for (const engine of ["native", "wasm"] as const) {
    const ok = new VerifyStream(SHA512_ABC, { size: 3, engine });
    assert.equal(await new Response(source(["a", "bc"]).pipeThrough(ok)).text(), "abc");
    const bad = new VerifyStream(SHA512_ABC, { engine });
    await assert.rejects(
      new Response(source(["abd"]).pipeThrough(bad)).arrayBuffer(),
      (e: unknown) => e instanceof DigestMismatchError && e.actual.startsWith("sha512:"),
    );
  }
});

test("DigestStream and digestOf() hash with sha512 when asked", async () => {
  const ds = new DigestStream({ algorithm: "sha512" });
  await new Response(source(["abc"]).pipeThrough(ds)).arrayBuffer();
  assert.deepEqual(await ds.result, { digest: SHA512_ABC, size: 3 });
  assert.equal((await digestOf(source(["ab", "c"]), { algorithm: "sha512" })).digest, SHA512_ABC);
});

test("VerifyStream refuses a well-formed digest it cannot compute, and a malformed one", () => {
  assert.throws(
    () => new VerifyStream("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
    (e: unknown) => e instanceof UnsupportedDigestError && e.algorithm === "multihash+base58",
  );
  assert.throws(() => new VerifyStream("sha512:abc"), SyntaxError);
});
