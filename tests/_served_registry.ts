/**
 * Helpers for the registry tests: a served registry over a fresh store, raw HTTP pushes,
 * and seeded images (random layers, OCI manifests and indexes) built in memory.
 */
import { randomBytes } from "node:crypto";
import { sha256 } from "../digest/mod.ts";
import { MediaType } from "../image/mod.ts";
import { type ImageStore, memoryStore } from "../storage/mod.ts";
import { type RegistryServer, serveRegistry, type ServeRegistryOptions } from "../server/mod.ts";

/** A served registry and its store. */
export interface TestRegistry {
  /** The store behind it. */
  store: ImageStore;
  /** The server. */
  server: RegistryServer;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Access-log lines so far. */
  log: string[];
  /** `fetch` relative to the server. */
  req(path: string, init?: RequestInit): Promise<Response>;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Serves a memory store (or `store`) on a free port of 127.0.0.1. */
export async function startRegistry(
  options: Partial<ServeRegistryOptions> = {},
): Promise<TestRegistry> {
  const store = options.store ?? memoryStore();
  const log: string[] = [];
  const server = await serveRegistry({
    addr: "127.0.0.1:0",
    log: (l) => log.push(l),
    ...options,
    store,
  });
  return {
    store,
    server,
    url: server.url,
    log,
    req: (path, init) => fetch(server.url + path, init),
    close: () => server.close(),
  };
}

const enc = new TextEncoder();

/** A blob with its digest. */
export interface TestBlob {
  bytes: Uint8Array;
  digest: string;
}

/** Random bytes of `size` and their digest. */
export async function randomBlob(size: number): Promise<TestBlob> {
  const bytes = new Uint8Array(randomBytes(size));
  return { bytes, digest: await sha256(bytes) };
}

/** `text` as a blob. */
export async function textBlob(text: string): Promise<TestBlob> {
  const bytes = enc.encode(text);
  return { bytes, digest: await sha256(bytes) };
}

/** A manifest (or index) with its exact bytes and digest. */
export interface TestManifest extends TestBlob {
  mediaType: string;
  /** The blobs it names (config first), to push before it. */
  blobs: TestBlob[];
}

/** An OCI image manifest over random layers and a small config. */
export async function testImage(
  layerSizes: number[] = [1024, 2048],
  extra: { subject?: TestManifest; artifactType?: string; annotations?: Record<string, string> } =
    {},
): Promise<TestManifest> {
  const layers = await Promise.all(layerSizes.map((n) => randomBlob(n)));
  const config = await textBlob(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    nonce: Math.random(),
  }));
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
    config: { mediaType: MediaType.OCI_CONFIG, digest: config.digest, size: config.bytes.length },
    layers: layers.map((l) => ({
      mediaType: MediaType.OCI_LAYER,
      digest: l.digest,
      size: l.bytes.length,
    })),
  };
  if (extra.subject) {
    doc.subject = {
      mediaType: extra.subject.mediaType,
      digest: extra.subject.digest,
      size: extra.subject.bytes.length,
    };
  }
  if (extra.annotations) doc.annotations = extra.annotations;
  const bytes = enc.encode(JSON.stringify(doc));
  return {
    bytes,
    digest: await sha256(bytes),
    mediaType: MediaType.OCI_MANIFEST,
    blobs: [config, ...layers],
  };
}

/** An OCI index over `children`, one platform each. */
export async function testIndex(children: TestManifest[]): Promise<TestManifest> {
  const archs = ["amd64", "arm64", "s390x", "ppc64le"];
  const bytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: children.map((c, i) => ({
      mediaType: c.mediaType,
      digest: c.digest,
      size: c.bytes.length,
      platform: { architecture: archs[i % archs.length], os: "linux" },
    })),
  }));
  return { bytes, digest: await sha256(bytes), mediaType: MediaType.OCI_INDEX, blobs: [] };
}

type Req = TestRegistry["req"];

/** Pushes a blob with one `POST ?digest=` and returns the response. */
export function pushBlob(req: Req, repo: string, blob: TestBlob): Promise<Response> {
  return req(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: blob.bytes as Uint8Array<ArrayBuffer>,
  });
}

/** Pushes a manifest's blobs and then the manifest under `reference`. */
export async function pushImage(
  req: Req,
  repo: string,
  m: TestManifest,
  reference: string = m.digest,
): Promise<Response> {
  for (const b of m.blobs) {
    const r = await pushBlob(req, repo, b);
    await r.body?.cancel();
    if (r.status !== 201) throw new Error(`blob push failed: ${r.status}`);
  }
  return await putManifest(req, repo, m, reference);
}

/** PUTs a manifest's exact bytes. */
export function putManifest(
  req: Req,
  repo: string,
  m: TestManifest,
  reference: string = m.digest,
): Promise<Response> {
  return req(`/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    headers: { "content-type": m.mediaType },
    body: m.bytes as Uint8Array<ArrayBuffer>,
  });
}

/** The spec's error code in a response body. */
export async function errorCode(res: Response): Promise<string> {
  const body = await res.json();
  return body.errors?.[0]?.code;
}

/** The bytes of a response. */
export async function bytesOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

/** Runs `fn` against a fresh registry and stops it afterwards. */
export async function withRegistry(
  options: Partial<ServeRegistryOptions>,
  fn: (r: TestRegistry) => Promise<void>,
): Promise<void> {
  const r = await startRegistry(options);
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}
