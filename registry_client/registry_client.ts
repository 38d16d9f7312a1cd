import { type Digest, isDigest, sha256 } from "../digest/mod.ts";
import {
  type Descriptor,
  MANIFEST_ACCEPT,
  MediaType,
  type ParsedManifest,
  parseManifest,
} from "../image/mod.ts";
import { Authenticator } from "./_auth.ts";
import {
  type CredentialProvider,
  type Credentials,
  dockerConfigProvider,
} from "./docker_config.ts";
import { ConnectionError, RegistryError, type RegistryErrorDetail } from "./errors.ts";
import { describeNetworkError, endpoint } from "./_net_error.ts";

/** How a client reaches and authenticates to a registry. Every field is optional. */
export interface RegistryClientOptions {
  /** The fetch to use; tests and edge runtimes inject their own. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /**
   * Credentials, or a function returning them per host.
   * @default {the docker config file at `configPath`}
   */
  auth?: Credentials | CredentialProvider;
  /** The docker config file read when `auth` is not given. @default {~/.docker/config.json} */
  configPath?: string;
  /**
   * Hosts (`host` or `host:port`) spoken to over plain HTTP. `localhost`, `127.0.0.1`
   * and `[::1]` always are. @default {[]}
   */
  insecure?: string[];
  /** Retries after a 5xx, a 429 or a connection error, the ping included. @default {4} */
  retries?: number;
  /** The first backoff delay; each retry doubles it, with jitter. @default {500} */
  retryDelayMs?: number;
  /** The longest wait between retries, including a `Retry-After`. @default {30000} */
  maxRetryDelayMs?: number;
  /** How long to wait for a response's headers. @default {60000} */
  timeoutMs?: number;
  /**
   * How long a response body may go without sending a byte before the connection is
   * dropped (a download then resumes with `Range`). `0` waits forever. @default {30000}
   */
  idleTimeoutMs?: number;
  /** Called with a warning (e.g. Docker Hub's pull rate limit running low). */
  onWarning?: (message: string) => void;
  /** Aborts every request of this client. */
  signal?: AbortSignal;
}

/** Options of one request made with {@linkcode RegistryClient.request}. */
export interface RequestOptions {
  /** Token scopes the request needs, e.g. `repository:library/busybox:pull`. */
  scopes?: string[];
  /** Extra request headers. */
  headers?: Record<string, string>;
  /**
   * The body. Bytes and strings can be re-sent on a retry or a new token; a stream
   * cannot, so it is sent once, after the client has learned the auth scheme.
   */
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  /**
   * Re-send after a connection error. Off for requests whose effect may have partly
   * happened (an upload PATCH): the caller asks the registry what it holds instead.
   * @default {true}
   */
  retryOnNetworkError?: boolean;
  /**
   * With a `Uint8Array` body: called with how many of its bytes the connection has taken
   * so far, as they go (a push's progress bar for a layer sent in one request). The body
   * is then handed over in pieces, made anew for each attempt, so it can still be re-sent;
   * a retry reports from 0 again.
   */
  onBodyProgress?: (sent: number) => void;
}

/** An upload session opened by {@linkcode RegistryClient.startUpload}. */
export interface UploadSession {
  /** The absolute URL to PATCH/PUT to (it changes after every request). */
  location: string;
  /** The registry's minimum chunk size (`OCI-Chunk-Min-Length`), if it gave one. */
  minChunkLength?: number;
}

/** A page-following listing option set for tags and the catalog. */
export interface ListOptions {
  /** Page size asked for (`n`). @default {the registry's} */
  pageSize?: number;
  /** Start after this entry (`last`). */
  last?: string;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const LOCAL_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;
const MAX_MANIFEST_BYTES = 4 << 20;
/** Bytes per piece of a body whose sending is reported (`onBodyProgress`). */
const PROGRESS_PIECE = 64 << 10;

/** A body to send: as given, or made for each exchange (a stream is read only once). */
type Body = BodyInit | RequestOptions["body"] | (() => BodyInit);

/**
 * `bytes` as a stream of subarrays (no copies) that reports each piece as fetch pulls it:
 * pull-driven with no read-ahead, so the count follows what the connection has taken.
 */
function countedBody(bytes: Uint8Array, report: (sent: number) => void): () => BodyInit {
  return () => {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= bytes.length) return c.close();
        const piece = bytes.subarray(sent, sent + PROGRESS_PIECE);
        sent += piece.length;
        c.enqueue(piece);
        report(sent);
      },
    }, { highWaterMark: 0 });
  };
}

/** Chunks the runtime's own fetch read from the network: nobody but their reader holds them. */
const networkChunks = new WeakSet<Uint8Array>();

/**
 * True when `chunk` came from the runtime's fetch (not one a caller injected, whose chunks
 * may be shared): its reader may free it once it has copied it out.
 */
export function isNetworkChunk(chunk: Uint8Array): boolean {
  return networkChunks.has(chunk);
}

/** The scheme and host a registry name is reached at (Docker Hub's API host is another). */
export function registryBaseUrl(host: string, insecure: string[] = []): string {
  const apiHost = host === "docker.io" || host === "index.docker.io"
    ? "registry-1.docker.io"
    : host;
  const plain = LOCAL_HOST.test(host) || insecure.includes(host) ||
    insecure.includes(host.replace(/:\d+$/, ""));
  return `${plain ? "http" : "https"}://${apiHost}`;
}

/** Pull scope for `repository`. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Pull and push scope for `repository`. */
export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The URL without its query string, for messages (upload URLs carry state tokens). */
function show(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

async function errorDetails(res: Response): Promise<RegistryErrorDetail[]> {
  if (!res.body) return [];
  try {
    const text = new TextDecoder().decode(await readCapped(res.body, 64 << 10, "error body"));
    const body = JSON.parse(text);
    if (Array.isArray(body?.errors)) {
      return body.errors.filter((e: unknown) => typeof (e as { code?: unknown })?.code === "string")
        .map((e: RegistryErrorDetail) => ({ code: e.code, message: e.message }));
    }
  } catch { /* not a spec error body: the status says enough */ }
  return [];
}

/** Reads a whole body, refusing more than `max` bytes. */
export async function readCapped(
  body: ReadableStream<Uint8Array>,
  max: number,
  what: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw new RangeError(`${what} is larger than the ${max}-byte limit`);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

// Statuses whose responses carry no body: `new Response` refuses one for them.
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * A client for one registry host, speaking the OCI distribution API. It pings once,
 * learns the auth scheme from the `WWW-Authenticate` challenge, sends Basic credentials or
 * bearer tokens (cached per scope, refreshed when refused), retries 5xx/429/connection
 * errors with backoff (honouring `Retry-After`) and follows redirects itself so the
 * Authorization header never leaves the registry's origin.
 */
export class RegistryClient {
  /** The registry name as in references: `docker.io`, `localhost:5000`. */
  readonly host: string;
  /** Where the API is: `https://registry-1.docker.io`, `http://localhost:5000`. */
  readonly baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #ownFetch: boolean;
  readonly #auth: Authenticator;
  readonly #retries: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #timeout: number;
  readonly #idleTimeout: number;
  readonly #signal?: AbortSignal;
  readonly #warn?: (message: string) => void;
  #pinged?: Promise<void>;

  /** A client for `host` (as in a reference: `localhost:5000`, `ghcr.io`). */
  constructor(host: string, options: RegistryClientOptions = {}) {
    if (!host || /[/\s]/.test(host)) throw new TypeError(`Invalid registry host "${host}"`);
    this.host = host;
    this.baseUrl = registryBaseUrl(host, options.insecure);
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#ownFetch = options.fetch === undefined;
    const auth = options.auth;
    const provider: CredentialProvider = typeof auth === "function"
      ? auth
      : auth
      ? () => Promise.resolve(auth)
      : dockerConfigProvider({ configPath: options.configPath });
    this.#auth = new Authenticator(host, provider, (url, init) => this.#follow(url, init, true));
    this.#retries = options.retries ?? 4;
    this.#delay = options.retryDelayMs ?? 500;
    this.#maxDelay = options.maxRetryDelayMs ?? 30_000;
    this.#timeout = options.timeoutMs ?? 60_000;
    this.#idleTimeout = options.idleTimeoutMs ?? 30_000;
    this.#signal = options.signal;
    this.#warn = options.onWarning;
  }

  /**
   * Checks that the host speaks the registry API (`GET /v2/`) and learns its auth scheme.
   * With credentials available, a 401 after authenticating rejects with RegistryError.
   */
  ping(): Promise<void> {
    this.#pinged ??= (async () => {
      // Retried like any request: one 500 or reset here must not fail a whole pull. Except
      // a refused first contact: nothing listens there (a typo, a registry not started),
      // and docker says so at once instead of after a round of backoff.
      for (let attempt = 0;; attempt++) {
        let res: Response;
        try {
          res = await this.#send("GET", `${this.baseUrl}/v2/`, {}, false);
        } catch (e) {
          const refused = e instanceof ConnectionError && e.code === "ECONNREFUSED";
          if (!this.#retryable(e) || (refused && attempt === 0) || attempt >= this.#retries) {
            throw e;
          }
          await sleep(this.#backoff(attempt), this.#signal);
          continue;
        }
        await res.body?.cancel();
        if (res.status === 401) {
          this.#auth.learn(res.headers.get("www-authenticate"));
          return;
        }
        if (RETRY_STATUS.has(res.status) && attempt < this.#retries) {
          const wait = retryAfterMs(res.headers.get("retry-after")) ?? this.#backoff(attempt);
          await sleep(Math.min(wait, this.#maxDelay), this.#signal);
          continue;
        }
        if (!res.ok) {
          throw new RegistryError(`Registry ${this.host} did not answer GET /v2/`, res.status);
        }
        return;
      }
    })();
    this.#pinged.catch(() => this.#pinged = undefined);
    return this.#pinged;
  }

  /** Checks that the credentials are accepted: authenticates against the ping endpoint. */
  async checkLogin(): Promise<void> {
    this.#auth.loginHint = false; // the user is logging in: "run stratum login" would be noise
    await this.ping();
    const res = await this.request("GET", "/v2/");
    await res.body?.cancel();
    if (!res.ok) {
      throw new RegistryError(`Cannot log in to ${this.host}`, res.status, await errorDetails(res));
    }
  }

  /**
   * Sends one authenticated request (path relative to the API host, or an absolute URL
   * the registry gave), with retries and redirects. Returns the response whatever its status.
   */
  async request(method: string, target: string, options: RequestOptions = {}): Promise<Response> {
    await this.ping();
    const url = target.startsWith("/") ? this.baseUrl + target : target;
    const scopes = options.scopes ?? [];
    const replayable = !(options.body instanceof ReadableStream);
    let authRetried = false;
    for (let attempt = 0;; attempt++) {
      const authorization = await this.#auth.header(scopes);
      const headers: Record<string, string> = { ...options.headers };
      if (authorization) headers.authorization = authorization;
      const body = options.onBodyProgress && options.body instanceof Uint8Array
        ? countedBody(options.body, options.onBodyProgress)
        : options.body;
      let res: Response;
      try {
        res = await this.#send(method, url, { headers, body }, true);
      } catch (e) {
        if (
          !this.#retryable(e) || !replayable || options.retryOnNetworkError === false ||
          attempt >= this.#retries
        ) {
          throw e;
        }
        await sleep(this.#backoff(attempt), this.#signal);
        continue;
      }
      if (res.status === 401 && !authRetried && replayable) {
        authRetried = true;
        if (await this.#auth.reject(res.headers.get("www-authenticate"), scopes, authorization)) {
          await res.body?.cancel();
          attempt--;
          continue;
        }
      }
      if (RETRY_STATUS.has(res.status) && replayable && attempt < this.#retries) {
        const wait = retryAfterMs(res.headers.get("retry-after")) ?? this.#backoff(attempt);
        await res.body?.cancel();
        await sleep(Math.min(wait, this.#maxDelay), this.#signal);
        continue;
      }
      this.#rateLimit(res);
      return res;
    }
  }

  /** True for a connection failure another try may get past (not our own abort). */
  #retryable(e: unknown): boolean {
    return !this.#signal?.aborted && e instanceof ConnectionError && e.retryable;
  }

  #backoff(attempt: number): number {
    const base = Math.min(this.#delay * 2 ** attempt, this.#maxDelay);
    return base / 2 + Math.random() * base / 2;
  }

  #rateLimit(res: Response): void {
    const remaining = res.headers.get("ratelimit-remaining");
    if (!remaining || !this.#warn) return;
    const n = Number(remaining.split(";")[0]);
    const limit = Number((res.headers.get("ratelimit-limit") ?? "").split(";")[0]);
    if (Number.isFinite(n) && n < 10) {
      this.#warn(
        `${this.host} pull rate limit low: ${n}${
          Number.isFinite(limit) ? ` of ${limit}` : ""
        } left`,
      );
    }
  }

  /** One HTTP exchange with a header timeout, following redirects by hand. */
  async #send(
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: Body },
    follow: boolean,
  ): Promise<Response> {
    return await this.#follow(url, { method, headers: init.headers, body: init.body }, follow);
  }

  async #follow(
    url: string,
    init: Omit<RequestInit, "body"> & { body?: Body | null },
    follow: boolean,
  ): Promise<Response> {
    let current = new URL(url);
    let method = init.method ?? "GET";
    let made = init.body;
    const headers = new Headers(init.headers);
    headers.set("user-agent", "stratum/0.1");
    for (let hops = 0;; hops++) {
      const ctl = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ctl.abort(new DOMException("timed out", "TimeoutError"));
      }, this.#timeout);
      // The caller's signal stays wired to this exchange until its body is read.
      const onAbort = () => ctl.abort(this.#signal?.reason);
      this.#signal?.addEventListener("abort", onAbort, { once: true });
      const release = () => this.#signal?.removeEventListener("abort", onAbort);
      const what = `${method} ${show(current.href)}`;
      const body = typeof made === "function" ? made() : made;
      let res: Response;
      try {
        res = await this.#fetch(current.href, {
          method,
          headers,
          body,
          redirect: "manual",
          signal: ctl.signal,
          ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
        } as RequestInit);
      } catch (e) {
        release();
        if (this.#signal?.aborted) throw e;
        const failure = describeNetworkError(e, current);
        if (timedOut) {
          failure.code = "ETIMEDOUT";
          failure.text = `timeout awaiting response headers from ${
            endpoint(current).hostPort
          } after ${this.#timeout} ms`;
          failure.retryable = true;
        }
        throw new ConnectionError(what, failure, { cause: e });
      } finally {
        clearTimeout(timer);
      }
      if (!follow || !REDIRECT_STATUS.has(res.status) || !res.headers.get("location")) {
        return this.#watchBody(res, ctl, release, what, current);
      }
      const location = res.headers.get("location")!;
      await res.body?.cancel();
      release();
      if (hops >= 10) throw new RegistryError(`Too many redirects from ${show(url)}`, res.status);
      const next = new URL(location, current);
      if (current.protocol === "https:" && next.protocol !== "https:") {
        throw new RegistryError(`Refusing a redirect from HTTPS to ${show(next.href)}`, res.status);
      }
      // Credentials are for the registry: blob storage on another host must not see them.
      if (next.origin !== current.origin) headers.delete("authorization");
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        made = undefined;
      }
      current = next;
    }
  }

  /**
   * Gives `res` a body that fails with a retryable ConnectionError when no byte arrives
   * for the idle timeout, and drops the connection: the header timeout alone would let a
   * registry that stalls mid-blob hang a pull forever. The clock runs only while a read
   * is pending (no read-ahead), so a slow consumer never trips it. One timer serves the
   * whole body and is re-armed only when it fires: a timer per chunk cost a 552 MB pull
   * some 9,000 timers and ~0.1 s of its main thread.
   */
  #watchBody(
    res: Response,
    ctl: AbortController,
    release: () => void,
    what: string,
    url: URL,
  ): Response {
    const ms = this.#idleTimeout;
    const signal = this.#signal;
    const own = this.#ownFetch;
    if (!res.body || NULL_BODY_STATUS.has(res.status)) {
      release();
      return res;
    }
    const reader = res.body.getReader();
    let received = 0;
    const { hostname, port, hostPort } = endpoint(url);
    const stalled = () =>
      new ConnectionError(what, {
        hostname,
        port,
        code: "ETIMEDOUT",
        text: `read tcp ${hostPort}: no data for ${ms} ms after ${received} bytes of the body`,
        retryable: true,
      });
    const watched = ms > 0 && Number.isFinite(ms);
    // When the pending read began (undefined: none pending), and the one timer.
    let waitingSince: number | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stall: ConnectionError | undefined;
    const check = () => {
      timer = undefined;
      if (waitingSince === undefined) return; // not reading: the next read re-arms
      const idle = Date.now() - waitingSince;
      if (idle < ms) return void (timer = setTimeout(check, ms - idle));
      // Ends the pending read (cancel settles it as done, the abort as failed): the read's
      // outcome is then this error.
      stall = stalled();
      ctl.abort(stall);
      reader.cancel(stall).catch(() => {});
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (watched) {
          waitingSince = Date.now();
          timer ??= setTimeout(check, ms);
        }
        try {
          const r = await reader.read();
          waitingSince = undefined;
          if (stall) throw stall;
          if (r.done) {
            clearTimeout(timer);
            release();
            controller.close();
            return;
          }
          received += r.value.length;
          if (own) networkChunks.add(r.value);
          controller.enqueue(r.value);
        } catch (thrown) {
          const e = stall ?? thrown;
          waitingSince = undefined;
          clearTimeout(timer);
          release();
          ctl.abort(e); // closes the connection instead of leaving it to linger
          reader.cancel(e).catch(() => {});
          // A connection cut mid-body reads like one cut before the answer (not our abort).
          controller.error(
            e instanceof ConnectionError || signal?.aborted ? e : new ConnectionError(
              what,
              { ...describeNetworkError(e, url), retryable: true },
              { cause: e },
            ),
          );
        }
      },
      cancel(reason) {
        waitingSince = undefined;
        clearTimeout(timer);
        release();
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }

  async #fail(what: string, res: Response): Promise<never> {
    const e = new RegistryError(what, res.status, await errorDetails(res));
    if (res.status === 401 && this.#auth.loginHint) {
      e.message += `; ${await this.#auth.loginAdvice()}`;
    }
    throw e;
  }

  /**
   * Resolves a tag or digest to a descriptor with HEAD (which Docker Hub does not count as
   * a pull); undefined when the registry does not have it.
   */
  async headManifest(repository: string, reference: string): Promise<Descriptor | undefined> {
    const res = await this.request("HEAD", `/v2/${repository}/manifests/${reference}`, {
      scopes: [pullScope(repository)],
      headers: { accept: MANIFEST_ACCEPT },
    });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    if (!res.ok) {
      await this.#fail(`Cannot resolve "${this.host}/${repository}:${reference}"`, res);
    }
    const digest = res.headers.get("docker-content-digest");
    const size = Number(res.headers.get("content-length"));
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    if (!digest || !isDigest(digest) || !Number.isSafeInteger(size) || !mediaType) {
      return undefined; // the registry does not say: the caller falls back to GET
    }
    if (isDigest(reference) && digest !== reference) {
      throw new RegistryError(
        `Registry ${this.host} answered HEAD ${repository}@${reference} with digest ${digest}`,
        res.status,
      );
    }
    return { mediaType, digest, size };
  }

  /**
   * Fetches a manifest or index by tag or digest and verifies it: the bytes' digest must
   * equal the digest asked for, and the `Docker-Content-Digest` header when present.
   */
  async getManifest(repository: string, reference: string): Promise<ParsedManifest> {
    const name = `${this.host}/${repository}${isDigest(reference) ? "@" : ":"}${reference}`;
    const res = await this.request("GET", `/v2/${repository}/manifests/${reference}`, {
      scopes: [pullScope(repository)],
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (!res.ok) await this.#fail(`Cannot get manifest "${name}"`, res);
    const bytes = await readCapped(res.body!, MAX_MANIFEST_BYTES, `Manifest "${name}"`);
    let digest = await sha256(bytes);
    // A manifest asked for by a sha512 digest (distribution allows it) is checked in sha512.
    if (reference.startsWith("sha512:") && isDigest(reference)) {
      digest = await sha256(bytes, { algorithm: "sha512" });
    }
    if (isDigest(reference) && digest !== reference) {
      throw new RegistryError(
        `Manifest "${name}" does not match its digest: the bytes hash to ${digest}`,
        res.status,
        [{ code: "DIGEST_INVALID" }],
      );
    }
    const header = res.headers.get("docker-content-digest");
    const algorithm = header?.startsWith("sha512:") ? "sha512" : "sha256";
    const named = digest.startsWith(`${algorithm}:`) ? digest : await sha256(bytes, { algorithm });
    if (header && header !== named) {
      throw new RegistryError(
        `Manifest "${name}" does not match its Docker-Content-Digest ${header}: the bytes hash to ${named}`,
        res.status,
        [{ code: "DIGEST_INVALID" }],
      );
    }
    const parsed = await parseManifest(bytes, res.headers.get("content-type") ?? undefined);
    return { ...parsed, digest };
  }

  /** Uploads a manifest under a tag or its digest; returns its digest and whether the registry processed its `subject`. */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<{ digest: Digest; subjectProcessed: boolean }> {
    const digest = await sha256(bytes);
    const res = await this.request("PUT", `/v2/${repository}/manifests/${reference}`, {
      scopes: [pushScope(repository)],
      headers: { "content-type": mediaType },
      body: bytes,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status !== 201 && !res.ok) {
      await this.#fail(`Cannot push manifest "${this.host}/${repository}:${reference}"`, res);
    }
    const echoed = res.headers.get("docker-content-digest");
    if (echoed && echoed !== digest) {
      throw new RegistryError(
        `Registry ${this.host} stored manifest ${reference} as ${echoed}, expected ${digest}`,
        res.status,
      );
    }
    return { digest, subjectProcessed: res.headers.has("oci-subject") };
  }

  /** Deletes a manifest by digest (registries refuse deletion by tag, or at all, when configured so). */
  async deleteManifest(repository: string, digest: string): Promise<void> {
    const res = await this.request("DELETE", `/v2/${repository}/manifests/${digest}`, {
      scopes: [`repository:${repository}:delete`, pushScope(repository)],
    });
    await res.body?.cancel().catch(() => {});
    if (!res.ok) await this.#fail(`Cannot delete "${this.host}/${repository}@${digest}"`, res);
  }

  /** The size of a blob the repository has, or undefined. */
  async headBlob(
    repository: string,
    digest: string,
    scopes?: string[],
  ): Promise<number | undefined> {
    const res = await this.request("HEAD", `/v2/${repository}/blobs/${digest}`, {
      scopes: scopes ?? [pullScope(repository)],
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) return undefined;
    if (!res.ok) await this.#fail(`Cannot check blob ${digest} in "${repository}"`, res);
    const size = Number(res.headers.get("content-length"));
    return Number.isSafeInteger(size) ? size : -1;
  }

  /**
   * Opens a blob's bytes from `offset` (with `Range`), following redirects to blob
   * storage. `start` is where the stream really begins: 0 when the server ignored the range.
   * The bytes are not verified here; the caller pipes them through a verifying writer.
   */
  async getBlob(
    repository: string,
    digest: string,
    options: { offset?: number; length?: number } = {},
  ): Promise<{ body: ReadableStream<Uint8Array>; start: number }> {
    const headers: Record<string, string> = {};
    const offset = options.offset ?? 0;
    if (offset > 0 || options.length !== undefined) {
      const end = options.length !== undefined ? String(offset + options.length - 1) : "";
      headers.range = `bytes=${offset}-${end}`;
    }
    const res = await this.request("GET", `/v2/${repository}/blobs/${digest}`, {
      scopes: [pullScope(repository)],
      headers,
    });
    if (res.status === 416 && offset > 0) {
      await res.body?.cancel();
      return await this.getBlob(repository, digest, {});
    }
    if (!res.ok || !res.body) await this.#fail(`Cannot get blob ${digest} of "${repository}"`, res);
    let start = 0;
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
      start = m ? Number(m[1]) : NaN;
      if (start !== offset) {
        await res.body!.cancel();
        throw new RegistryError(
          `Blob ${digest}: asked for bytes from ${offset}, the registry sent from ${start}`,
          206,
        );
      }
    }
    return { body: res.body!, start };
  }

  /**
   * Asks the registry to mount `digest` from repository `from` into `repository`.
   * True when mounted; otherwise the upload session the registry opened instead.
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<true | UploadSession> {
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.request("POST", `/v2/${repository}/blobs/uploads/?${q}`, {
      scopes: [pushScope(repository), pullScope(from)],
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 201) return true;
    if (res.status === 202) return this.#session(res, repository);
    return await this.#fail(`Cannot mount blob ${digest} from "${from}" into "${repository}"`, res);
  }

  /** Opens an upload session (POST). */
  async startUpload(repository: string): Promise<UploadSession> {
    const res = await this.request("POST", `/v2/${repository}/blobs/uploads/`, {
      scopes: [pushScope(repository)],
      headers: { "content-length": "0" },
    });
    await res.body?.cancel().catch(() => {});
    if (res.status !== 202) await this.#fail(`Cannot start an upload to "${repository}"`, res);
    return this.#session(res, repository);
  }

  #session(res: Response, repository: string): UploadSession {
    const location = res.headers.get("location");
    if (!location) {
      throw new RegistryError(
        `Registry ${this.host} opened an upload to "${repository}" without a Location`,
        res.status,
      );
    }
    const min = Number(res.headers.get("oci-chunk-min-length"));
    return {
      location: new URL(location, this.baseUrl + "/").href,
      ...(Number.isSafeInteger(min) && min > 0 ? { minChunkLength: min } : {}),
    };
  }

  /** How many bytes an upload session holds (`GET` on the session: its `Range`). */
  async uploadStatus(
    session: UploadSession,
    repository: string,
  ): Promise<{ offset: number; location: string }> {
    const res = await this.request("GET", session.location, { scopes: [pushScope(repository)] });
    await res.body?.cancel().catch(() => {});
    if (res.status !== 204 && !res.ok) {
      await this.#fail(`Cannot get the status of an upload to "${repository}"`, res);
    }
    const range = /^(?:bytes=)?0-(\d+)$/.exec(res.headers.get("range") ?? "");
    const location = res.headers.get("location");
    return {
      offset: range ? Number(range[1]) + 1 : 0,
      location: location ? new URL(location, session.location).href : session.location,
    };
  }

  /** Sends one chunk at `offset` (PATCH with `Content-Range`); returns the next location. */
  async uploadChunk(
    session: UploadSession,
    repository: string,
    chunk: Uint8Array | ReadableStream<Uint8Array>,
    offset: number,
    length: number,
  ): Promise<string> {
    const res = await this.request("PATCH", session.location, {
      scopes: [pushScope(repository)],
      headers: {
        "content-type": "application/octet-stream",
        "content-range": `${offset}-${offset + length - 1}`,
        "content-length": String(length),
      },
      body: chunk,
      retryOnNetworkError: false,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status !== 202) {
      await this.#fail(
        `Cannot upload bytes ${offset}-${offset + length - 1} to "${repository}"`,
        res,
      );
    }
    const location = res.headers.get("location");
    return location ? new URL(location, session.location).href : session.location;
  }

  /**
   * Closes an upload with its digest (PUT), with an optional final body whose sending
   * `onProgress` follows. A connection failure is not retried here, since the registry may
   * have committed the blob and consumed the session: the caller asks
   * {@linkcode RegistryClient.headBlob} instead.
   */
  async completeUpload(
    session: UploadSession,
    repository: string,
    digest: string,
    body?: Uint8Array,
    onProgress?: (sent: number) => void,
  ): Promise<void> {
    const url = new URL(session.location);
    url.searchParams.set("digest", digest);
    const res = await this.request("PUT", url.href, {
      scopes: [pushScope(repository)],
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(body?.length ?? 0),
      },
      body: body ?? new Uint8Array(),
      onBodyProgress: body?.length ? onProgress : undefined,
      // A lost answer may mean the registry committed and closed the session: re-sending
      // would get a 404. The caller checks the blob with HEAD instead.
      retryOnNetworkError: false,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status !== 201) {
      await this.#fail(`Cannot commit blob ${digest} to "${repository}"`, res);
    }
    const echoed = res.headers.get("docker-content-digest");
    // distribution verifies a sha512 upload against its digest and answers with the
    // canonical sha256 it also keeps the blob under: only a same-algorithm echo compares.
    const sameAlgorithm = echoed?.split(":")[0] === digest.split(":")[0];
    if (echoed && sameAlgorithm && echoed !== digest) {
      throw new RegistryError(
        `Registry ${this.host} stored blob ${digest} as ${echoed}`,
        res.status,
      );
    }
  }

  async *#pages(
    path: string,
    key: string,
    scopes: string[],
    options: ListOptions,
  ): AsyncGenerator<string> {
    const q = new URLSearchParams();
    if (options.pageSize) q.set("n", String(options.pageSize));
    if (options.last) q.set("last", options.last);
    let url: string | undefined = `${path}${q.size ? `?${q}` : ""}`;
    while (url) {
      const res = await this.request("GET", url, { scopes });
      if (!res.ok) await this.#fail(`Cannot list ${this.host}${path}`, res);
      const body = JSON.parse(
        new TextDecoder().decode(await readCapped(res.body!, 16 << 20, "list")),
      );
      const items = body?.[key];
      if (items !== null && items !== undefined && !Array.isArray(items)) {
        throw new RegistryError(
          `Registry ${this.host} answered ${path} without a "${key}" list`,
          res.status,
        );
      }
      for (const item of items ?? []) yield String(item);
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "");
      url = link ? new URL(link[1], this.baseUrl + "/").href : undefined;
    }
  }

  /** Every tag of `repository`, following `Link` pagination. */
  tags(repository: string, options: ListOptions = {}): AsyncGenerator<string> {
    return this.#pages(`/v2/${repository}/tags/list`, "tags", [pullScope(repository)], options);
  }

  /** Every repository in the registry (`/v2/_catalog`), following pagination. */
  catalog(options: ListOptions = {}): AsyncGenerator<string> {
    return this.#pages("/v2/_catalog", "repositories", ["registry:catalog:*"], options);
  }

  /**
   * The manifests that refer to `digest` (signatures, SBOMs): the referrers API, or the
   * `sha256-<hex>` tag schema for registries without it. Filtered by `artifactType` if given.
   */
  async referrers(
    repository: string,
    digest: string,
    options: { artifactType?: string } = {},
  ): Promise<Descriptor[]> {
    const q = options.artifactType
      ? `?artifactType=${encodeURIComponent(options.artifactType)}`
      : "";
    const res = await this.request("GET", `/v2/${repository}/referrers/${digest}${q}`, {
      scopes: [pullScope(repository)],
      headers: { accept: MediaType.OCI_INDEX },
    });
    let manifests: Descriptor[];
    const type = res.headers.get("content-type") ?? "";
    if (res.ok && type.startsWith(MediaType.OCI_INDEX)) {
      const parsed = await parseManifest(
        await readCapped(res.body!, MAX_MANIFEST_BYTES, "referrers"),
        MediaType.OCI_INDEX,
      );
      manifests = parsed.kind === "index" ? parsed.index.manifests : [];
    } else if (res.status === 404 || res.ok) {
      await res.body?.cancel();
      manifests = await this.#fallbackReferrers(repository, digest);
    } else {
      return await this.#fail(`Cannot list referrers of ${digest} in "${repository}"`, res);
    }
    return options.artifactType
      ? manifests.filter((m) => m.artifactType === options.artifactType)
      : manifests;
  }

  async #fallbackReferrers(repository: string, digest: string): Promise<Descriptor[]> {
    const tag = referrersTag(digest);
    if (!(await this.headManifest(repository, tag))) return [];
    const parsed = await this.getManifest(repository, tag);
    return parsed.kind === "index" ? parsed.index.manifests : [];
  }
}

/** The tag the referrers tag schema keeps `digest`'s referrers under: `sha256-<hex>`. */
export function referrersTag(digest: string): string {
  return digest.replace(":", "-");
}
