import assert from "node:assert/strict";
import { test } from "node:test";
import { UnsupportedDigestError } from "./errors.ts";
import { isDigest, parseDigest } from "./parse_digest.ts";

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
    [`md5:${hex}`, /unknown algorithm "md5"/],
    [`SHA256:${hex}`, /malformed algorithm/],
    [`sha512:${"a".repeat(64)}`, /expected 128 lower-case hex/],
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

test("parseDigest() knows sha512 but says it is unsupported", () => {
  assert.throws(() => parseDigest(`sha512:${"b".repeat(128)}`), UnsupportedDigestError);
});
