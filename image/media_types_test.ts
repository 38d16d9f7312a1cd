import { test } from "node:test";
import assert from "node:assert/strict";
import {
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  MANIFEST_ACCEPT,
  MediaType,
} from "./media_types.ts";

test("media type predicates sort manifests, indexes and layers apart", () => {
  assert.ok(isManifestMediaType(MediaType.OCI_MANIFEST));
  assert.ok(isManifestMediaType(MediaType.DOCKER_MANIFEST));
  assert.ok(!isManifestMediaType(MediaType.OCI_INDEX));
  assert.ok(!isManifestMediaType(MediaType.DOCKER_MANIFEST_SCHEMA1));
  assert.ok(isIndexMediaType(MediaType.OCI_INDEX));
  assert.ok(isIndexMediaType(MediaType.DOCKER_MANIFEST_LIST));
  assert.ok(!isIndexMediaType(MediaType.OCI_MANIFEST));
  for (const layer of [MediaType.OCI_LAYER_ZSTD, MediaType.DOCKER_LAYER_FOREIGN_GZIP]) {
    assert.ok(isLayerMediaType(layer), layer);
  }
  assert.ok(!isLayerMediaType(MediaType.OCI_CONFIG));
});

test("media type predicates ignore Content-Type parameters and case", () => {
  assert.ok(isManifestMediaType(`${MediaType.DOCKER_MANIFEST}; charset=utf-8`));
  assert.ok(isIndexMediaType(" Application/VND.OCI.image.index.v1+json "));
});

test("MANIFEST_ACCEPT lists every manifest and index type but not schema 1", () => {
  const accepted = MANIFEST_ACCEPT.split(", ");
  assert.deepEqual(
    accepted.sort(),
    [
      MediaType.DOCKER_MANIFEST_LIST,
      MediaType.DOCKER_MANIFEST,
      MediaType.OCI_INDEX,
      MediaType.OCI_MANIFEST,
    ].sort(),
  );
  assert.ok(accepted.every((t) => isManifestMediaType(t) || isIndexMediaType(t)));
});
