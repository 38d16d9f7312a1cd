import { test } from "node:test";
import assert from "node:assert/strict";
import { ImageLayoutError } from "./errors.ts";
import { parseImageLayout } from "./image_layout.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

// The image-spec's schema/imagelayout_test.go cases and a few more.
test("parseImageLayout() reads the one layout version the image-spec defines", () => {
  assert.deepEqual(parseImageLayout(enc('{\n  "imageLayoutVersion": "1.0.0"\n}\n')), {
    imageLayoutVersion: "1.0.0",
  });
});

test("parseImageLayout() refuses what the image-spec's schema refuses, saying why", () => {
  const cases: Array<[string, RegExp]> = [
    ['{\n  "imageLayoutVersion": 1.0.0\n}\n', /not JSON/],
    ['{"imageLayoutVersion": 1}', /must be the string "1.0.0", got number 1/],
    ['{"imageLayoutVersion": "2.0.0"}', /got string "2.0.0"/],
    ["{}", /imageLayoutVersion is missing/],
    ['["1.0.0"]', /must be a JSON object/],
    ["", /not JSON/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseImageLayout(enc(text)), (err: unknown) => {
      assert.ok(err instanceof ImageLayoutError, String(err));
      assert.match((err as Error).message, /^Invalid oci-layout file: /);
      assert.match((err as Error).message, message);
      return true;
    });
  }
});
