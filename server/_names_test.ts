import assert from "node:assert/strict";
import { test } from "node:test";
import { Namespace } from "./_names.ts";

test("the namespace's names are served by their path below it", () => {
  const ns = new Namespace("localhost:5000");
  assert.deepEqual(ns.parse("localhost:5000/app:1"), { repo: "app", tag: "1" });
  assert.deepEqual(ns.parse(`localhost:5000/a/b@sha256:${"0".repeat(64)}`), {
    repo: "a/b",
    digest: `sha256:${"0".repeat(64)}`,
  });
  assert.equal(ns.tag("app", "1"), "localhost:5000/app:1");
});

test("Docker Hub names are served by their Hub path, other registries' with their host", () => {
  const ns = new Namespace("localhost:5000");
  assert.deepEqual(ns.parse("docker.io/library/app:1"), { repo: "library/app", tag: "1" });
  assert.deepEqual(ns.parse("docker.io/user/app:2"), { repo: "user/app", tag: "2" });
  assert.deepEqual(ns.parse("ghcr.io/org/app:3"), { repo: "ghcr.io/org/app", tag: "3" });
  // Another registry with a port cannot be a repository name; an unnamed record is no name.
  assert.equal(ns.parse("localhost:6000/app:1"), undefined);
  assert.equal(ns.parse(`@sha256:${"0".repeat(64)}`), undefined);
});

test("a read looks in the namespace first, then at the Hub or registry name", () => {
  const ns = new Namespace("localhost:5000");
  assert.deepEqual(ns.candidates("library/app", "1"), [
    "localhost:5000/library/app:1",
    "docker.io/library/app:1",
  ]);
  assert.deepEqual(ns.candidates("user/app", "1"), [
    "localhost:5000/user/app:1",
    "docker.io/user/app:1",
  ]);
  assert.deepEqual(ns.candidates("ghcr.io/org/app", "1"), [
    "localhost:5000/ghcr.io/org/app:1",
    "ghcr.io/org/app:1",
  ]);
  // A one-component name is the namespace's only: Hub's `app` is `library/app`.
  assert.deepEqual(ns.candidates("app", "1"), ["localhost:5000/app:1"]);
  const digest = `sha256:${"1".repeat(64)}`;
  assert.deepEqual(ns.candidates("user/app", digest), [
    `localhost:5000/user/app@${digest}`,
    `docker.io/user/app@${digest}`,
  ]);
});
