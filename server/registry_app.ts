import type { Digest } from "../digest/mod.ts";
import {
  type Descriptor,
  isIndexMediaType,
  isManifestMediaType,
  ManifestError,
  type ParsedManifest,
  parseManifest,
} from "../image/mod.ts";
import { BlobNotFoundError, type ImageStore, putBytes, readBlob } from "../storage/mod.ts";
import { type AccessLogEntry, formatAccessLog } from "./access_log.ts";
import type { Authenticator, Scope } from "./auth.ts";
import { type BodyLimits, readAll } from "./_body.ts";
import { RegistryHttpError } from "./errors.ts";
import { BlobLinks } from "./_links.ts";
import { checkDigest, ManifestGraph } from "./_manifest_graph.ts";
import { Namespace } from "./_names.ts";
import { UploadSessions } from "./_uploads.ts";
import { blobPushHandlers, type RequestContext as Ctx } from "./_blob_push.ts";
import { discoveryHandlers } from "./_discovery.ts";

/** Options for {@linkcode createRegistryApp}. */
export interface RegistryAppOptions {
  /**
   * The store-name prefix of the served repositories: repository `NAME` tag `T` is the store
   * record `<namespace>/NAME:T`. Must be a registry host so names are not read as Docker
   * Hub's. @default {"localhost"}
   */
  namespace?: string;
  /** Authentication; none when left out (then bind to 127.0.0.1 only). */
  auth?: Authenticator;
  /** Refuse every push and delete with 405 UNSUPPORTED. @default {false} */
  readOnly?: boolean;
  /** Largest manifest accepted, in bytes (the spec asks for at least 4 MiB). @default {4 MiB} */
  maxManifestBytes?: number;
  /** Largest blob accepted, in bytes. @default {64 GiB} */
  maxBlobBytes?: number;
  /** Most uploads in progress at once; more get 429 TOOMANYREQUESTS. @default {256} */
  maxUploads?: number;
  /** An upload session idle this long (ms) expires and its bytes are dropped. @default {15 min} */
  uploadTimeoutMs?: number;
  /** A request body that sends nothing for this long (ms) is dropped. @default {30 s} */
  bodyIdleTimeoutMs?: number;
  /** Receives one access-log line per request. */
  log?: (line: string) => void;
  /**
   * Answers requests outside `/v2/` and the token endpoint (the demo UI plugs in here).
   * @default {404}
   */
  fallback?: (request: Request, info?: ServeInfo) => Response | Promise<Response>;
  /** Clock in ms, for session expiry and tests. @default {Date.now} */
  now?: () => number;
}

/** What the server adapter knows about a connection (Deno.serve's `info` fits). */
export interface ServeInfo {
  /** The client's address. */
  remoteAddr?: { hostname: string; port?: number };
}

/** A request handler. */
export type FetchHandler = (request: Request, info?: ServeInfo) => Promise<Response>;

/**
 * The registry as a Web-standard handler: call it, or pass it (or its `fetch`) to
 * `Deno.serve`, Deno Deploy or {@linkcode serveRegistry}. `close()` suspends upload sessions.
 */
export type RegistryApp = FetchHandler & {
  /** The same handler, for `export default app` and Hono-style adapters. */
  fetch: FetchHandler;
  /**
   * Lets go of every upload session: their writes are suspended in the store with what
   * they hold, for a restarted server to resume (`stratum gc` removes what nobody resumes).
   */
  close(): Promise<void>;
};

const API_HEADERS = { "docker-distribution-api-version": "registry/2.0" };

function accepts(request: Request, mediaType: string): boolean {
  const accept = request.headers.get("accept");
  if (!accept) return true;
  const types = accept.split(",").map((t) => t.split(";")[0].trim().toLowerCase());
  if (types.some((t) => t === "*/*" || t === "application/*" || t === "application/json")) {
    return true;
  }
  // Clients that name no manifest type at all are not negotiating.
  if (!types.some((t) => isManifestMediaType(t) || isIndexMediaType(t))) return true;
  return types.includes(mediaType);
}

/**
 * Creates the OCI distribution-spec registry over `store`: pull, push (monolithic and
 * chunked uploads, cross-repository mounts), content discovery (tags with pagination,
 * `_catalog`, referrers) and content management (deletes).
 *
 * Repository `NAME` maps to store records `<namespace>/NAME:TAG`; every pushed manifest is
 * also recorded as `<namespace>/NAME@<digest>`. Manifests are stored with the exact bytes
 * received. The store holds each blob once, but a blob is reachable through a repository
 * only when the repository links it, as in the distribution registry: a manifest recorded
 * there names it (so images loaded or built into the store and tagged under the namespace
 * are served as they are), or it was uploaded or mounted there. Mounting needs pull access
 * to the source repository and a blob linked there; a manifest pushed to a repository may
 * name only blobs and manifests linked in that repository.
 *
 * @example
 * ```ts
 * import { memoryStore } from "../storage/mod.ts";
 * import { createRegistryApp } from "./registry_app.ts";
 * const app = createRegistryApp(memoryStore());
 * const res = await app(new Request("http://localhost/v2/"));
 * if (res.status !== 200) throw new Error();
 * await app.close();
 * ```
 */
export function createRegistryApp(
  store: ImageStore,
  options: RegistryAppOptions = {},
): RegistryApp {
  const ns = new Namespace(options.namespace ?? "localhost");
  const now = options.now ?? Date.now;
  const readOnly = options.readOnly ?? false;
  const auth = options.auth;
  const maxManifest = options.maxManifestBytes ?? 4 << 20;
  const maxBlob = options.maxBlobBytes ?? 64 * 2 ** 30;
  const idleMs = options.bodyIdleTimeoutMs ?? 30_000;
  const uploads = new UploadSessions(store.blobs, {
    max: options.maxUploads ?? 256,
    timeoutMs: options.uploadTimeoutMs ?? 15 * 60_000,
    now,
  });
  const links = new BlobLinks();
  const graph = new ManifestGraph(store, ns, links);
  let tagQueue: Promise<void> = Promise.resolve();

  const blobLimits = (already: number): BodyLimits => ({
    max: maxBlob - already,
    idleMs,
    tooLarge: () =>
      new RegistryHttpError("SIZE_INVALID", `blob is over the ${maxBlob}-byte limit`, {
        status: 413,
      }),
  });

  /** Serializes this process's tag updates; the store's own lock guards other processes. */
  function updateTags(change: Parameters<ImageStore["tags"]["update"]>[0]): Promise<void> {
    const run = tagQueue.then(() => store.tags.update(change));
    tagQueue = run.catch(() => {});
    return run;
  }

  async function authorize(ctx: Ctx, scope: Scope | undefined): Promise<void> {
    if (!auth) return;
    const user = await auth.authorize(ctx.request, scope);
    if (user !== undefined) ctx.entry.user = user;
  }

  function writable(): void {
    if (readOnly) {
      throw new RegistryHttpError("UNSUPPORTED", "the registry is read-only");
    }
  }

  // ---- pull --------------------------------------------------------------------------------

  async function getManifest(ctx: Ctx, repo: string, reference: string): Promise<Response> {
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull"] });
    const d = await graph.findManifest(repo, reference);
    let bytes: Uint8Array;
    try {
      bytes = await readBlob(store.blobs, d.digest, maxManifest);
    } catch (e) {
      if (!(e instanceof BlobNotFoundError)) throw e;
      throw new RegistryHttpError("MANIFEST_UNKNOWN", `manifest ${d.digest} is missing`, {
        cause: e,
      });
    }
    if (!accepts(ctx.request, d.mediaType)) {
      throw new RegistryHttpError(
        "MANIFEST_UNKNOWN",
        `manifest ${repo}:${reference} is a ${d.mediaType}, which the Accept header does not list`,
        { detail: { mediaType: d.mediaType } },
      );
    }
    const headers: Record<string, string> = {
      "content-type": d.mediaType,
      "content-length": String(bytes.length),
      "docker-content-digest": d.digest,
      etag: `"${d.digest}"`,
    };
    const s = await graph.summary(d.digest, d.mediaType);
    if (s?.subject) headers["oci-subject"] = s.subject;
    return new Response(ctx.request.method === "HEAD" ? null : bytes as Uint8Array<ArrayBuffer>, {
      headers,
    });
  }

  async function getBlob(ctx: Ctx, repo: string, digestText: string): Promise<Response> {
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull"] });
    const digest = checkDigest(digestText);
    // A blob of another repository answers as unknown: its existence is not this user's to know.
    const info = await graph.linked(repo, digest) ? await store.blobs.stat(digest) : undefined;
    if (!info) {
      throw new RegistryHttpError("BLOB_UNKNOWN", `blob ${digest} is unknown`, {
        detail: { digest },
      });
    }
    const headers: Record<string, string> = {
      "content-type": "application/octet-stream",
      "docker-content-digest": digest,
      etag: `"${digest}"`,
      "cache-control": "max-age=31536000",
      "accept-ranges": "bytes",
    };
    let start = 0;
    let length = info.size;
    let status = 200;
    const range = ctx.request.headers.get("range");
    if (range !== null) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      let s = -1;
      let e = -1;
      if (m && (m[1] !== "" || m[2] !== "")) {
        if (m[1] === "") {
          s = Math.max(0, info.size - Number(m[2]));
          e = info.size - 1;
        } else {
          s = Number(m[1]);
          e = m[2] === "" ? info.size - 1 : Math.min(Number(m[2]), info.size - 1);
        }
      }
      if (!m || s < 0 || s >= info.size || e < s) {
        return new Response(null, {
          status: 416,
          headers: { ...headers, "content-range": `bytes */${info.size}` },
        });
      }
      start = s;
      length = e - s + 1;
      status = 206;
      headers["content-range"] = `bytes ${s}-${e}/${info.size}`;
    }
    headers["content-length"] = String(length);
    if (ctx.request.method === "HEAD") return new Response(null, { status, headers });
    const body = await store.blobs.get(digest, { offset: start, length });
    return new Response(body, { status, headers });
  }

  // ---- push --------------------------------------------------------------------------------

  const { startUpload, uploadStatus, patchUpload, putUpload, cancelUpload } = blobPushHandlers({
    store,
    ns,
    uploads,
    links,
    graph,
    authorize,
    writable,
    blobLimits,
  });

  async function putManifest(ctx: Ctx, repo: string, reference: string): Promise<Response> {
    writable();
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull", "push"] });
    const byDigest = reference.includes(":");
    if (!byDigest && !Namespace.isTag(reference)) {
      throw new RegistryHttpError("MANIFEST_INVALID", `invalid tag "${reference}"`, {
        detail: { tag: reference },
      });
    }
    const expected = byDigest ? checkDigest(reference) : undefined;
    const bytes = await readAll(ctx.request.body, {
      max: maxManifest,
      idleMs,
      tooLarge: () =>
        new RegistryHttpError(
          "MANIFEST_INVALID",
          `manifest is over the ${maxManifest}-byte limit`,
          {
            status: 413,
          },
        ),
    });
    let parsed: ParsedManifest;
    try {
      parsed = await parseManifest(bytes, ctx.request.headers.get("content-type") ?? undefined);
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      throw new RegistryHttpError("MANIFEST_INVALID", e.message, {
        detail: { field: e.field },
        cause: e,
      });
    }
    if (expected && expected !== parsed.digest) {
      throw new RegistryHttpError(
        "DIGEST_INVALID",
        `manifest hashes to ${parsed.digest}, not ${expected}`,
        { detail: { expected, actual: parsed.digest } },
      );
    }
    await checkReferences(repo, parsed);
    await putBytes(store.blobs, parsed.bytes, { digest: parsed.digest });
    const descriptor: Descriptor = {
      mediaType: parsed.mediaType,
      digest: parsed.digest,
      size: parsed.bytes.length,
    };
    graph.remember(parsed);
    const names = [ns.digest(repo, parsed.digest)];
    if (!byDigest) names.push(ns.tag(repo, reference));
    await updateTags((records) => [
      ...records.filter((r) => !names.includes(r.name)),
      ...names.map((name) => ({ name, descriptor })),
    ]);
    const headers: Record<string, string> = {
      location: `/v2/${repo}/manifests/${parsed.digest}`,
      "docker-content-digest": parsed.digest,
    };
    const subject = parsed.kind === "index" ? parsed.index.subject : parsed.manifest.subject;
    if (subject) headers["oci-subject"] = subject.digest;
    return new Response(null, { status: 201, headers });
  }

  /**
   * Every blob a manifest names must be stored and linked in `repo`, and every manifest an
   * index names; only a `subject` may be missing, since the spec lets referrers be pushed
   * before their subject. Layers with `urls` (foreign layers) live elsewhere by design.
   * A blob of another repository is reported as unknown here, as distribution does, or a
   * manifest naming it would make it readable through this one.
   */
  async function checkReferences(repo: string, parsed: ParsedManifest): Promise<void> {
    const wanted: { d: Descriptor; field: string }[] = parsed.kind === "index"
      ? parsed.index.manifests.map((d, i) => ({ d, field: `manifests[${i}]` }))
      : [
        { d: parsed.manifest.config, field: "config" },
        ...parsed.manifest.layers.map((d, i) => ({ d, field: `layers[${i}]` })),
      ];
    let reached: Set<Digest> | undefined;
    const isLinked = async (digest: Digest): Promise<boolean> => {
      if (links.has(repo, digest)) return true;
      if (!reached) {
        reached = new Set();
        for (const r of await graph.repoRecords(repo)) {
          for (const x of await graph.closure(r.descriptor.digest, r.descriptor.mediaType)) {
            reached.add(x);
          }
        }
      }
      return reached.has(digest);
    };
    for (const { d, field } of wanted) {
      if (d.urls?.length) continue;
      const info = await isLinked(d.digest) ? await store.blobs.stat(d.digest) : undefined;
      if (!info) {
        throw new RegistryHttpError(
          "MANIFEST_BLOB_UNKNOWN",
          `${field} names ${d.digest}, which is not in repository ${repo}`,
          { detail: { digest: d.digest, field } },
        );
      }
      if (info.size !== d.size) {
        throw new RegistryHttpError(
          "MANIFEST_INVALID",
          `${field} says ${d.digest} is ${d.size} bytes; it is ${info.size}`,
          { detail: { digest: d.digest, field } },
        );
      }
    }
  }

  // ---- content discovery -------------------------------------------------------------------

  const { listTags, catalog, referrers } = discoveryHandlers({ store, ns, graph, authorize });

  // ---- content management ------------------------------------------------------------------

  async function deleteManifest(ctx: Ctx, repo: string, reference: string): Promise<Response> {
    writable();
    await authorize(ctx, { type: "repository", name: repo, actions: ["delete"] });
    let removed = 0;
    if (reference.includes(":")) {
      const digest = checkDigest(reference);
      await updateTags((records) =>
        records.filter((r) => {
          const n = ns.parse(r.name);
          const hit = n?.repo === repo && r.descriptor.digest === digest;
          if (hit) removed++;
          return !hit;
        })
      );
    } else {
      const name = ns.tag(repo, reference);
      await updateTags((records) =>
        records.filter((r) => {
          if (r.name === name) removed++;
          return r.name !== name;
        })
      );
    }
    if (removed === 0) {
      throw new RegistryHttpError("MANIFEST_UNKNOWN", `manifest ${repo}:${reference} is unknown`, {
        detail: { name: repo, reference },
      });
    }
    return new Response(null, { status: 202 });
  }

  /**
   * Removes `repo`'s link to a blob, as distribution does; the bytes go too once nothing
   * else links them (no other repository's upload, no manifest anywhere in the store).
   * A blob a manifest of `repo` still names stays: delete the manifest first.
   */
  async function deleteBlob(ctx: Ctx, repo: string, digestText: string): Promise<Response> {
    writable();
    await authorize(ctx, { type: "repository", name: repo, actions: ["delete"] });
    const digest = checkDigest(digestText);
    const unknown = () =>
      new RegistryHttpError("BLOB_UNKNOWN", `blob ${digest} is unknown`, {
        detail: { digest },
      });
    const record = await graph.recordReaching(repo, digest);
    if (record) {
      const name = record.name; // a record of this repository, so no one else's to hide
      throw new RegistryHttpError(
        "DENIED",
        `blob ${digest} is used by ${name}; delete the manifest first`,
        { detail: { digest, usedBy: name } },
      );
    }
    if (!links.unlink(repo, digest) || !(await store.blobs.has(digest))) throw unknown();
    if (!links.linkedAnywhere(digest) && !(await graph.usedByAnyRecord(digest))) {
      await store.blobs.delete(digest);
      graph.forget(digest);
    }
    return new Response(null, { status: 202 });
  }

  // ---- routing -----------------------------------------------------------------------------

  type Route = [RegExp, Record<string, (ctx: Ctx, ...args: string[]) => Promise<Response>>];
  const routes: Route[] = [
    [/^\/v2\/(.+)\/manifests\/([^/]+)$/, {
      GET: getManifest,
      HEAD: getManifest,
      PUT: putManifest,
      DELETE: deleteManifest,
    }],
    [/^\/v2\/(.+)\/blobs\/uploads\/?$/, { POST: startUpload }],
    [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, {
      GET: uploadStatus,
      PATCH: patchUpload,
      PUT: putUpload,
      DELETE: cancelUpload,
    }],
    [/^\/v2\/(.+)\/blobs\/([^/]+)$/, { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob }],
    [/^\/v2\/(.+)\/tags\/list$/, { GET: listTags }],
    [/^\/v2\/(.+)\/referrers\/([^/]+)$/, { GET: referrers }],
  ];

  async function v2(ctx: Ctx): Promise<Response> {
    const path = ctx.url.pathname;
    const method = ctx.request.method;
    if (path === "/v2/" || path === "/v2") {
      if (method !== "GET" && method !== "HEAD") throw unsupported(method, path);
      await authorize(ctx, undefined);
      return Response.json({});
    }
    if (path === "/v2/_catalog") {
      if (method !== "GET") throw unsupported(method, path);
      return await catalog(ctx);
    }
    for (const [re, handlers] of routes) {
      const m = re.exec(path);
      if (!m) continue;
      const handler = handlers[method];
      if (!handler) throw unsupported(method, path);
      const [, name, ...rest] = m;
      ns.check(name);
      return await handler(ctx, name, ...rest.map(decodeURIComponent));
    }
    throw new RegistryHttpError("NAME_UNKNOWN", `no registry endpoint at ${path}`, {
      status: 404,
    });
  }

  async function handle(request: Request, info?: ServeInfo): Promise<Response> {
    const started = performance.now();
    const url = new URL(request.url);
    const entry: AccessLogEntry = {
      time: new Date(now()),
      remote: info?.remoteAddr?.hostname,
      method: request.method,
      target: url.pathname + url.search,
      status: 0,
      bytes: 0,
      ms: 0,
      userAgent: request.headers.get("user-agent") ?? undefined,
    };
    const ctx: Ctx = { request, url, entry };
    let response: Response;
    try {
      if (url.pathname === "/v2" || url.pathname.startsWith("/v2/")) {
        response = await v2(ctx);
        for (const [k, v] of Object.entries(API_HEADERS)) response.headers.set(k, v);
      } else if (auth?.token && url.pathname === auth.tokenPath) {
        response = await auth.token(request);
      } else if (options.fallback) {
        response = await options.fallback(request, info);
      } else {
        response = new Response("404 page not found\n", { status: 404 });
      }
    } catch (e) {
      const err = e instanceof RegistryHttpError ? e : new RegistryHttpError(
        "UNKNOWN",
        "internal server error",
        { cause: e },
      );
      entry.error = err.code === "UNKNOWN" ? `UNKNOWN: ${(e as Error)?.message ?? e}` : err.code;
      response = err.toResponse();
      for (const [k, v] of Object.entries(API_HEADERS)) response.headers.set(k, v);
      // A body the handler did not read must not linger in the connection.
      await request.body?.cancel().catch(() => {});
    }
    entry.status = response.status;
    const log = options.log;
    if (!log) return response;
    const done = () => {
      entry.ms = performance.now() - started;
      log(formatAccessLog(entry));
    };
    if (!response.body) {
      done();
      return response;
    }
    return new Response(countBytes(response.body, entry, done), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  const app = ((request: Request, info?: ServeInfo) => handle(request, info)) as RegistryApp;
  app.fetch = app;
  app.close = () => uploads.close();
  return app;
}

function unsupported(method: string, path: string): RegistryHttpError {
  return new RegistryHttpError("UNSUPPORTED", `${method} is not supported on ${path}`);
}

/** Passes `body` through, counting bytes into the log entry and logging once at the end. */
function countBytes(
  body: ReadableStream<Uint8Array>,
  entry: AccessLogEntry,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let logged = false;
  const finish = () => {
    if (!logged) {
      logged = true;
      done();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          finish();
          c.close();
          return;
        }
        entry.bytes += value.length;
        c.enqueue(value);
      } catch (e) {
        entry.error ??= `response body: ${(e as Error)?.message ?? e}`;
        finish();
        c.error(e);
      }
    },
    async cancel(reason) {
      entry.error ??= "client went away";
      finish();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
