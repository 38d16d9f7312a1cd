import assert from "node:assert/strict";
import { test } from "node:test";
import { createHasher, createResumableHasher, type HashEngine, sha256 } from "./hasher.ts";

const enc = new TextEncoder();

// FIPS 180-2 / NIST CSRC example vectors.
const NIST: [string, Uint8Array, string][] = [
  [
    "the empty message",
    new Uint8Array(0),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  ],
  ['"abc"', enc.encode("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  [
    "the 448-bit message",
    enc.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  ],
  [
    "one million 'a'",
    new Uint8Array(1_000_000).fill(0x61),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  ],
];

/** A small deterministic PRNG so a failing chunking can be reproduced from its seed. */
function mulberry32(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const engine of ["native", "wasm"] as HashEngine[]) {
  test(`the ${engine} engine gives the NIST digests`, async () => {
    for (const [label, data, hex] of NIST) {
      assert.equal(await sha256(data, { engine }), `sha256:${hex}`, label);
    }
  });
}

test("both engines agree under random chunkings", async () => {
  const rand = mulberry32(42);
  for (let round = 0; round < 20; round++) {
    const data = new Uint8Array(Math.floor(rand() * 200_000));
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
    const whole = await sha256(data, { engine: "wasm" });
    for (const engine of ["native", "wasm"] as HashEngine[]) {
      const h = await createHasher({ engine });
      let off = 0;
      while (off < data.length) {
        const n = Math.min(data.length - off, 1 + Math.floor(rand() * 70_000));
        h.update(data.subarray(off, off + n));
        off += n;
      }
      assert.equal(h.digest(), whole, `round ${round}, ${engine}`);
    }
  }
});

test("a resumable hasher restored from saved state finishes with the same digest", async () => {
  const a = await createResumableHasher();
  a.update(enc.encode("The quick brown fox "));
  const saved = a.save();
  const b = await createResumableHasher(saved);
  assert.equal(b.size, 20);
  b.update(enc.encode("jumps over the lazy dog"));
  assert.equal(b.digest(), await sha256("The quick brown fox jumps over the lazy dog"));
});

test("sha256() hashes strings as UTF-8", async () => {
  assert.equal(await sha256("é"), await sha256(new Uint8Array([0xc3, 0xa9])));
});

test("sha256() of a long string hashes its UTF-8 in pieces, surrogate pairs kept whole", async () => {
  const piece = 1 << 16;
  const texts = [
    // A pair straddling the first piece's end, then a 3-byte and a 2-byte character.
    "a".repeat(piece - 1) + "😀" + "€".repeat(piece) + "é".repeat(piece + 3),
    // Ends exactly at a piece boundary with a pair, and a lone surrogate inside.
    "b".repeat(2 * piece - 2) + "😀" + "\ud800x",
    '{"inputs":' + '"ctx:files/d0/f0.txt":"644:sha256:00",'.repeat(20_000) + "}",
  ];
  for (const text of texts) {
    const whole = new TextEncoder().encode(text);
    assert.equal(await sha256(text), await sha256(whole), `${text.length} units`);
  }
});
