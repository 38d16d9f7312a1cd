import assert from "node:assert/strict";
import { test } from "node:test";
import { parseChallenges } from "./challenge.ts";

test("parseChallenges() reads a Bearer challenge with several scopes", () => {
  const [c] = parseChallenges(
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
      'scope="repository:a:pull repository:b:pull,push"',
  );
  assert.equal(c.scheme, "bearer");
  assert.deepEqual(c.params, {
    realm: "https://auth.docker.io/token",
    service: "registry.docker.io",
    scope: "repository:a:pull repository:b:pull,push",
  });
});

test("parseChallenges() splits Basic and Bearer offered in one header", () => {
  const cs = parseChallenges(
    'Basic realm="Registry Realm", Bearer realm="https://x/t",error="invalid_token"',
  );
  assert.deepEqual(cs.map((c) => c.scheme), ["basic", "bearer"]);
  assert.equal(cs[0].params.realm, "Registry Realm");
  assert.equal(cs[1].params.error, "invalid_token");
});

test("parseChallenges() unescapes quoted values and keeps commas inside them", () => {
  const [c] = parseChallenges('Bearer realm="a,b \\"c\\"",service=plain');
  assert.equal(c.params.realm, 'a,b "c"');
  assert.equal(c.params.service, "plain");
});

test("parseChallenges() names the header when it is malformed", () => {
  assert.throws(
    () => parseChallenges('Bearer realm="x", ="y"'),
    /Malformed WWW-Authenticate header/,
  );
});
