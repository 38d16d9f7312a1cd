// Pull and push against a local registry that misbehaves on purpose: cut connections,
// wrong or short or long bodies, 429/500, redirects to another host, expiring tokens.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { test } from "node:test";
import { type Digest, DigestMismatchError, sha256, SizeMismatchError } from "../digest/mod.ts";
import { MediaType, serializeManifest } from "../image/mod.ts";
import { concatBytes, type ImageStore, memoryStore, putBytes } from "../storage/mod.ts";
import { pull, push } from "../registry_client/mod.ts";

interface Blob {
  bytes: Uint8Array;
  digest: Digest;
}

/** Hooks a test sets to make the server misbehave; each returns true when it answered. */
interface Faults {
  manifest?: (req: IncomingMessage, res: ServerResponse, n: number) => boolean;
  blob?: (req: IncomingMessage, res: ServerResponse, blob: Blob, n: number) => boolean;
  patch?: (req: IncomingMessage, res: ServerResponse, n: number) => boolean;
  /** Accepts an Authorization header; undefined means no auth. */
  authorize?: (header: string | undefined) => boolean;
  challenge?: string;
}

interface FaultServer {
  host: string;
  port: number;
  faults: Faults;
  /** Bytes of each blob sent in GET responses, summed. */
  sent: Map<string, number>;
  /** Range headers of blob GETs. */
  ranges: string[];
  /** Bytes received in PATCH bodies, summed. */
  patched: number;
  /** Lengths of PATCH bodies that completed. */
  chunkLengths: number[];
  uploads: Map<string, Uint8Array[]>;
  blobs: Map<string, Blob>;
  manifests: Map<string, { bytes: Uint8Array; mediaType: string }>;
  requests: string[];
  /** Offsets of PATCHes that began mid-chunk: resumptions. */
  resumedFrom: number[];
  /** OCI-Chunk-Min-Length sent on POST. */
  minChunk: number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as { port: number }).port;
}

async function faultServer(faults: Faults = {}): Promise<FaultServer> {
  const counts = new Map<string, number>();
  const count = (key: string) => {
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    return n;
  };
  const state: Omit<FaultServer, "host" | "port" | "close"> = {
    faults,
    sent: new Map(),
    ranges: [],
    patched: 0,
    chunkLengths: [],
    uploads: new Map(),
    blobs: new Map(),
    manifests: new Map(),
    requests: [],
    minChunk: 0,
    resumedFrom: [],
  };
  let uploadSeq = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    state.requests.push(`${req.method} ${url.pathname}`);
    if (state.faults.authorize && !state.faults.authorize(req.headers.authorization)) {
      res.writeHead(401, { "www-authenticate": state.faults.challenge ?? 'Basic realm="x"' });
      res.end();
      return;
    }
    if (url.pathname === "/v2/") return void res.writeHead(200).end();
    let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (m) {
      if (req.method === "PUT") {
        const chunks: Buffer[] = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", async () => {
          const bytes = concatBytes(chunks);
          const entry = { bytes, mediaType: req.headers["content-type"]! };
          state.manifests.set(m![2], entry);
          state.manifests.set(await sha256(bytes), entry);
          res.writeHead(201, { "docker-content-digest": await sha256(bytes) }).end();
        });
        return;
      }
      if (state.faults.manifest?.(req, res, count("manifest"))) return;
      const found = state.manifests.get(m[2]);
      if (!found) return void res.writeHead(404).end();
      sha256(found.bytes).then((digest) => {
        res.writeHead(200, {
          "content-type": found.mediaType,
          "content-length": found.bytes.length,
          "docker-content-digest": digest,
        });
        res.end(req.method === "HEAD" ? undefined : found.bytes);
      });
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (m) {
      const blob = state.blobs.get(m[2]);
      if (!blob) return void res.writeHead(404).end();
      if (req.method === "HEAD") {
        return void res.writeHead(200, { "content-length": blob.bytes.length }).end();
      }
      state.ranges.push(req.headers.range ?? "");
      if (state.faults.blob?.(req, res, blob, count(`blob ${blob.digest}`))) return;
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
      const start = range ? Number(range[1]) : 0;
      const end = range && range[2] ? Number(range[2]) + 1 : blob.bytes.length;
      const body = blob.bytes.subarray(start, end);
      state.sent.set(blob.digest, (state.sent.get(blob.digest) ?? 0) + body.length);
      res.writeHead(range ? 206 : 200, {
        "content-length": body.length,
        ...(range ? { "content-range": `bytes ${start}-${end - 1}/${blob.bytes.length}` } : {}),
      });
      res.end(body);
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(url.pathname);
    if (m) {
      const repo = m[1];
      if (req.method === "POST") {
        const id = `u${++uploadSeq}`;
        state.uploads.set(id, []);
        res.writeHead(202, {
          location: `/v2/${repo}/blobs/uploads/${id}`,
          ...(state.minChunk ? { "oci-chunk-min-length": String(state.minChunk) } : {}),
        }).end();
        return;
      }
      const parts = state.uploads.get(m[2]);
      if (!parts) return void res.writeHead(404).end();
      const held = () => parts.reduce((n, p) => n + p.length, 0);
      if (req.method === "GET") {
        res.writeHead(204, { range: `0-${held() - 1}`, location: url.pathname }).end();
        return;
      }
      if (req.method === "PATCH") {
        const start = Number(/^(\d+)-/.exec(req.headers["content-range"] ?? "")?.[1]);
        if (start !== held()) return void res.writeHead(416).end();
        const n = count("patch");
        if (state.faults.patch?.(req, res, n)) {
          req.on("data", (c: Buffer) => {
            parts.push(new Uint8Array(c));
            state.patched += c.length;
          });
          return;
        }
        if (start % (state.minChunk || 1) !== 0) state.resumedFrom.push(start);
        let got = 0;
        req.on("data", (c: Buffer) => {
          parts.push(new Uint8Array(c));
          state.patched += c.length;
          got += c.length;
        });
        req.on("end", () => {
          state.chunkLengths.push(got);
          res.writeHead(202, { range: `0-${held() - 1}`, location: url.pathname }).end();
        });
        return;
      }
      if (req.method === "PUT") {
        req.on("data", (c: Buffer) => parts.push(new Uint8Array(c)));
        req.on("end", async () => {
          const bytes = concatBytes(parts);
          const digest = await sha256(bytes);
          if (digest !== url.searchParams.get("digest")) return void res.writeHead(400).end();
          state.blobs.set(digest, { bytes, digest });
          res.writeHead(201, { "docker-content-digest": digest }).end();
        });
        return;
      }
    }
    res.writeHead(404).end();
  });
  const port = await listen(server);
  return Object.assign(state, {
    host: `127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  }) as FaultServer;
}

declare module "node:http" {
  interface Server {
    closeAllConnections(): void;
  }
}

/** Puts a one-layer image of `size` layer bytes on `srv` as `app:v1`; returns the layer. */
async function seed(srv: FaultServer, size = 200_000): Promise<Blob> {
  const layer = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 255);
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [await sha256(layer)] },
  }));
  const l = { bytes: layer, digest: await sha256(layer) };
  const c = { bytes: config, digest: await sha256(config) };
  srv.blobs.set(l.digest, l);
  srv.blobs.set(c.digest, c);
  const m = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: c.digest, size: config.length },
    layers: [{ mediaType: MediaType.OCI_LAYER, digest: l.digest, size: layer.length }],
  });
  srv.manifests.set("v1", { bytes: m.bytes, mediaType: m.mediaType });
  srv.manifests.set(m.digest, { bytes: m.bytes, mediaType: m.mediaType });
  return l;
}

const fast = { retryDelayMs: 1, rangeConcurrency: 1 };

async function noBlob(store: ImageStore, digest: string): Promise<void> {
  assert.equal(await store.blobs.has(digest), false);
  for await (const d of store.blobs.list()) assert.notEqual(d, digest);
  assert.deepEqual(await store.tags.list(), []);
}

test("a download cut mid-blob resumes with Range and fetches only the rest", async () => {
  const srv = await faultServer();
  try {
    const layer = await seed(srv);
    srv.faults.blob = (_req, res, blob, n) => {
      if (blob.digest !== layer.digest || n > 1) return false;
      const half = blob.bytes.subarray(0, 80_000);
      res.writeHead(200, { "content-length": blob.bytes.length });
      srv.sent.set(blob.digest, half.length);
      res.write(half, () => res.socket?.destroy());
      return true;
    };
    const store = memoryStore();
    const r = await pull(store, `${srv.host}/app:v1`, fast);
    assert.ok(await store.blobs.has(layer.digest));
    assert.equal(srv.sent.get(layer.digest), layer.bytes.length);
    assert.ok(srv.ranges.includes("bytes=80000-"), srv.ranges.join());
    assert.equal((await store.resolve(`${srv.host}/app:v1`)).manifestDigest, r.manifestDigest);
  } finally {
    await srv.close();
  }
});

test("a blob with the wrong digest is refused, leaves nothing, and a rerun completes", async () => {
  const srv = await faultServer();
  try {
    const layer = await seed(srv);
    srv.faults.blob = (_req, res, blob) => {
      if (blob.digest !== layer.digest) return false;
      const wrong = blob.bytes.slice();
      wrong[5] ^= 1;
      res.writeHead(200, { "content-length": wrong.length }).end(wrong);
      return true;
    };
    const store = memoryStore();
    await assert.rejects(pull(store, `${srv.host}/app:v1`, fast), (e: Error) => {
      assert.ok(e instanceof DigestMismatchError);
      assert.match(e.message, new RegExp(layer.digest));
      return true;
    });
    await noBlob(store, layer.digest);
    srv.faults.blob = undefined;
    await pull(store, `${srv.host}/app:v1`, fast);
    assert.ok(await store.blobs.has(layer.digest));
  } finally {
    await srv.close();
  }
});

test("a body longer than the declared size is refused as soon as it overruns", async () => {
  const srv = await faultServer();
  try {
    const layer = await seed(srv);
    srv.faults.blob = (_req, res, blob) => {
      if (blob.digest !== layer.digest) return false;
      const longer = concatBytes([blob.bytes, new Uint8Array(10)]);
      res.writeHead(200, { "content-length": longer.length }).end(longer);
      return true;
    };
    const store = memoryStore();
    await assert.rejects(pull(store, `${srv.host}/app:v1`, fast), SizeMismatchError);
    await noBlob(store, layer.digest);
  } finally {
    await srv.close();
  }
});

test("a short body is retried with Range; when it stays short the pull fails and a rerun finishes it", async () => {
  const srv = await faultServer();
  try {
    const layer = await seed(srv);
    srv.faults.blob = (req, res, blob) => {
      if (blob.digest !== layer.digest) return false;
      // A well-formed response that simply holds fewer bytes than the blob.
      const start = Number(/^bytes=(\d+)-/.exec(req.headers.range ?? "")?.[1] ?? 0);
      const part = blob.bytes.subarray(start, Math.min(start + 1000, 50_000));
      res.writeHead(start ? 206 : 200, {
        "content-length": part.length,
        ...(start ? { "content-range": `bytes ${start}-${start + part.length - 1}/*` } : {}),
      }).end(part);
      return true;
    };
    const store = memoryStore();
    await assert.rejects(
      pull(store, `${srv.host}/app:v1`, { ...fast, retries: 3 }),
      /closed after/,
    );
    await noBlob(store, layer.digest);
    srv.faults.blob = undefined;
    srv.ranges.length = 0;
    await pull(store, `${srv.host}/app:v1`, fast);
    assert.ok(await store.blobs.has(layer.digest));
    // The rerun resumed where the failed pull stopped instead of starting over.
    assert.ok(srv.ranges.some((r) => /^bytes=[1-9]\d*-$/.test(r)), srv.ranges.join());
  } finally {
    await srv.close();
  }
});

function answer(res: ServerResponse, status: number, headers: Record<string, string> = {}) {
  res.writeHead(status, headers).end();
  return true;
}

test("a 429 is retried after its Retry-After, not after the backoff", {
  timeout: 20_000,
}, async () => {
  const srv = await faultServer();
  try {
    await seed(srv);
    srv.faults.manifest = (_req, res, n) => n === 1 && answer(res, 429, { "retry-after": "0" });
    // With an hour of backoff, only honouring Retry-After: 0 lets the pull finish.
    const hour = 3_600_000;
    await pull(memoryStore(), `${srv.host}/app:v1`, { retryDelayMs: hour, maxRetryDelayMs: hour });
    // The refused GET and its retry: the tag is resolved by the GET itself, no HEAD first.
    assert.equal(srv.requests.filter((r) => r.includes("/manifests/")).length, 2);
  } finally {
    await srv.close();
  }
});

test("a 500 then success completes; a registry that keeps failing gives its status", async () => {
  const srv = await faultServer();
  try {
    const layer = await seed(srv);
    srv.faults.blob = (_req, res, blob, n) =>
      blob.digest === layer.digest && n === 1 && answer(res, 500);
    const store = memoryStore();
    await pull(store, `${srv.host}/app:v1`, fast);
    assert.ok(await store.blobs.has(layer.digest));
    srv.faults.manifest = (_req, res) => answer(res, 503);
    await assert.rejects(
      pull(memoryStore(), `${srv.host}/app:v1`, { ...fast, retries: 1 }),
      (e: Error) => e.name === "RegistryError" && /HTTP 503/.test(e.message),
    );
  } finally {
    await srv.close();
  }
});

test("a redirect to another host does not forward the Authorization header", async () => {
  const srv = await faultServer();
  const seen: (string | undefined)[] = [];
  const storage = createServer((req, res) => {
    seen.push(req.headers.authorization);
    const blob = [...srv.blobs.values()].find((b) => req.url === `/store/${b.digest}`);
    if (!blob) return void res.writeHead(404).end();
    res.writeHead(200, { "content-length": blob.bytes.length }).end(blob.bytes);
  });
  const storagePort = await listen(storage);
  try {
    const layer = await seed(srv);
    const creds = "Basic " + Buffer.from("bob:pw-secret").toString("base64");
    srv.faults.authorize = (h) => h === creds;
    srv.faults.blob = (_req, res, blob) => {
      if (blob.digest !== layer.digest) return false;
      res.writeHead(307, { location: `http://localhost:${storagePort}/store/${blob.digest}` })
        .end();
      return true;
    };
    const store = memoryStore();
    await pull(store, `${srv.host}/app:v1`, {
      ...fast,
      auth: { username: "bob", password: "pw-secret" },
    });
    assert.ok(await store.blobs.has(layer.digest));
    assert.deepEqual(seen, [undefined]);
  } finally {
    await srv.close();
    await new Promise((r) => storage.close(r));
  }
});

test("a token that expires mid-pull is refreshed and the pull completes", async () => {
  const srv = await faultServer();
  let issued = 0;
  const tokens = createServer((_req, res) => {
    issued++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: `tok-${issued}`, expires_in: 300 }));
  });
  const tokenPort = await listen(tokens);
  try {
    await seed(srv);
    let uses = 0;
    srv.faults.challenge =
      `Bearer realm="http://127.0.0.1:${tokenPort}/token",service="fault",scope="repository:app:pull"`;
    // The first token is revoked after two requests (the manifest and the config), as an
    // expiry mid-pull would do: the layer's GET is refused and needs a fresh one.
    srv.faults.authorize = (h) => h === "Bearer tok-2" || (h === "Bearer tok-1" && ++uses <= 2);
    const store = memoryStore();
    await pull(store, `${srv.host}/app:v1`, {
      ...fast,
      concurrency: 1,
      auth: () => Promise.resolve(undefined),
    });
    assert.equal(issued, 2);
    assert.equal((await store.fsck()).problems.length, 0);
  } finally {
    await srv.close();
    await new Promise((r) => tokens.close(r));
  }
});

test("a push cut mid-blob resumes from the upload status and sends only the rest", async () => {
  const srv = await faultServer();
  try {
    srv.minChunk = 128 << 10;
    const store = memoryStore();
    const layer = new Uint8Array(300_000).map((_, i) => (i * 13) & 255);
    const config = new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [await sha256(layer)] },
    }));
    const l = await putBytes(store.blobs, layer);
    const c = await putBytes(store.blobs, config);
    const m = await serializeManifest({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: c.digest, size: c.size },
      layers: [{ mediaType: MediaType.OCI_LAYER, digest: l.digest, size: l.size }],
    });
    await putBytes(store.blobs, m.bytes);
    await store.tags.set(`${srv.host}/app:v1`, {
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.bytes.length,
    });
    srv.faults.patch = (req, _res, n) => {
      if (n !== 2) return false;
      let got = 0;
      req.on("data", (chunk: Buffer) => {
        got += chunk.length;
        if (got > 20_000) req.socket.destroy();
      });
      return true;
    };
    // chunkSize below the registry's OCI-Chunk-Min-Length: the minimum wins.
    await push(store, `${srv.host}/app:v1`, { ...fast, chunkSize: 1000 });
    // Every byte crossed once: the cut chunk's received part was not sent again.
    assert.equal(srv.patched, layer.length);
    assert.ok(srv.resumedFrom.some((o) => o % (128 << 10) !== 0), srv.resumedFrom.join());
    assert.ok(srv.chunkLengths.slice(0, -1).every((n) => n >= 128 << 10), srv.chunkLengths.join());
    assert.ok(srv.requests.some((r) => r.startsWith("GET /v2/app/blobs/uploads/")));
    assert.equal(await sha256(srv.blobs.get(l.digest)!.bytes), l.digest);
    assert.deepEqual(srv.manifests.get("v1")?.bytes, m.bytes);
  } finally {
    await srv.close();
  }
});

test("a large blob is fetched over parallel ranges and verified as one", async () => {
  const srv = await faultServer();
  try {
    const layer = await seed(srv, 1_000_000);
    const store = memoryStore();
    await pull(store, `${srv.host}/app:v1`, {
      ...fast,
      rangeConcurrency: 3,
      rangeThreshold: 500_000,
      rangeSize: 300_000,
    });
    assert.ok(await store.blobs.has(layer.digest));
    const ranged = srv.ranges.filter((r) => /^bytes=\d+-\d+$/.test(r));
    assert.deepEqual(ranged, [
      "bytes=0-299999",
      "bytes=300000-599999",
      "bytes=600000-899999",
      "bytes=900000-999999",
    ]);
    assert.equal(srv.sent.get(layer.digest), layer.bytes.length);
  } finally {
    await srv.close();
  }
});
