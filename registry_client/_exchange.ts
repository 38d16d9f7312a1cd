/**
 * One HTTP exchange with a registry, below retries and authentication: header and idle
 * timeouts, redirects, and the network chunks a reader may free. Private to
 * registry_client/.
 *
 * @module
 */
import { ConnectionError, RegistryError } from "./errors.ts";
import { describeNetworkError, endpoint } from "./_net_error.ts";
import { show } from "./_http.ts";

/** How {@linkcode exchange} reaches the registry. */
export interface ExchangeOptions {
  /** The fetch to use. */
  fetch: typeof fetch;
  /** Whether `fetch` is the runtime's own, whose chunks nobody else holds. */
  ownFetch: boolean;
  /** How long to wait for the response headers. */
  timeoutMs: number;
  /** How long a body may send nothing before the exchange fails (0: no limit). */
  idleTimeoutMs: number;
  /** Aborts the exchange, its body included. */
  signal?: AbortSignal;
}

/** A body to send: as given, or made for each exchange (a stream is read only once). */
export type ExchangeBody =
  | BodyInit
  | Uint8Array
  | string
  | ReadableStream<Uint8Array>
  | (() => BodyInit);

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
// Statuses whose responses carry no body: `new Response` refuses one for them.
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** Chunks the runtime's own fetch read from the network: nobody but their reader holds them. */
const networkChunks = new WeakSet<Uint8Array>();

/**
 * True when `chunk` came from the runtime's fetch (not one a caller injected, whose chunks
 * may be shared): its reader may free it once it has copied it out.
 */
export function isNetworkChunk(chunk: Uint8Array): boolean {
  return networkChunks.has(chunk);
}

/**
 * One HTTP exchange with a registry: a timeout on the response headers, redirects followed
 * by hand when `follow` (credentials dropped when one leaves the origin, none from HTTPS to
 * plain HTTP) and, on the body, an idle timeout. A connection failure rejects with a
 * {@linkcode ConnectionError} that says whether another try may get past it.
 */
export async function exchange(
  url: string,
  init: Omit<RequestInit, "body"> & { body?: ExchangeBody | null },
  follow: boolean,
  options: ExchangeOptions,
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
    }, options.timeoutMs);
    // The caller's signal stays wired to this exchange until its body is read.
    const onAbort = () => ctl.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const release = () => options.signal?.removeEventListener("abort", onAbort);
    const what = `${method} ${show(current.href)}`;
    const body = typeof made === "function" ? made() : made;
    let res: Response;
    try {
      res = await options.fetch(current.href, {
        method,
        headers,
        body,
        redirect: "manual",
        signal: ctl.signal,
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (e) {
      release();
      if (options.signal?.aborted) throw e;
      const failure = describeNetworkError(e, current);
      if (timedOut) {
        failure.code = "ETIMEDOUT";
        failure.text = `timeout awaiting response headers from ${
          endpoint(current).hostPort
        } after ${options.timeoutMs} ms`;
        failure.retryable = true;
      }
      throw new ConnectionError(what, failure, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    if (!follow || !REDIRECT_STATUS.has(res.status) || !res.headers.get("location")) {
      return watchBody(res, ctl, release, what, current, options);
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
function watchBody(
  res: Response,
  ctl: AbortController,
  release: () => void,
  what: string,
  url: URL,
  options: ExchangeOptions,
): Response {
  const ms = options.idleTimeoutMs;
  const signal = options.signal;
  const own = options.ownFetch;
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
