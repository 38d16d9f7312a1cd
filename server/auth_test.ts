import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { memoryStore } from "../storage/mod.ts";
import { basicAuth, tokenAuth } from "./auth.ts";
import { Htpasswd } from "./htpasswd.ts";
import { createRegistryApp } from "./registry_app.ts";

const HASH = bcrypt.hashSync("pw", 4);
const users = Htpasswd.parse(`alice:${HASH}\nreader:${HASH}\n`);
const base = "http://registry.test";

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${btoa(`${user}:${password}`)}` };
}

async function code(res: Response): Promise<string> {
  return (await res.json()).errors[0].code;
}

test("basicAuth challenges anonymous clients and wrong passwords with 401 UNAUTHORIZED", async () => {
  const app = createRegistryApp(memoryStore(), { auth: basicAuth(users) });
  let res = await app(new Request(`${base}/v2/`));
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Basic realm="stratum"');
  assert.equal(await code(res), "UNAUTHORIZED");
  res = await app(new Request(`${base}/v2/`, { headers: basic("alice", "nope") }));
  assert.equal(res.status, 401);
  await res.body?.cancel();
  res = await app(new Request(`${base}/v2/`, { headers: basic("alice", "pw") }));
  assert.equal(res.status, 200);
  await res.body?.cancel();
});

test("basicAuth applies the per-repository policy: DENIED for an action not granted", async () => {
  const app = createRegistryApp(memoryStore(), {
    auth: basicAuth(users, {
      policy: (user, repo) =>
        user === "alice"
          ? ["pull", "push", "delete"]
          : user === "reader" && repo?.startsWith("pub/")
          ? ["pull"]
          : [],
    }),
  });
  let res = await app(
    new Request(`${base}/v2/pub/x/blobs/uploads/`, {
      method: "POST",
      headers: basic("reader", "pw"),
    }),
  );
  assert.equal(res.status, 403);
  assert.equal(await code(res), "DENIED");
  res = await app(new Request(`${base}/v2/pub/x/tags/list`, { headers: basic("reader", "pw") }));
  assert.equal(res.status, 404, "pull is allowed: the repository just does not exist");
  await res.body?.cancel();
  res = await app(
    new Request(`${base}/v2/private/x/tags/list`, { headers: basic("reader", "pw") }),
  );
  assert.equal(res.status, 403);
  await res.body?.cancel();
  res = await app(
    new Request(`${base}/v2/pub/x/blobs/uploads/`, {
      method: "POST",
      headers: basic("alice", "pw"),
    }),
  );
  assert.equal(res.status, 202);
});

test("tokenAuth points clients at its token endpoint and accepts the tokens it issues", async () => {
  const app = createRegistryApp(memoryStore(), { auth: tokenAuth(users, { service: "reg" }) });
  let res = await app(new Request(`${base}/v2/team/app/tags/list`));
  assert.equal(res.status, 401);
  assert.equal(
    res.headers.get("www-authenticate"),
    `Bearer realm="${base}/token",service="reg",scope="repository:team/app:pull"`,
  );
  await res.body?.cancel();
  res = await app(
    new Request(`${base}/token?service=reg&scope=repository:team/app:pull,push`, {
      headers: basic("alice", "pw"),
    }),
  );
  assert.equal(res.status, 200);
  const { token, access_token, expires_in } = await res.json();
  assert.equal(token, access_token);
  assert.equal(expires_in, 300);
  const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  assert.deepEqual(claims.access, [{
    type: "repository",
    name: "team/app",
    actions: ["pull", "push"],
  }]);
  assert.equal(claims.sub, "alice");
  res = await app(
    new Request(`${base}/v2/team/app/blobs/uploads/`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    }),
  );
  assert.equal(res.status, 202);
  res = await app(
    new Request(`${base}/v2/other/app/tags/list`, {
      headers: { authorization: `Bearer ${token}` },
    }),
  );
  assert.equal(res.status, 401, "the token is scoped to team/app");
  assert.match(res.headers.get("www-authenticate") ?? "", /error="insufficient_scope"/);
  await res.body?.cancel();
});

test("tokenAuth grants only what the policy allows and refuses tampered or expired tokens", async () => {
  let now = 1_700_000_000_000;
  const app = createRegistryApp(memoryStore(), {
    auth: tokenAuth(users, {
      now: () => now,
      policy: (user, repo) => user === "reader" && repo === "pub/x" ? ["pull"] : [],
    }),
  });
  let res = await app(
    new Request(`${base}/token?scope=repository:pub/x:pull,push`, {
      headers: basic("reader", "pw"),
    }),
  );
  const { token } = await res.json();
  const auth = { authorization: `Bearer ${token}` };
  res = await app(
    new Request(`${base}/v2/pub/x/blobs/uploads/`, { method: "POST", headers: auth }),
  );
  assert.equal(res.status, 401, "push was asked for but not granted");
  await res.body?.cancel();
  res = await app(new Request(`${base}/v2/pub/x/tags/list`, { headers: auth }));
  assert.equal(res.status, 404, "pull works");
  await res.body?.cancel();
  const [h, c, s] = token.split(".");
  const forged = btoa(
    JSON.stringify({
      ...JSON.parse(atob(c.replace(/-/g, "+").replace(/_/g, "/"))),
      access: [{ type: "repository", name: "pub/x", actions: ["pull", "push"] }],
    }),
  ).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  res = await app(
    new Request(`${base}/v2/pub/x/blobs/uploads/`, {
      method: "POST",
      headers: { authorization: `Bearer ${h}.${forged}.${s}` },
    }),
  );
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
  await res.body?.cancel();
  now += 301_000;
  res = await app(new Request(`${base}/v2/pub/x/tags/list`, { headers: auth }));
  assert.equal(res.status, 401, "expired");
  await res.body?.cancel();
});

test("the token endpoint refuses bad credentials and takes OAuth2 password grants", async () => {
  const app = createRegistryApp(memoryStore(), { auth: tokenAuth(users) });
  let res = await app(
    new Request(`${base}/token?scope=repository:a:pull`, { headers: basic("alice", "x") }),
  );
  assert.equal(res.status, 401);
  await res.body?.cancel();
  res = await app(
    new Request(`${base}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body:
        "grant_type=password&username=alice&password=pw&scope=repository:a:pull&service=stratum-registry",
    }),
  );
  assert.equal(res.status, 200);
  assert.ok((await res.json()).access_token);
  res = await app(
    new Request(`${base}/token`, {
      method: "POST",
      body: "grant_type=refresh_token&refresh_token=x",
    }),
  );
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "unsupported_grant_type");
});

test("an anonymous token grants nothing under the default policy", async () => {
  const app = createRegistryApp(memoryStore(), { auth: tokenAuth(users) });
  const { token } = await (await app(new Request(`${base}/token?scope=repository:a:pull`))).json();
  const res = await app(
    new Request(`${base}/v2/a/tags/list`, { headers: { authorization: `Bearer ${token}` } }),
  );
  assert.equal(res.status, 401);
  await res.body?.cancel();
});
