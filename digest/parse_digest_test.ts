import assert from "node:assert/strict";
import { test } from "node:test";
import { UnsupportedDigestError } from "./errors.ts";
import { checkDigest, isDigest, parseDigest } from "./parse_digest.ts";

const hex = "a".repeat(64);

test("parseDigest() accepts sha256 with 64 lower-case hex characters", () => {
  assert.deepEqual(parseDigest(`sha256:${hex}`), { algorithm: "sha256", hex });
  assert.equal(isDigest(`sha256:${hex}`), true);
});

test("parseDigest() refuses malformed digests with a message that quotes them", () => {
  const cases: [string, RegExp][] = [
    [`sha256:${"a".repeat(63)}`, /expected 64 hex characters, got 63/],
    [`sha256:${"a".repeat(65)}`, /expected 64 hex characters, got 65/],
    [`sha256:${"A".repeat(64)}`, /lower case/],
    [`sha256:${"g".repeat(64)}`, /expected 64 hex/],
    [hex, /expected "sha256:<hex>"/],
    [`:${hex}`, /expected "sha256:<hex>"/],
    [`SHA256:${hex}`, /malformed algorithm/],
    [`sha512:${"a".repeat(64)}`, /expected 128 hex characters, got 64/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseDigest(input), (e: unknown) => {
      assert.ok(e instanceof SyntaxError, input);
      assert.match((e as Error).message, message);
      assert.ok((e as Error).message.includes(input), "the message quotes the input");
      return true;
    });
    assert.equal(isDigest(input), false);
  }
});

test("parseDigest() accepts sha512 with 128 lower-case hex characters", () => {
  const hex512 = "b".repeat(128);
  assert.deepEqual(parseDigest(`sha512:${hex512}`), { algorithm: "sha512", hex: hex512 });
  assert.equal(isDigest(`sha512:${hex512}`), true);
  assert.equal(isDigest(`sha512:${hex}`), false);
  assert.equal(isDigest(`sha256:${hex512}`), false);
});

test("parseDigest() names the algorithm of a well-formed digest it cannot hash", () => {
  for (
    const [input, algorithm] of [
      ["sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "sha256+b64u"],
      ["multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "multihash+base58"],
      [`md5:${hex}`, "md5"],
    ]
  ) {
    assert.throws(() => parseDigest(input), (e: unknown) => {
      assert.ok(e instanceof UnsupportedDigestError, input);
      assert.equal(e.algorithm, algorithm);
      assert.match(e.message, new RegExp(`algorithm "${algorithm.replace("+", "\\+")}"`));
      assert.ok(e.message.includes(input), "the message quotes the input");
      return true;
    });
    assert.equal(isDigest(input), false);
  }
});

// The image-spec's schema/descriptor_test.go digests: [digest, accepted, verifiable].
const specDigests: Array<[string, boolean, boolean]> = [
  ["sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270", true, true],
  [":5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270", false, false],
  ["sha256", false, false],
  ["SHA256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270", false, false],
  ["sha256:5B0BCABD1ED22E9FB1310CF6C2DEC7CDEF19F0AD69EFA1F392E94A4333501270", false, false],
  ["sha256+b64:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b", true, false],
  ["sha256+foo-bar:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b", true, false],
  ["sha256.foo-bar:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b", true, false],
  ["multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", true, false],
  ["sha256+foo+-b:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b", false, false],
  ["sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", true, false],
  ["sha256+b64u.unknownlength:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564=", true, false],
  [`sha512:${"ab".repeat(64)}`, true, true],
  [`sha512:${"a".repeat(64)}`, false, false],
  [`sha512:${"AB".repeat(64)}`, false, false],
  [`sha256:${"a".repeat(63)}`, false, false],
  ["sha256+b64:a/b", false, false],
];

for (const [input, accepted, verifiable] of specDigests) {
  test(`checkDigest() ${accepted ? "accepts" : "refuses"} ${input}`, () => {
    if (!accepted) {
      assert.throws(() => checkDigest(input), (e: unknown) => {
        assert.ok(e instanceof SyntaxError);
        assert.ok((e as Error).message.includes(JSON.stringify(input)), "quotes the input");
        return true;
      });
      return;
    }
    const checked = checkDigest(input);
    assert.equal(checked.verifiable, verifiable);
    assert.equal(`${checked.algorithm}:${checked.encoded}`, input);
  });
}

for (const [input, accepted, verifiable] of specDigests) {
  test(`parseDigest() ${verifiable ? "accepts" : "refuses"} ${input}`, () => {
    if (verifiable) {
      assert.equal(`${parseDigest(input).algorithm}:${parseDigest(input).hex}`, input);
    } else assert.throws(() => parseDigest(input), accepted ? UnsupportedDigestError : SyntaxError);
    assert.equal(isDigest(input), verifiable);
  });
}
