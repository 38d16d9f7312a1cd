import { type Digest, isDigest, sha256 } from "../digest/mod.ts";
import {
  type Descriptor,
  MANIFEST_ACCEPT,
  MediaType,
  type ParsedManifest,
  parseManifest,
} from "../image/mod.ts";
import { Authenticator } from "./_auth.ts";
import { type CredentialProvider, dockerConfigProvider } from "./docker_config.ts";
import { ConnectionError, RegistryError } from "./errors.ts";
import type {
  ListOptions,
  RegistryClientOptions,
  RequestOptions,
  UploadSession,
} from "./options.ts";
import { exchange, type ExchangeOptions } from "./_exchange.ts";
import {
  countedBody,
  errorDetails,
  MAX_MANIFEST_BYTES,
  pullScope,
  pushScope,
  readCapped,
  registryBaseUrl,
  RETRY_STATUS,
  retryAfterMs,
  sleep,
} from "./_http.ts";

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
  readonly #exchange: ExchangeOptions;
  readonly #auth: Authenticator;
  readonly #retries: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #signal?: AbortSignal;
  readonly #warn?: (message: string) => void;
  #pinged?: Promise<void>;

  /** A client for `host` (as in a reference: `localhost:5000`, `ghcr.io`). */
  constructor(host: string, options: RegistryClientOptions = {}) {
    if (!host || /[/\s]/.test(host)) throw new TypeError(`Invalid registry host "${host}"`);
    this.host = host;
    this.baseUrl = registryBaseUrl(host, options.insecure);
    this.#exchange = {
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      ownFetch: options.fetch === undefined,
      timeoutMs: options.timeoutMs ?? 60_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      signal: options.signal,
    };
    const auth = options.auth;
    const provider: CredentialProvider = typeof auth === "function"
      ? auth
      : auth
      ? () => Promise.resolve(auth)
      : dockerConfigProvider({ configPath: options.configPath });
    this.#auth = new Authenticator(
      host,
      provider,
      (url, init) => exchange(url, init, true, this.#exchange),
    );
    this.#retries = options.retries ?? 4;
    this.#delay = options.retryDelayMs ?? 500;
    this.#maxDelay = options.maxRetryDelayMs ?? 30_000;
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
          res = await exchange(`${this.baseUrl}/v2/`, { method: "GET" }, false, this.#exchange);
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
        res = await exchange(url, { method, headers, body }, true, this.#exchange);
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
