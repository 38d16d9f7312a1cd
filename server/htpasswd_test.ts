import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { Htpasswd } from "./htpasswd.ts";

test("Htpasswd verifies bcrypt passwords, $2y$ (Apache) included", async () => {
  const hash = bcrypt.hashSync("s3cret", 4);
  const users = Htpasswd.parse(`# users\nalice:${hash}\nbob:${hash.replace(/^\$2b\$/, "$2y$")}\n`);
  assert.deepEqual(users.users, ["alice", "bob"]);
  assert.equal(await users.verify("alice", "s3cret"), true);
  assert.equal(await users.verify("bob", "s3cret"), true);
  assert.equal(await users.verify("alice", "wrong"), false);
  assert.equal(await users.verify("carol", "s3cret"), false);
});

test("Htpasswd refuses non-bcrypt hashes, naming the file and line", () => {
  assert.throws(
    () =>
      Htpasswd.parse("alice:$2b$04$" + "a".repeat(53) + "\nbob:{SHA}abc=\n", "/etc/reg.htpasswd"),
    { name: "SyntaxError", message: /\/etc\/reg\.htpasswd:2: .*"bob".*htpasswd -B/ },
  );
  assert.throws(() => Htpasswd.parse("no-colon-here", "f"), {
    message: /^f:1: expected "user:hash"/,
  });
});

test("Htpasswd remembers a verified pair only until the cache expires", async () => {
  let now = 0;
  const hash = bcrypt.hashSync("pw", 4);
  const users = Htpasswd.parse(`alice:${hash}`, "f", { cacheMs: 1000, now: () => now });
  assert.equal(await users.verify("alice", "pw"), true);
  now = 2000;
  assert.equal(await users.verify("alice", "pw"), true);
  assert.equal(await users.verify("alice", "px"), false);
});
