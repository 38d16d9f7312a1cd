// `stratum serve --ui` under the registry's policy: /api/* answers as /v2/ does (same 401 and
// challenge, same per-repository access), and the web view pulls from other registries only
// with --ui-remote, with the operator's logins only with --ui-remote-credentials.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { sha256 } from "../digest/mod.ts";
import { MediaType } from "../image/mod.ts";
import {
  type AccessPolicy,
  type Action,
  type Authenticator,
  basicAuth,
  createDemoApp,
  createRegistryApp,
  Htpasswd,
  pullingResolver,
  tokenAuth,
} from "../server/mod.ts";
import { type ImageStore, memoryStore } from "../storage/mod.ts";
import { spawnTestScript } from "./_child.ts";
import { stratum } from "./_cli.ts";
import { layerTar } from "./_fixtures.ts";
import { pushImage, type TestManifest, withRegistry } from "./_served_registry.ts";

const HASH = bcrypt.hashSync("pw", 4);
const users = Htpasswd.parse(`alice:${HASH}\nbob:${HASH}\n`);
const enc = new TextEncoder();

/** Each user owns `<user>/*`; anyone may pull `public/*`, and only bob may push there. */
const policy: AccessPolicy = (user, repo): Action[] => {
  if (repo === undefined) return [];
  if (repo.startsWith("public/")) return user === "bob" ? ["pull", "push", "delete"] : ["pull"];
  if (user && repo.startsWith(`${user}/`)) return ["pull", "push", "delete"];
  return [];
};

const as = (user: string): Record<string, string> => ({
  authorization: `Basic ${btoa(`${user}:pw`)}`,
});

/** A one-layer OCI image over a real tar, so the web view can read its tree. */
async function tarImage(file: string): Promise<TestManifest> {
  const layer = await layerTar([{ name: file, body: "x" }]);
  const layerDigest = await sha256(layer);
  const config = enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [layerDigest] },
  }));
  const configDigest = await sha256(config);
  const bytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: MediaType.OCI_LAYER, digest: layerDigest, size: layer.length }],
  }));
  return {
    bytes,
    digest: await sha256(bytes),
    mediaType: MediaType.OCI_MANIFEST,
    blobs: [{ bytes: config, digest: configDigest }, { bytes: layer, digest: layerDigest }],
  };
}

/** The registry with the web view as its fallback, as `serve --ui` wires them. */
function served(store: ImageStore, auth: Authenticator) {
  const app = createRegistryApp(store, { auth, fallback: createDemoApp(store, { auth }) });
  return (path: string, init?: RequestInit) =>
    app(new Request("http://127.0.0.1:5000" + path, init));
}

async function statusOf(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.body?.cancel();
  return r.status;
}

test("anonymous /api/* gets the registry's own 401 and challenge when it requires auth", async () => {
  const store = memoryStore();
  const req = served(store, basicAuth(users, { policy }));
  const image = await tarImage("secret.txt");
  const signed = (p: string, i: RequestInit = {}) =>
    req(p, { ...i, headers: { ...as("bob"), ...(i.headers ?? {}) } });
  assert.equal(await statusOf(pushImage(signed, "bob/private", image, "1")), 201);

  const v2 = await req("/v2/bob/private/manifests/1");
  assert.equal(v2.status, 401);
  await v2.body?.cancel();
  const challenge = v2.headers.get("www-authenticate");
  assert.match(challenge!, /^Basic realm=/);
  const calls: [string, RequestInit?][] = [
    ["/api/inspect?image=127.0.0.1:5000/bob/private:1"],
    ["/api/inspect?image=bob/private:1"],
    ["/api/inspect?image=ghcr.io/org/tool:1"],
    ["/api/parse", { method: "POST", body: "FROM scratch\n" }],
    ["/api/build", { method: "POST", body: "FROM scratch\n" }],
  ];
  for (const [path, init] of calls) {
    const res = await req(path, init);
    assert.equal(res.status, 401, path);
    assert.equal(res.headers.get("www-authenticate"), challenge, path);
    const body = await res.json();
    assert.equal(body.code, "UNAUTHORIZED", path);
    assert.doesNotMatch(JSON.stringify(body), /secret|sha256/, path);
  }
  // The owner sees it.
  const own = await signed("/api/inspect?image=127.0.0.1:5000/bob/private:1");
  assert.equal(own.status, 200);
  assert.deepEqual((await own.json()).tree.map((e: { path: string }) => e.path), ["secret.txt"]);
});

test("/api/inspect shows a user only the repositories they may pull, as /v2/ does", async () => {
  const store = memoryStore();
  const req = served(store, basicAuth(users, { policy }));
  const bob = (p: string, i: RequestInit = {}) =>
    req(p, { ...i, headers: { ...as("bob"), ...(i.headers ?? {}) } });
  const alice = (p: string) => req(p, { headers: as("alice") });
  assert.equal(await statusOf(pushImage(bob, "bob/private", await tarImage("a"), "1")), 201);
  assert.equal(await statusOf(pushImage(bob, "public/app", await tarImage("b"), "1")), 201);

  assert.equal(await statusOf(alice("/v2/bob/private/manifests/1")), 403);
  for (const ref of ["127.0.0.1:5000/bob/private:1", "bob/private:1", "bob/private:nope"]) {
    const res = await alice(`/api/inspect?image=${encodeURIComponent(ref)}`);
    assert.equal(res.status, 403, ref);
    assert.equal((await res.json()).code, "DENIED", ref);
  }
  // A public repository is readable anonymously through both doors.
  assert.equal(await statusOf(req("/v2/public/app/manifests/1")), 200);
  const open = await req("/api/inspect?image=public/app:1");
  assert.equal(open.status, 200);
  assert.equal((await open.json()).source, "local");
  // Parsing needs what /v2/ needs: a login here.
  assert.equal(await statusOf(req("/api/parse", { method: "POST", body: "FROM scratch\n" })), 401);
  const parsed = await req("/api/parse", {
    method: "POST",
    headers: as("alice"),
    body: "FROM scratch\n",
  });
  assert.equal(parsed.status, 200);
  await parsed.body?.cancel();
});

test("with token auth, anonymous /api/inspect gets the same Bearer challenge as /v2/", async () => {
  const req = served(memoryStore(), tokenAuth(users, { policy }));
  const v2 = await req("/v2/bob/private/manifests/1");
  const api = await req("/api/inspect?image=127.0.0.1:5000/bob/private:1");
  assert.equal(v2.status, 401);
  assert.equal(api.status, 401);
  await v2.body?.cancel();
  await api.body?.cancel();
  const challenge = v2.headers.get("www-authenticate")!;
  assert.match(
    challenge,
    /^Bearer realm=".*\/token",service=.*scope="repository:bob\/private:pull"/,
  );
  assert.equal(api.headers.get("www-authenticate"), challenge);
});

test("without a resolve hook nothing is pulled from another registry, whatever is asked", async () => {
  await withRegistry({}, async (other) => {
    const host = new URL(other.url).host;
    assert.equal(await statusOf(pushImage(other.req, "x/app", await tarImage("a"), "1")), 201);
    const seen = other.log.length;
    const store = memoryStore();
    const app = createDemoApp(store);
    const res = await app(new Request(`http://127.0.0.1:5000/api/inspect?image=${host}/x/app:1`));
    assert.equal(res.status, 404);
    assert.equal((await res.json()).code, "IMAGE_NOT_LOCAL");
    assert.equal(other.log.length, seen, "no request reached the other registry");
    assert.deepEqual(await store.tags.list(), []);
  });
});

test("pullingResolver pulls anonymously unless given credentials", async () => {
  await withRegistry({ auth: basicAuth(users) }, async (other) => {
    const host = new URL(other.url).host;
    const signed = (p: string, i: RequestInit = {}) =>
      other.req(p, { ...i, headers: { ...as("alice"), ...(i.headers ?? {}) } });
    assert.equal(await statusOf(pushImage(signed, "x/app", await tarImage("a"), "1")), 201);
    const ref = `${host}/x/app:1`;

    const store = memoryStore();
    const anon = createDemoApp(store, { resolve: pullingResolver(store) });
    const refused = await anon(new Request(`http://127.0.0.1:5000/api/inspect?image=${ref}`));
    assert.equal(refused.status, 502);
    const body = await refused.json();
    assert.equal(body.code, "RESOLVE_FAILED");
    assert.doesNotMatch(body.error, /pw/);
    assert.deepEqual(await store.tags.list(), [], "nothing stored");
    assert.ok(other.log.some((l) => /" 401 /.test(l)), "the other registry was asked anonymously");

    const withLogin = createDemoApp(store, {
      resolve: pullingResolver(store, { auth: { username: "alice", password: "pw" } }),
    });
    const res = await withLogin(new Request(`http://127.0.0.1:5000/api/inspect?image=${ref}`));
    assert.equal(res.status, 200);
    const shown = await res.json();
    assert.equal(shown.source, "remote");
    assert.deepEqual(shown.tree.map((e: { path: string }) => e.path), ["a"]);
    const missing = await withLogin(
      new Request(`http://127.0.0.1:5000/api/inspect?image=${host}/x/app:2`),
    );
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).code, "IMAGE_UNKNOWN");
  });
});

/** Starts `stratum serve` in a child with `env`, and returns its URL and a stop function. */
async function serveChild(
  root: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const child: ChildProcess = spawnTestScript(import.meta.url, "_serve_child", [root, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (d: Uint8Array) => {
      text += new TextDecoder().decode(d);
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`stratum serve exited ${code}: ${text}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

test("stratum serve --ui pulls from elsewhere only with --ui-remote, with logins only when told", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-ui-policy-"));
  try {
    await withRegistry({ auth: basicAuth(users) }, async (other) => {
      const host = new URL(other.url).host;
      const signed = (p: string, i: RequestInit = {}) =>
        other.req(p, { ...i, headers: { ...as("alice"), ...(i.headers ?? {}) } });
      assert.equal(await statusOf(pushImage(signed, "x/app", await tarImage("a"), "1")), 201);
      // The operator is logged in to the other registry.
      await writeFile(
        join(dir, "config.json"),
        JSON.stringify({ auths: { [host]: { auth: btoa("alice:pw") } } }),
      );
      await writeFile(join(dir, "htpasswd"), `alice:${HASH}\n`);
      const env = { DOCKER_CONFIG: dir };
      const base = ["--addr", "127.0.0.1:0", "--htpasswd", join(dir, "htpasswd"), "--ui"];
      const cases: [string[], number][] = [
        [[], 404],
        [["--ui-remote"], 502],
        [["--ui-remote", "--ui-remote-credentials"], 200],
      ];
      for (const [flags, expected] of cases) {
        const server = await serveChild(join(dir, "store"), [...base, ...flags], env);
        try {
          const inspect = (headers: Record<string, string> = {}) =>
            fetch(`${server.url}/api/inspect?image=${host}/x/app:1`, { headers });
          assert.equal(await statusOf(inspect()), 401, `anonymous, ${flags}`);
          const res = await inspect(as("alice"));
          assert.equal(res.status, expected, flags.join(" ") || "no flags");
          await res.body?.cancel();
        } finally {
          await server.stop();
        }
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("stratum serve refuses --ui-remote without --ui and credentials without --ui-remote", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-ui-flags-"));
  try {
    let r = await stratum(dir, "serve", "--ui-remote");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--ui-remote needs --ui/);
    r = await stratum(dir, "serve", "--ui", "--ui-remote-credentials");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--ui-remote-credentials needs --ui-remote/);
    r = await stratum(dir, "serve", "--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--ui-remote-credentials/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
