/**
 * The options of registry_client/: how a client reaches a registry, one request, an upload
 * session, a listing, and a whole transfer (pull, push, copy).
 *
 * @module
 */
import type { Platform } from "../image/mod.ts";
import type { CredentialProvider, Credentials } from "./docker_config.ts";
import type { ProgressEvent } from "./progress.ts";

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

/** Options of {@linkcode pull}, {@linkcode push} and {@linkcode copy}; all optional. */
export interface TransferOptions extends RegistryClientOptions {
  /** Receives progress events; see {@linkcode createProgressRenderer}. */
  onProgress?: (event: ProgressEvent) => void;
  /** The platform picked from an index (`linux/arm64/v8` or an object). @default {the host's} */
  platform?: Platform | string;
  /** Copy every platform of an index instead of picking one. @default {false; true for push} */
  allPlatforms?: boolean;
  /** Blobs moved at once. @default {3 for downloads, 5 for uploads, like docker} */
  concurrency?: number;
  /** Bytes per upload PATCH; raised to the registry's `OCI-Chunk-Min-Length`. @default {16 MiB} */
  chunkSize?: number;
  /**
   * Parallel ranges for one large download; pays off on high-latency links, costs on
   * local ones (each range is buffered whole before it is written). @default {1: off}
   */
  rangeConcurrency?: number;
  /** Blobs at least this big are downloaded over parallel ranges. @default {64 MiB} */
  rangeThreshold?: number;
  /** Bytes per parallel range. @default {8 MiB} */
  rangeSize?: number;
  /** Copy referrers (signatures, SBOMs) of what is copied, registry to registry. @default {true} */
  referrers?: boolean;
}
