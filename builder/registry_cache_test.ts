import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCacheSpec } from "./registry_cache.ts";

test("parseCacheSpec() reads docker's type=registry,ref= form and a bare ref", () => {
  assert.deepEqual(parseCacheSpec("type=registry,ref=r.example/app:cache,mode=max"), {
    type: "registry",
    ref: "r.example/app:cache",
  });
  assert.deepEqual(parseCacheSpec("r.example/app:cache"), {
    type: "registry",
    ref: "r.example/app:cache",
  });
});

test("parseCacheSpec() refuses other cache types and a missing ref, quoting the value", () => {
  assert.throws(
    () => parseCacheSpec("type=local,dest=/tmp/c"),
    /Invalid cache "type=local,dest=\/tmp\/c": type "local" is not supported/,
  );
  assert.throws(() => parseCacheSpec("type=registry,mode=max"), /ref= is required/);
});
