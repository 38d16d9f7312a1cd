import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ManifestError } from "./errors.ts";
import { type ImageManifest, parseManifest, serializeManifest } from "./manifest.ts";
import { MediaType } from "./media_types.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha = (b: Uint8Array | string): string =>
  `sha256:${createHash("sha256").update(b).digest("hex")}`;
const A = sha("a");
const B = sha("b");
const C = sha("c");

function manifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: A, size: 10 },
    layers: [
      { mediaType: MediaType.OCI_LAYER_GZIP, digest: B, size: 20 },
      { mediaType: MediaType.OCI_LAYER_GZIP, digest: C, size: 30 },
      { mediaType: MediaType.OCI_LAYER_GZIP, digest: A, size: 40 },
    ],
    ...overrides,
  };
}

function rejects(
  body: string | Record<string, unknown>,
  field: string,
  message: RegExp,
  contentType?: string,
): Promise<void> {
  const bytes = enc(typeof body === "string" ? body : JSON.stringify(body));
  return assert.rejects(parseManifest(bytes, contentType), (err) => {
    assert.ok(err instanceof ManifestError, String(err));
    assert.ok(err instanceof SyntaxError);
    assert.equal(err.field, field);
    if (field !== "") assert.ok(err.message.includes(`"${field}"`), err.message);
    assert.match(err.message, message);
    return true;
  });
}

test("parseManifest() returns an OCI manifest with its exact bytes and their digest", async () => {
  const bytes = enc(JSON.stringify(manifest()));
  const parsed = await parseManifest(bytes, MediaType.OCI_MANIFEST);
  assert.equal(parsed.kind, "manifest");
  if (parsed.kind !== "manifest") return;
  assert.equal(parsed.mediaType, MediaType.OCI_MANIFEST);
  assert.equal(parsed.manifest.layers.length, 3);
  assert.equal(parsed.manifest.config.digest, A);
  assert.equal(parsed.bytes, bytes);
  assert.equal(parsed.digest, sha(bytes));
});

test("a manifest with unusual whitespace keeps its exact bytes and digest", async () => {
  const text = `{\n\t"schemaVersion" :  2,\r\n  "mediaType":"${MediaType.DOCKER_MANIFEST}",` +
    `"config":{"mediaType":"${MediaType.DOCKER_CONFIG}","digest":"${A}","size":1},` +
    `  "layers" : [ ]   }\n\n`;
  const bytes = enc(text);
  const parsed = await parseManifest(bytes);
  assert.equal(parsed.digest, sha(text));
  assert.notEqual(parsed.digest, sha(JSON.stringify(JSON.parse(text))));
  assert.equal(new TextDecoder().decode(parsed.bytes), text);
});

test("parseManifest() reads Docker manifest lists and OCI indexes as indexes", async () => {
  for (const mediaType of [MediaType.DOCKER_MANIFEST_LIST, MediaType.OCI_INDEX]) {
    const body = {
      schemaVersion: 2,
      mediaType,
      manifests: [{
        mediaType: MediaType.DOCKER_MANIFEST,
        digest: A,
        size: 528,
        platform: { architecture: "arm64", os: "linux", variant: "v8" },
      }],
    };
    const parsed = await parseManifest(enc(JSON.stringify(body)), `${mediaType}; charset=utf-8`);
    assert.equal(parsed.kind, "index");
    if (parsed.kind !== "index") return;
    assert.equal(parsed.mediaType, mediaType);
    assert.equal(parsed.index.manifests[0].platform?.architecture, "arm64");
  }
});

test("an OCI document without mediaType is recognised from Content-Type or shape", async () => {
  const noType = manifest({ mediaType: undefined });
  assert.equal((await parseManifest(enc(JSON.stringify(noType)))).kind, "manifest");
  const index = { schemaVersion: 2, manifests: [] };
  const parsed = await parseManifest(enc(JSON.stringify(index)), "application/json");
  assert.equal(parsed.kind, "index");
  assert.equal(parsed.mediaType, MediaType.OCI_INDEX);
});

test("parseManifest() refuses a body that is not JSON", async () => {
  await rejects("<html>Not Found</html>", "", /manifest is not JSON.*starts with "<html>/);
  await rejects("[1,2]", "", /must be a JSON object, got an array/);
  await assert.rejects(parseManifest(new Uint8Array([0x7b, 0xff, 0x7d])), /not valid UTF-8/);
});

test("parseManifest() refuses schema 1 as deprecated and unsupported", async () => {
  await rejects(
    { schemaVersion: 1, name: "x", tag: "y", fsLayers: [] },
    "schemaVersion",
    /schema 1 is deprecated and unsupported/,
  );
  await rejects(
    manifest({ mediaType: MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED }),
    "mediaType",
    /schema 1 is deprecated/,
  );
  await rejects("{}", "", /schema 1 is deprecated/, MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED);
});

test("parseManifest() refuses a wrong or mismatched media type", async () => {
  await rejects(
    manifest({ mediaType: MediaType.OCI_CONFIG }),
    "mediaType",
    /not an image manifest or index/,
  );
  await rejects(
    manifest(),
    "mediaType",
    /does not match the Content-Type/,
    MediaType.DOCKER_MANIFEST,
  );
  await rejects(manifest(), "", /Content-Type "image\/png" is not/, "image/png");
  await rejects(
    manifest({ mediaType: undefined }),
    "mediaType",
    /is required/,
    MediaType.DOCKER_MANIFEST,
  );
  await rejects(manifest({ mediaType: MediaType.OCI_INDEX }), "manifests", /must be an array/);
});

test("parseManifest() names the field that is missing or malformed", async (t) => {
  const layer = (extra: Record<string, unknown>) =>
    manifest({
      layers: [
        { mediaType: MediaType.OCI_LAYER, digest: A, size: 1 },
        { mediaType: MediaType.OCI_LAYER, digest: B, size: 1 },
        { mediaType: MediaType.OCI_LAYER, digest: C, size: 1, ...extra },
      ],
    });
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["schemaVersion 3", manifest({ schemaVersion: 3 }), "schemaVersion", /must be 2/],
    ["no config", manifest({ config: undefined }), "config", /must be an object/],
    ["no layers", manifest({ layers: undefined }), "layers", /must be an array/],
    ["short digest", layer({ digest: "sha256:abc" }), "layers[2].digest", /64 hex/],
    [
      "upper-case digest",
      layer({ digest: A.toUpperCase().replace("SHA256", "sha256") }),
      "layers[2].digest",
      /lower case/,
    ],
    ["digest not a string", layer({ digest: 5 }), "layers[2].digest", /must be a string/],
    ["negative size", layer({ size: -1 }), "layers[2].size", /non-negative integer/],
    ["fractional size", layer({ size: 1.5 }), "layers[2].size", /non-negative integer/],
    ["size as string", layer({ size: "1" }), "layers[2].size", /non-negative integer/],
    [
      "missing mediaType",
      layer({ mediaType: undefined }),
      "layers[2].mediaType",
      /must be a string/,
    ],
    ["bad mediaType", layer({ mediaType: "tar" }), "layers[2].mediaType", /not a media type/],
    ["urls not strings", layer({ urls: [1] }), "layers[2].urls[0]", /must be a string/],
    [
      "annotation not a string",
      layer({ annotations: { "a.b": 1 } }),
      `layers[2].annotations["a.b"]`,
      /must be a string/,
    ],
    ["data not base64", layer({ data: "!!!" }), "layers[2].data", /base64/],
    [
      "data of the wrong size",
      layer({ data: "YWJj" }),
      "layers[2].data",
      /holds 3 bytes but size says 1/,
    ],
    [
      "bad subject",
      manifest({ subject: { mediaType: MediaType.OCI_MANIFEST, size: 1 } }),
      "subject.digest",
      /must be a string/,
    ],
  ];
  for (const [name, body, field, message] of cases) {
    await t.test(name, () => rejects(body, field, message));
  }
  await t.test("index entry without platform os", () =>
    rejects(
      {
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: [{
          mediaType: MediaType.OCI_MANIFEST,
          digest: A,
          size: 1,
          platform: { architecture: "amd64" },
        }],
      },
      "manifests[0].platform.os",
      /must be a string/,
    ));
});

test("serializeManifest() writes compact JSON in image-spec key order", async () => {
  const built = {
    layers: [{ size: 20, digest: B, mediaType: MediaType.OCI_LAYER_GZIP }],
    config: { size: 10, digest: A, mediaType: MediaType.OCI_CONFIG },
    annotations: { "z.key": "1", "a.key": "<&>" },
    mediaType: MediaType.OCI_MANIFEST,
    schemaVersion: 2,
  } as ImageManifest;
  const parsed = await serializeManifest(built);
  const text = new TextDecoder().decode(parsed.bytes);
  assert.equal(
    text,
    `{"schemaVersion":2,"mediaType":"${MediaType.OCI_MANIFEST}",` +
      `"config":{"mediaType":"${MediaType.OCI_CONFIG}","digest":"${A}","size":10},` +
      `"layers":[{"mediaType":"${MediaType.OCI_LAYER_GZIP}","digest":"${B}","size":20}],` +
      `"annotations":{"a.key":"\\u003c\\u0026\\u003e","z.key":"1"}}`,
  );
  assert.equal(parsed.digest, sha(parsed.bytes));
  const again = await serializeManifest(JSON.parse(text));
  assert.equal(again.digest, parsed.digest);
});

test("serializeManifest() refuses to write an invalid manifest", async () => {
  await assert.rejects(
    serializeManifest(
      manifest({
        layers: [{ mediaType: MediaType.OCI_LAYER, digest: A, size: -5 }],
      }) as unknown as ImageManifest,
    ),
    (err) => err instanceof ManifestError && err.field === "layers[0].size",
  );
  await assert.rejects(
    serializeManifest(manifest({ mediaType: undefined }) as unknown as ImageManifest),
    TypeError,
  );
});

// The image-spec's schema/descriptor_test.go digest and urls cases, through a manifest.
test("parseManifest() accepts the digests the image-spec accepts, sha512 and others", async () => {
  for (
    const digest of [
      `sha512:${"ab".repeat(64)}`,
      "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
      "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
    ]
  ) {
    const body = manifest({
      layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest, size: 20 }],
    });
    const parsed = await parseManifest(enc(JSON.stringify(body)), MediaType.OCI_MANIFEST);
    assert.equal(parsed.kind === "manifest" && parsed.manifest.layers[0].digest, digest);
  }
});

test("parseManifest() refuses the digests the image-spec refuses", async () => {
  for (
    const digest of [
      `sha512:${"ab".repeat(32)}`,
      "sha256+foo+-b:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b",
      `SHA256:${"a".repeat(64)}`,
    ]
  ) {
    const body = manifest({
      layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest, size: 20 }],
    });
    await rejects(body, "layers[0].digest", /Invalid digest/);
  }
});

test("parseManifest() refuses a urls entry that is not an absolute URL", async () => {
  const layer = { mediaType: MediaType.OCI_LAYER_GZIP, digest: B, size: 20 };
  const good = manifest({ layers: [{ ...layer, urls: ["https://example.com/foo"] }] });
  assert.equal((await parseManifest(enc(JSON.stringify(good)))).kind, "manifest");
  for (const url of ["value", "/relative/path", "http://exa mple.com/"]) {
    const bad = manifest({ layers: [layer, { ...layer, urls: ["https://ok.example/", url] }] });
    await rejects(bad, "layers[1].urls[1]", /is not an absolute URL/);
  }
});
