import { InvalidReferenceError, parseReference, type Reference } from "../image/mod.ts";
import { ImageNotFoundError, type ImageStore, type ResolvedImage } from "../storage/mod.ts";
import { describeImage, type ImageDescription } from "../unionfs/mod.ts";
import { DockerfileSyntaxError, parseDockerfile, toParseJson } from "../builder/mod.ts";
import type { Authenticator, Scope } from "./auth.ts";
import { type BodyLimits, readAll } from "./_body.ts";
import { RegistryHttpError } from "./errors.ts";
import { Namespace } from "./_names.ts";
import type { FetchHandler } from "./registry_app.ts";

import { DEMO_CSS, DEMO_HTML } from "./_demo_page.ts";
import { DEMO_JS } from "./_demo_script.ts";
import { ApiError, readBuildRequest } from "./_demo_request.ts";
import { DEMO_IMAGE_CONTEXT, DEMO_IMAGE_DOCKERFILE } from "./_demo_image.ts";

/**
 * Finds an image outside this registry (`docker.io/library/busybox`) and makes its config
 * and layer blobs readable from the demo app's store, e.g. by pulling it there. Throw
 * `ImageNotFoundError` when the registry has no such image.
 */
export type DemoResolveFunction = (
  reference: Reference,
  options: { signal: AbortSignal },
) => Promise<ResolvedImage>;

/** What `/api/build` hands the build engine. */
export interface DemoBuildRequest {
  /** The store to build into; the image must be tagged `tag` there. */
  store: ImageStore;
  /** The Dockerfile's text (already parsed once, so it is known to be valid). */
  dockerfile: string;
  /** The build context: clean relative paths (`src/app.js`) to file contents. */
  context: Map<string, Uint8Array>;
  /** The store name to tag the image with, inside the registry's namespace. */
  tag: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** What the build engine reports back. */
export interface DemoBuildResult {
  /** The image ID (its config's digest). */
  imageId: string;
  /** The digest of the manifest it tagged. */
  manifestDigest: string;
}

/** A build engine for `/api/build`. */
export type DemoBuildFunction = (request: DemoBuildRequest) => Promise<DemoBuildResult>;

/** Options for {@linkcode createDemoApp}. */
export interface DemoAppOptions {
  /** The registry's namespace, so names match what it serves. @default {"localhost"} */
  namespace?: string;
  /**
   * The registry's authenticator, applied as the registry applies it: inspecting needs pull
   * access to the repository (what a user may not pull is neither shown nor said to
   * exist), building needs push access, and everything else under `/api/` (parsing,
   * images from elsewhere) passes the registry's `/v2/` check, so where the registry asks
   * anonymous users to log in, the API answers them with the same 401 and challenge.
   * Without it the demo is open, like the registry without auth.
   */
  auth?: Authenticator;
  /**
   * Inspects images from other registries; without it nothing is pulled from elsewhere and
   * only this registry's images are shown. {@linkcode pullingResolver} is one (anonymous
   * pulls unless given credentials). Turn it on on purpose: it lets users of the UI make
   * this server fetch and store other registries' images.
   */
  resolve?: DemoResolveFunction;
  /** The build engine; without it `/api/build` answers 501. */
  build?: DemoBuildFunction;
  /** Let `/api/build` run Dockerfiles with RUN (needs a runtime). @default {false} */
  allowRun?: boolean;
  /** Most merged-tree paths `/api/inspect` returns. @default {20000} */
  maxTreeEntries?: number;
  /** Largest Dockerfile accepted by `/api/parse`, in bytes. @default {1 MiB} */
  maxDockerfileBytes?: number;
  /** Largest `/api/build` body (Dockerfile plus context), in bytes. @default {64 MiB} */
  maxBuildBytes?: number;
  /** A request body that sends nothing for this long (ms) is dropped. @default {30 s} */
  bodyIdleTimeoutMs?: number;
}

/** What {@linkcode DemoApp.seed} did. */
export interface DemoSeedResult {
  /** Whether it built the demo image (false: the store already had images, or no engine). */
  seeded: boolean;
  /** The name the page inspects, e.g. `demo/app:1`. */
  reference: string;
  /** Why it did not build, when it did not. */
  reason?: string;
}

/** The demo UI as a handler; pass it as `fallback` / `ui` of the registry. */
export type DemoApp = FetchHandler & {
  /** The same handler, for `export default app`. */
  fetch: FetchHandler;
  /**
   * Builds the bundled demo image (`examples/demo_image/`: FROM scratch, COPY, ENV,
   * HEALTHCHECK; no RUN and no network) with the app's build engine and tags it
   * `demo/app:1`, the page's placeholder, so the first click shows an image. Only when the
   * store holds no image at all: a user's store and tags are never touched.
   */
  seed(): Promise<DemoSeedResult>;
};

/** The repository and tag the demo image is seeded as: the page's placeholder. */
const SEED_REPO = "demo/app";
const SEED_TAG = "1";

const PAGE_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

const ASSETS: Record<string, { body: string; type: string }> = {
  "/": { body: DEMO_HTML, type: "text/html; charset=utf-8" },
  "/demo.js": { body: DEMO_JS, type: "text/javascript; charset=utf-8" },
  "/demo.css": { body: DEMO_CSS, type: "text/css; charset=utf-8" },
};

const CACHE_SIZE = 8;

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json",
      "x-content-type-options": "nosniff",
      ...headers,
    },
  });
}

function errorResponse(e: ApiError): Response {
  const { headers, ...where } = e.extra;
  return json({ error: e.message, code: e.code, ...where }, e.status, headers);
}

/**
 * Creates the demo web UI over `store`: `/` is a page to inspect images and try
 * Dockerfiles; `/api/inspect?image=REF` answers an image as a layer stack plus its merged
 * file tree ({@linkcode ImageDescription}); `/api/parse` parses a POSTed Dockerfile;
 * `/api/build` builds a POSTed Dockerfile and context (multipart/form-data, a tar, or a
 * Dockerfile alone as text) with `options.build` and tags the image in this registry.
 *
 * References name this registry's repositories the way clients pull them (`demo/app:1`,
 * `127.0.0.1:5000/demo/app:1`): repository `NAME` is the store record
 * `<namespace>/NAME:TAG`, as in {@linkcode createRegistryApp}. A name without a registry
 * host is looked up here first, then (with `options.resolve`) on Docker Hub.
 *
 * @example
 * ```ts
 * import { memoryStore } from "../storage/mod.ts";
 * import { createDemoApp } from "./demo_app.ts";
 * const app = createDemoApp(memoryStore());
 * const res = await app(new Request("http://localhost/api/parse", {
 *   method: "POST",
 *   body: "FROM scratch\nCOPY a /a\n",
 * }));
 * const parsed = await res.json();
 * if (parsed.instructions.length !== 2) throw new Error();
 * ```
 */
export function createDemoApp(store: ImageStore, options: DemoAppOptions = {}): DemoApp {
  const ns = new Namespace(options.namespace ?? "localhost");
  const idleMs = options.bodyIdleTimeoutMs ?? 30_000;
  const cache = new Map<string, ImageDescription>();

  function limits(max: number, what: string): BodyLimits {
    return {
      max,
      idleMs,
      tooLarge: () =>
        new RegistryHttpError("SIZE_INVALID", `${what} is over the ${max}-byte limit`, {
          status: 413,
        }),
    };
  }

  /** Throws the registry's 401/403 unless `request` may act within `scope`. */
  async function authorize(request: Request, scope: Scope): Promise<void> {
    await options.auth?.authorize(request, scope);
  }

  /** The registry's `/v2/` check: with auth, who may use the registry at all. */
  async function admit(request: Request): Promise<void> {
    await options.auth?.authorize(request, undefined);
  }

  /** True when `request` may pull `repo`: the same question, without the refusal. */
  async function mayPull(request: Request, repo: string): Promise<boolean> {
    try {
      await authorize(request, { type: "repository", name: repo, actions: ["pull"] });
      return true;
    } catch (e) {
      if (e instanceof RegistryHttpError) return false;
      throw e;
    }
  }

  async function findLocal(record: string): Promise<ResolvedImage | undefined> {
    return await store.resolve(record).catch((e) => {
      if (e instanceof ImageNotFoundError) return undefined;
      throw e;
    });
  }

  async function inspect(request: Request, url: URL): Promise<Response> {
    const input = url.searchParams.get("image")?.trim();
    if (!input) {
      throw new ApiError(
        400,
        "IMAGE_MISSING",
        "Say which image to inspect: /api/inspect?image=REF, e.g. ?image=demo/app:1",
      );
    }
    let ref: Reference;
    try {
      ref = parseReference(input);
    } catch (e) {
      if (!(e instanceof InvalidReferenceError)) throw e;
      throw new ApiError(400, "REFERENCE_INVALID", e.message);
    }
    const local = localName(input, ref, url.host, ns.prefix);
    const suffix = ref.digest ? `@${ref.digest}` : `:${ref.tag}`;
    let image: ResolvedImage | undefined;
    // Here only (a name of this host, or nothing is pulled from elsewhere): exactly what
    // `/v2/<repo>/manifests/<ref>` would answer. Here first (a bare name, which may also be
    // Docker Hub's): only where this user may pull, so a refusal tells nothing about what
    // is stored here.
    const hereOnly = local !== undefined && (local.explicit || !options.resolve);
    if (local) {
      const record = ref.digest ? ns.digest(local.repo, ref.digest) : ns.tag(local.repo, ref.tag!);
      if (hereOnly) {
        ns.check(local.repo);
        await authorize(request, { type: "repository", name: local.repo, actions: ["pull"] });
        image = await findLocal(record);
      } else if (await mayPull(request, local.repo) && await hasRepo(local.repo)) {
        image = await findLocal(record);
      }
      if (!image && local.explicit) {
        throw new ApiError(404, "IMAGE_UNKNOWN", `No image "${input}" in this registry`);
      }
    }
    const source = image ? "local" : "remote";
    const shown = image ? `${url.host}/${local!.repo}${suffix}` : ref.toString();
    if (!image) {
      if (!hereOnly) await admit(request);
      image = await resolveRemote(input, ref, request.signal, local && local.repo + suffix);
    }
    let inspection = cache.get(image.manifestDigest);
    if (!inspection) {
      inspection = await describeImage(image, {
        maxTreeEntries: options.maxTreeEntries,
      });
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(image.manifestDigest, inspection);
    }
    return json({ reference: shown, source, ...inspection });
  }

  async function hasRepo(repo: string): Promise<boolean> {
    return (await store.tags.list()).some((r) => ns.parse(r.name)?.repo === repo);
  }

  async function resolveRemote(
    input: string,
    ref: Reference,
    signal: AbortSignal,
    triedHere: string | undefined,
  ): Promise<ResolvedImage> {
    const here = triedHere === undefined ? "" : ` (nor "${triedHere}" in this registry)`;
    if (!options.resolve) {
      throw new ApiError(
        404,
        "IMAGE_NOT_LOCAL",
        `Cannot inspect "${input}": it is ${ref.toString()}, in another registry${here}, ` +
          `and this server does not pull from other registries`,
      );
    }
    try {
      return await options.resolve(ref, { signal });
    } catch (e) {
      if (e instanceof ImageNotFoundError) {
        throw new ApiError(404, "IMAGE_UNKNOWN", `No image ${ref.toString()}${here}`);
      }
      throw new ApiError(
        502,
        "RESOLVE_FAILED",
        `Cannot inspect "${ref.toString()}": ${(e as Error).message}`,
      );
    }
  }

  async function parse(request: Request): Promise<Response> {
    await admit(request);
    const bytes = await readAll(
      request.body,
      limits(options.maxDockerfileBytes ?? 1 << 20, "the Dockerfile"),
    );
    return new Response(toParseJson(parseChecked(bytes)), {
      headers: { "content-type": "application/json" },
    });
  }

  async function build(request: Request, url: URL): Promise<Response> {
    // Before reading a body of up to 64 MiB: the push check needs the tag from inside it.
    await admit(request);
    if (!options.build) {
      await request.body?.cancel().catch(() => {});
      throw new ApiError(
        501,
        "BUILD_UNAVAILABLE",
        "This server has no build engine, so /api/build is not available here",
      );
    }
    const input = await readBuildRequest(
      request,
      url,
      limits(options.maxBuildBytes ?? 64 << 20, "the build request"),
    );
    const parsed = parseChecked(input.dockerfile);
    const run = parsed.instructions.find((i) => i.keyword === "run");
    if (run && !options.allowRun) {
      throw new ApiError(
        400,
        "RUN_UNSUPPORTED",
        `Dockerfile line ${run.startLine}: RUN is not available in this demo build ` +
          `(it needs a container runtime); use COPY, ADD, ENV, CMD and the like`,
        { line: run.startLine, endLine: run.endLine },
      );
    }
    const { repo, tag } = buildTarget(input.tag);
    await authorize(request, { type: "repository", name: repo, actions: ["pull", "push"] });
    let result: DemoBuildResult;
    try {
      result = await options.build({
        store,
        dockerfile: input.dockerfile,
        context: input.context,
        tag: ns.tag(repo, tag),
        signal: request.signal,
      });
    } catch (e) {
      throw buildFailure(e);
    }
    await recordBuild(repo, tag);
    return json({
      reference: `${url.host}/${repo}:${tag}`,
      digestReference: `${url.host}/${repo}@${result.manifestDigest}`,
      repository: repo,
      tag,
      imageId: result.imageId,
      manifestDigest: result.manifestDigest,
    }, 201);
  }

  /** As for a push: the digest record keeps the image pullable by digest when the tag moves. */
  async function recordBuild(repo: string, tag: string): Promise<void> {
    const tagName = ns.tag(repo, tag);
    await store.tags.update((records) => {
      const tagged = records.find((r) => r.name === tagName);
      if (!tagged) {
        throw new ApiError(500, "BUILD_FAILED", `The build engine did not tag "${tagName}"`);
      }
      const digestName = ns.digest(repo, tagged.descriptor.digest);
      return [...records.filter((r) => r.name !== digestName), {
        name: digestName,
        descriptor: tagged.descriptor,
      }];
    });
  }

  async function seed(): Promise<DemoSeedResult> {
    const reference = `${SEED_REPO}:${SEED_TAG}`;
    if (!options.build) return { seeded: false, reference, reason: "no build engine" };
    if ((await store.tags.list()).length > 0) {
      return { seeded: false, reference, reason: "the store already has images" };
    }
    const enc = new TextEncoder();
    await options.build({
      store,
      dockerfile: DEMO_IMAGE_DOCKERFILE,
      context: new Map([...DEMO_IMAGE_CONTEXT].map(([path, text]) => [path, enc.encode(text)])),
      tag: ns.tag(SEED_REPO, SEED_TAG),
      signal: new AbortController().signal,
    });
    await recordBuild(SEED_REPO, SEED_TAG);
    return { seeded: true, reference };
  }

  function buildTarget(text: string | undefined): { repo: string; tag: string } {
    if (!text) {
      const hex = [...crypto.getRandomValues(new Uint8Array(6))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      return { repo: `builds/${hex}`, tag: "latest" };
    }
    const colon = text.lastIndexOf(":");
    const [repo, tag] = colon > text.lastIndexOf("/")
      ? [text.slice(0, colon), text.slice(colon + 1)]
      : [text, "latest"];
    ns.check(repo);
    if (!Namespace.isTag(tag)) {
      throw new ApiError(400, "TAG_INVALID", `Invalid tag "${tag}" in "${text}"`);
    }
    return { repo, tag };
  }

  async function route(request: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    const asset = ASSETS[path];
    if (asset) {
      allow(request, ["GET", "HEAD"]);
      return new Response(asset.body, { headers: { "content-type": asset.type, ...PAGE_HEADERS } });
    }
    switch (path) {
      case "/api/inspect":
        allow(request, ["GET"]);
        return await inspect(request, url);
      case "/api/parse":
        allow(request, ["POST"]);
        return await parse(request);
      case "/api/build":
        allow(request, ["POST"]);
        return await build(request, url);
    }
    throw new ApiError(404, "NOT_FOUND", `Nothing at ${path}`);
  }

  const handler: FetchHandler = async (request) => {
    const url = new URL(request.url);
    try {
      return await route(request, url);
    } catch (e) {
      await request.body?.cancel().catch(() => {});
      if (e instanceof ApiError) return errorResponse(e);
      if (e instanceof RegistryHttpError) {
        return errorResponse(new ApiError(e.status, e.code, e.message, { headers: e.headers }));
      }
      return errorResponse(
        new ApiError(500, "INTERNAL", `Cannot answer ${url.pathname}: ${(e as Error).message}`),
      );
    }
  };
  return Object.assign(handler, { fetch: handler, seed });
}

function allow(request: Request, methods: string[]): void {
  if (!methods.includes(request.method)) {
    throw new ApiError(
      405,
      "METHOD_NOT_ALLOWED",
      `${request.method} is not allowed here; use ${methods.join(" or ")}`,
      { headers: { allow: methods.join(", ") } },
    );
  }
}

function parseChecked(text: string | Uint8Array): ReturnType<typeof parseDockerfile> {
  try {
    return parseDockerfile(text, { file: "Dockerfile" });
  } catch (e) {
    if (!(e instanceof DockerfileSyntaxError)) throw e;
    throw new ApiError(400, "DOCKERFILE_INVALID", e.message, { line: e.line, endLine: e.endLine });
  }
}

function buildFailure(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof DockerfileSyntaxError) {
    return new ApiError(400, "DOCKERFILE_INVALID", e.message, {
      line: e.line,
      endLine: e.endLine,
    });
  }
  const err = e as Error & { line?: unknown };
  const line = typeof err.line === "number" ? err.line : undefined;
  const caller = line !== undefined || e instanceof TypeError || e instanceof RangeError ||
    e instanceof SyntaxError;
  return new ApiError(
    caller ? 400 : 500,
    "BUILD_FAILED",
    `Build failed: ${err.message}`,
    line === undefined ? {} : { line },
  );
}

/**
 * Where `input` points in this registry: an explicit host of this server (the namespace, or
 * the host the request came to, with localhost and 127.0.0.1 alike) means here only; a name
 * with no host at all may be here or on Docker Hub.
 */
function localName(
  input: string,
  ref: Reference,
  requestHost: string,
  prefix: string,
): { repo: string; explicit: boolean } | undefined {
  if (ref.registry === prefix || sameHost(ref.registry, requestHost)) {
    return { repo: ref.repository, explicit: true };
  }
  const typedHost = /^(?:docker\.io|index\.docker\.io)\//.test(input);
  if (ref.registry === "docker.io" && !typedHost) {
    return { repo: ref.familiarName, explicit: false };
  }
  return undefined;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  const split = (h: string) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(h)!;
    return { host: m[1], port: m[2] ?? "80" };
  };
  const x = split(a);
  const y = split(b);
  return x.port === y.port && LOOPBACK.has(x.host) && LOOPBACK.has(y.host);
}
