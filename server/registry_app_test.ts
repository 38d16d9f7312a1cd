import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { memoryStore } from "../storage/mod.ts";
import { basicAuth } from "./auth.ts";
import { Htpasswd } from "./htpasswd.ts";
import { createRegistryApp } from "./registry_app.ts";

const base = "http://registry.test";

test("the access log has one line per request, with the user and never the credentials", async () => {
  const lines: string[] = [];
  const users = Htpasswd.parse(`alice:${bcrypt.hashSync("hunter2", 4)}`);
  const app = createRegistryApp(memoryStore(), {
    auth: basicAuth(users),
    log: (l) => lines.push(l),
  });
  const authorization = `Basic ${btoa("alice:hunter2")}`;
  const res = await app(
    new Request(`${base}/v2/`, { headers: { authorization, "user-agent": "t/1" } }),
    {
      remoteAddr: { hostname: "10.1.2.3" },
    },
  );
  await res.text();
  const denied = await app(new Request(`${base}/v2/a/b/tags/list`));
  await denied.text();
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^10\.1\.2\.3 alice \[[^\]]+\] "GET \/v2\/" 200 2 "t\/1" [\d.]+ms$/);
  assert.match(lines[1], /"GET \/v2\/a\/b\/tags\/list" 401 \d+ - [\d.]+ms error="UNAUTHORIZED"$/);
  for (const l of lines) {
    assert.ok(!l.includes("hunter2") && !l.includes(authorization.slice(6)), l);
  }
});

test("requests outside /v2/ go to the fallback, so the demo UI can plug in", async () => {
  const app = createRegistryApp(memoryStore(), {
    fallback: (req) => new Response(`ui:${new URL(req.url).pathname}`),
  });
  assert.equal(await (await app(new Request(`${base}/api/inspect`))).text(), "ui:/api/inspect");
  const none = createRegistryApp(memoryStore());
  const res = await none(new Request(`${base}/`));
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

test("a request body that stalls is dropped with 408 and leaves no blob", async () => {
  const store = memoryStore();
  const app = createRegistryApp(store, { bodyIdleTimeoutMs: 50 });
  const digest = `sha256:${"0".repeat(64)}`;
  // A body that sends one chunk and then nothing, like a client that stopped mid-upload.
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(10));
    },
  });
  const res = await app(
    new Request(`${base}/v2/a/blobs/uploads/?digest=${digest}`, {
      method: "POST",
      body,
      duplex: "half",
    } as RequestInit),
  );
  assert.equal(res.status, 408);
  await res.body?.cancel();
  // A loop, not Array.fromAsync: the suite also runs on Node 20, which lacks it.
  const left: string[] = [];
  for await (const d of store.blobs.list()) left.push(d);
  assert.deepEqual(left, []);
});

test("createRegistryApp refuses a namespace that is not a registry host", () => {
  assert.throws(() => createRegistryApp(memoryStore(), { namespace: "team" }), {
    name: "TypeError",
    message: /Invalid registry namespace "team"/,
  });
  createRegistryApp(memoryStore(), { namespace: "registry.local:5000" });
});
