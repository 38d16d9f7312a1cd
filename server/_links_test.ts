import assert from "node:assert/strict";
import { test } from "node:test";
import { BlobLinks } from "./_links.ts";

test("BlobLinks links per repository and forgets the oldest beyond its bound", () => {
  const links = new BlobLinks({ max: 2 });
  links.link("a", "sha256:1");
  links.link("b", "sha256:1");
  assert.equal(links.has("a", "sha256:1"), true);
  assert.equal(links.has("c", "sha256:1"), false);
  links.link("a", "sha256:1"); // re-linking makes it the newest
  links.link("a", "sha256:2");
  assert.equal(links.has("b", "sha256:1"), false, "the oldest went");
  assert.equal(links.has("a", "sha256:1"), true);
  assert.equal(links.unlink("a", "sha256:1"), true);
  assert.equal(links.unlink("a", "sha256:1"), false);
  assert.equal(links.linkedAnywhere("sha256:1"), false);
  assert.equal(links.linkedAnywhere("sha256:2"), true);
});
