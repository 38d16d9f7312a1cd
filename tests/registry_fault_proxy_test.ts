// Faults injected by a proxy in front of the real CNCF distribution registry: a body that
// stalls mid-blob, a 500 on the ping, a lost answer to an upload's final PUT, a corrupted
// transfer. Each must be recovered from, and none may leave a wrong blob in the store.
// Then what a user reads when the registry cannot be reached or refuses them.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import {
  createServer,
  type IncomingMessage,
  request as httpRequest,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DigestMismatchError, sha256 } from "../digest/mod.ts";
import type { ImageManifest } from "../image/mod.ts";
import { type ImageStore, memoryStore, openStore } from "../storage/mod.ts";
import {
  AuthenticationError,
  ConnectionError,
  pull,
  push,
  RegistryClient,
  RegistryError,
} from "../registry_client/mod.ts";
import { buildImage, freePort, startRegistry, USER } from "./_cncf_registry.ts";
import { missingPeers } from "./_peers.ts";

/** One request the proxy saw, and the status it answered (0: no answer). */
interface Seen {
  method: string;
  path: string;
  query: string;
  range: string;
  status: number;
}

/** What the proxy does to one exchange; undefined forwards it untouched. */
type Fault =
  | { answer: number } // answer this status, forward nothing
  | { stallAfter: number } // forward the headers and this many body bytes, then go silent
  | { corrupt: true } // forward with one body byte flipped
  | { dropAnswer: true } // forward, then close the connection instead of answering
  | { dropRequest: true }; // read the request, close the connection, forward nothing

interface FaultProxy {
  host: string;
  seen: Seen[];
  fault?: (req: IncomingMessage, path: string) => Fault | undefined;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding"]);

/** A proxy to `upstream` (host:port) that applies `proxy.fault` to each request. */
async function faultProxy(upstream: string): Promise<FaultProxy> {
  const [upHost, upPort] = upstream.split(":");
  const proxy: FaultProxy = {
    host: "",
    seen: [],
    close: () => Promise.resolve(),
  };
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, "http://x");
    const seen: Seen = {
      method: req.method!,
      path: url.pathname,
      query: url.search,
      range: req.headers.range ?? "",
      status: 0,
    };
    proxy.seen.push(seen);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const fault = proxy.fault?.(req, url.pathname);
    if (fault && "answer" in fault) {
      seen.status = fault.answer;
      res.writeHead(fault.answer, { "content-length": 0 }).end();
      return;
    }
    if (fault && "dropRequest" in fault) return void req.socket.destroy();
    // The Host header goes through unchanged: the registry builds its Location URLs from it.
    const up = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = httpRequest({
        host: upHost,
        port: Number(upPort),
        method: req.method,
        path: req.url,
        headers: req.headers,
      }, resolve);
      r.on("error", reject);
      r.end(Buffer.concat(chunks));
    });
    const body: Buffer[] = [];
    for await (const c of up) body.push(c as Buffer);
    const bytes = Buffer.concat(body);
    if (fault && "dropAnswer" in fault) return void req.socket.destroy();
    seen.status = up.statusCode!;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    if (req.method !== "HEAD") headers["content-length"] = String(bytes.length);
    res.writeHead(up.statusCode!, headers);
    if (fault && "stallAfter" in fault) {
      res.write(bytes.subarray(0, fault.stallAfter)); // and nothing more, until close()
      return;
    }
    if (fault && "corrupt" in fault && bytes.length > 0) bytes[bytes.length >> 1] ^= 0xff;
    res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  proxy.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}

declare module "node:http" {
  interface Server {
    closeAllConnections(): void;
  }
}

/** Where test images sit in the local store before they are pushed. */
const SRC = "stratum.test/fault/img:v1";

/** Small timeouts and delays so a fault costs milliseconds, not the defaults' seconds. */
const fast = { retryDelayMs: 1, idleTimeoutMs: 1000 };

/** Pushes a fresh test image straight to the registry; returns its biggest layer. */
async function seed(registry: string, repo: string, seedText: string): Promise<string> {
  const store = memoryStore();
  await buildImage(store, SRC, { seed: seedText, layerBytes: 400_000 });
  await push(store, SRC, { destination: `${registry}/${repo}:v1`, ...fast });
  return (await biggestLayer(store, SRC)).digest;
}

async function biggestLayer(store: ImageStore, name: string): Promise<{ digest: string }> {
  const img = await store.resolve(name);
  const m = img.manifest as ImageManifest;
  return [...m.layers].sort((a, b) => b.size - a.size)[0];
}

async function assertClean(store: ImageStore): Promise<void> {
  const { checked, problems } = await store.fsck();
  assert.deepEqual(problems, []);
  // Every stored blob was hashed: content-addressed means a wrong blob cannot hide.
  let listed = 0;
  for await (const _ of store.blobs.list()) listed++;
  assert.equal(checked, listed);
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-fault-proxy-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const blobGet = (digest: string) => (req: IncomingMessage, path: string) =>
  req.method === "GET" && path.endsWith(`/blobs/${digest}`);

test("faults between stratum and docker-registry are recovered from", {
  skip: missingPeers("docker-registry"),
  timeout: 120_000, // a guard: without the idle timeout, the stalled body hangs forever
}, async (t) => {
  const registry = await startRegistry("none");
  const proxy = await faultProxy(registry.host);
  try {
    await t.test("a body that stalls mid-blob is dropped after the idle timeout and resumed with Range", async () => {
      const layer = await seed(registry.host, "fault/stall", "stall");
      let stalled = 0;
      const isLayer = blobGet(layer);
      proxy.fault = (req, path) => {
        if (!isLayer(req, path) || stalled++ > 0) return undefined;
        return { stallAfter: 1000 };
      };
      await withDir(async (dir) => {
        const store = await openStore(dir);
        const r = await pull(store, `${proxy.host}/fault/stall:v1`, fast);
        assert.equal(stalled, 2);
        const gets = proxy.seen.filter((s) => s.method === "GET" && s.path.endsWith(layer));
        // The second request asked only for what the stalled one had not delivered.
        assert.match(gets[1].range, /^bytes=[1-9]\d*-$/, JSON.stringify(gets));
        assert.ok(await store.blobs.has(layer));
        assert.equal((await store.resolve(`${proxy.host}/fault/stall:v1`)).id, r.id);
        await assertClean(store);
      });
    });

    await t.test("one 500 on the ping is retried by pull and by push", async () => {
      await seed(registry.host, "fault/ping", "ping");
      const pings = () => proxy.seen.filter((s) => s.path === "/v2/");
      const failFirstPing = () => {
        let failed = false;
        proxy.fault = (_req, path) => {
          if (path !== "/v2/" || failed) return undefined;
          failed = true;
          return { answer: 500 };
        };
      };
      failFirstPing();
      const before = pings().length;
      const store = memoryStore();
      await pull(store, `${proxy.host}/fault/ping:v1`, fast);
      assert.deepEqual(pings().slice(before).map((s) => s.status).slice(0, 2), [500, 200]);
      await assertClean(store);

      failFirstPing();
      const mark = pings().length;
      const pushed = await push(store, `${proxy.host}/fault/ping:v1`, {
        ...fast,
        destination: `${proxy.host}/fault/ping-copy:v1`,
      });
      assert.deepEqual(pings().slice(mark).map((s) => s.status).slice(0, 2), [500, 200]);
      const check = await new RegistryClient(registry.host).headManifest("fault/ping-copy", "v1");
      assert.equal(check?.digest, pushed.digest);
    });

    await t.test("a connection reset on the ping is retried", async () => {
      let dropped = false;
      proxy.fault = (_req, path) => {
        if (path !== "/v2/" || dropped) return undefined;
        dropped = true;
        return { dropRequest: true };
      };
      const before = proxy.seen.length;
      const store = memoryStore();
      await pull(store, `${proxy.host}/fault/ping:v1`, fast);
      const pings = proxy.seen.slice(before).filter((s) => s.path === "/v2/");
      assert.deepEqual(pings.map((s) => s.status), [0, 200]);
      await assertClean(store);
    });

    /**
     * Fails every final PUT of `digest`'s first upload session with `fault`. Every one, not
     * the first: Deno's HTTP client re-sends an idempotent PUT on its own when a reused
     * connection closes, and that second try must meet the same fault.
     */
    const failFinalPut = (digest: string, fault: Fault) => {
      let session: string | undefined;
      proxy.fault = (req, path) => {
        if (req.method !== "PUT" || !path.includes("/blobs/uploads/")) return undefined;
        if (req.url!.includes(`digest=${encodeURIComponent(digest)}`)) session ??= path;
        return path === session ? fault : undefined;
      };
    };

    await t.test("a lost answer to the final PUT: HEAD finds the blob and the push completes", async () => {
      const store = memoryStore();
      await buildImage(store, SRC, { seed: "lost-put", layerBytes: 300_000 });
      const layer = (await biggestLayer(store, SRC)).digest;
      failFinalPut(layer, { dropAnswer: true });
      const mark = proxy.seen.length;
      const pushed = await push(store, SRC, {
        ...fast,
        destination: `${proxy.host}/fault/lost-put:v1`,
      });
      const after = proxy.seen.slice(mark);
      const lost = after.findIndex((s) => s.method === "PUT" && s.status === 0);
      assert.ok(lost >= 0, JSON.stringify(after));
      // The blob was asked for and found, so it was not uploaded a second time.
      assert.ok(
        after.slice(lost).some((s) =>
          s.method === "HEAD" && s.path.endsWith(layer) &&
          s.status === 200
        ),
        JSON.stringify(after),
      );
      assert.equal(after.filter((s) => s.method === "POST").length, 3); // config + 2 layers
      const direct = new RegistryClient(registry.host);
      assert.equal((await direct.headManifest("fault/lost-put", "v1"))?.digest, pushed.digest);
      const back = memoryStore();
      await pull(back, `${registry.host}/fault/lost-put:v1`, fast);
      await assertClean(back);
      assert.ok(await back.blobs.has(layer));
    });

    await t.test("a final PUT lost before it reached the registry starts a new upload", async () => {
      const store = memoryStore();
      await buildImage(store, SRC, { seed: "lost-request", layerBytes: 300_000 });
      const layer = (await biggestLayer(store, SRC)).digest;
      failFinalPut(layer, { dropRequest: true });
      const mark = proxy.seen.length;
      await push(store, SRC, { ...fast, destination: `${proxy.host}/fault/lost-req:v1` });
      const after = proxy.seen.slice(mark);
      const puts = after.filter((s) => s.method === "PUT" && s.query.includes(layer.slice(7)));
      // The lost PUT (or PUTs), then one to a second session, which the registry took.
      assert.equal(puts.at(-1)!.status, 201, JSON.stringify(puts));
      assert.ok(puts.slice(0, -1).every((s) => s.status === 0 && s.path === puts[0].path));
      assert.notEqual(puts.at(-1)!.path, puts[0].path);
      assert.equal(after.filter((s) => s.method === "POST").length, 4); // one blob twice
      assert.equal(
        await new RegistryClient(registry.host).headBlob("fault/lost-req", layer),
        (await store.blobs.stat(layer))!.size,
      );
    });

    await t.test("one corrupted transfer is fetched once more; corruption every time fails and leaves nothing", async () => {
      const layer = await seed(registry.host, "fault/corrupt", "corrupt");
      const isLayer = blobGet(layer);
      let corrupted = 0;
      proxy.fault = (req, path) =>
        isLayer(req, path) && corrupted++ === 0 ? { corrupt: true } : undefined;
      await withDir(async (dir) => {
        const store = await openStore(dir);
        await pull(store, `${proxy.host}/fault/corrupt:v1`, fast);
        assert.equal(corrupted, 2);
        const gets = proxy.seen.filter((s) => s.method === "GET" && s.path.endsWith(layer));
        // Fetched again from the start: the corrupted bytes were not kept and resumed.
        assert.equal(gets.at(-1)!.range, "");
        assert.equal(await sha256(await readAll(store, layer)), layer);
        await assertClean(store);
      });

      proxy.fault = (req, path) => isLayer(req, path) ? { corrupt: true } : undefined;
      await withDir(async (dir) => {
        const store = await openStore(dir);
        await assert.rejects(pull(store, `${proxy.host}/fault/corrupt:v1`, fast), (e: Error) => {
          assert.ok(e instanceof DigestMismatchError, String(e));
          assert.match(e.message, new RegExp(`blob ${layer} .*fetched twice.*expected ${layer}`));
          return true;
        });
        assert.equal(await store.blobs.has(layer), false);
        assert.deepEqual(await store.tags.list(), []);
        await assertClean(store);
      });
    });
  } finally {
    proxy.fault = undefined;
    await proxy.close();
    await registry.close();
  }
});

async function readAll(store: ImageStore, digest: string): Promise<Uint8Array> {
  return new Uint8Array(await new Response(await store.blobs.get(digest)).arrayBuffer());
}

// An hour of backoff: these fail at once or hang until the guard's timeout.
const noRetry = { retryDelayMs: 3_600_000, maxRetryDelayMs: 3_600_000 };

test("a closed port is reported with host, port and errno at once, like docker's dial error", {
  timeout: 60_000,
}, async () => {
  const port = await freePort();
  await assert.rejects(
    pull(memoryStore(), `127.0.0.1:${port}/nothing/here:1`, noRetry),
    (e: Error) => {
      assert.ok(e instanceof ConnectionError, String(e));
      assert.match(
        e.message,
        new RegExp(
          `dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused \\(ECONNREFUSED\\)`,
        ),
      );
      assert.equal(e.port, port);
      assert.equal(e.code, "ECONNREFUSED");
      assert.equal(e.status, 0);
      return true;
    },
  );
});

test("a name that does not resolve is reported as 'no such host', without retries", {
  timeout: 60_000,
}, async () => {
  const host = "stratum-fault-test.invalid:5000";
  await assert.rejects(
    pull(memoryStore(), `${host}/x:1`, { insecure: [host], ...noRetry }),
    (e: Error) => {
      assert.ok(e instanceof ConnectionError, String(e));
      assert.match(e.message, /lookup stratum-fault-test\.invalid: no such host/);
      assert.equal(e.retryable, false);
      return true;
    },
  );
});

test("a certificate that does not verify is named as such, without retries", {
  skip: missingPeers("openssl"),
  timeout: 60_000,
}, async () => {
  await withDir(async (dir) => {
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-subj",
      "/CN=tls-test.example",
      "-days",
      "2",
    ], { stdio: "pipe" });
    const server = createHttpsServer({
      key: await readFile(join(dir, "key.pem")),
      cert: await readFile(join(dir, "cert.pem")),
    }, (_req, res) => res.writeHead(200).end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      // A name stratum speaks HTTPS to, dialled at 127.0.0.1 by the runtime's own fetch.
      const host = `tls-test.example:${port}`;
      const toLocal: typeof fetch = (input, init) =>
        fetch(String(input).replace("tls-test.example", "127.0.0.1"), init);
      await assert.rejects(
        pull(memoryStore(), `${host}/x:1`, { fetch: toLocal, ...noRetry }),
        (e: Error) => {
          assert.ok(e instanceof ConnectionError, String(e));
          assert.match(
            e.message,
            new RegExp(
              `GET https://${host}/v2/: tls: failed to verify certificate of ${host}: x509: ` +
                "certificate signed by unknown authority",
            ),
          );
          assert.equal(e.retryable, false);
          return true;
        },
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

test("a 401 suggests stratum login, and never shows the password", {
  skip: missingPeers("docker-registry"),
}, async (t) => {
  const basic = await startRegistry("htpasswd");
  try {
    await t.test("no credentials found", async () => {
      await assert.rejects(
        pull(memoryStore(), `${basic.host}/private/app:1`, {
          ...fast,
          auth: () => Promise.resolve(undefined),
        }),
        (e: Error) => {
          assert.ok(e instanceof RegistryError && e.status === 401, String(e));
          assert.match(
            e.message,
            new RegExp(
              `no credentials for ${basic.host}; log in with "stratum login ${basic.host}"`,
            ),
          );
          return true;
        },
      );
    });
    await t.test("credentials refused", async () => {
      const password = "wrong-Pa55-word";
      await assert.rejects(
        pull(memoryStore(), `${basic.host}/private/app:1`, {
          ...fast,
          auth: { username: USER.username, password },
        }),
        (e: Error) => {
          assert.ok(e instanceof RegistryError && e.status === 401, String(e));
          assert.match(
            e.message,
            new RegExp(
              `the credentials for ${basic.host} were refused; log in again with "stratum login ${basic.host}"`,
            ),
          );
          assert.ok(!e.message.includes(password));
          return true;
        },
      );
    });
  } finally {
    await basic.close();
  }
  const token = await startRegistry("token");
  try {
    await t.test("a token server that refuses", async () => {
      await assert.rejects(
        pull(memoryStore(), `${token.host}/private/app:1`, {
          ...fast,
          auth: () => Promise.resolve(undefined),
        }),
        (e: Error) => {
          assert.ok(e instanceof AuthenticationError, String(e));
          assert.match(e.message, new RegExp(`log in with "stratum login ${token.host}"`));
          return true;
        },
      );
    });
  } finally {
    await token.close();
  }
});
