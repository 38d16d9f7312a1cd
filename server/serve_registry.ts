import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { adoptChunk, dropChunk, type ImageStore } from "../storage/mod.ts";
import { type Authenticator, basicAuth, tokenAuth, type TokenAuthOptions } from "./auth.ts";
import { Htpasswd } from "./htpasswd.ts";
import {
  createRegistryApp,
  type FetchHandler,
  type RegistryApp,
  type RegistryAppOptions,
} from "./registry_app.ts";

/** Options for {@linkcode serveRegistry}; the limits are {@linkcode RegistryAppOptions}'. */
export interface ServeRegistryOptions extends Omit<RegistryAppOptions, "auth" | "fallback"> {
  /** The store served. */
  store: ImageStore;
  /** `host:port` to bind; port 0 picks a free one. @default {"127.0.0.1:5000"} */
  addr?: string;
  /** An htpasswd file (bcrypt); turns on Basic auth, or token auth with `token`. */
  htpasswd?: string;
  /** Token auth with its own `/token` endpoint instead of Basic (needs `htpasswd`). */
  token?: boolean | TokenAuthOptions;
  /** A ready-made authenticator; overrides `htpasswd`/`token`. */
  auth?: Authenticator;
  /** Serves requests outside `/v2/` (the demo UI). @default {404} */
  ui?: FetchHandler;
  /** Longest wait for a request's headers, in ms (slow-header clients). @default {20000} */
  headersTimeoutMs?: number;
  /** A connection with no traffic this long (ms) is closed. @default {120000} */
  idleTimeoutMs?: number;
  /** Most open connections. @default {1024} */
  maxConnections?: number;
}

/** A running registry server. */
export interface RegistryServer {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** The handler it serves. */
  readonly app: RegistryApp;
  /** Stops accepting, closes connections and suspends upload sessions (see the app). */
  close(): Promise<void>;
}

/**
 * Basic auth (or, with `token`, token auth with its own `/token` endpoint) for the users of
 * an htpasswd file (bcrypt). One authenticator can then guard both the registry and the UI.
 */
export async function htpasswdAuth(
  path: string,
  token?: boolean | TokenAuthOptions,
): Promise<Authenticator> {
  const users = Htpasswd.parse(await readFile(path, "utf8"), path);
  return token ? tokenAuth(users, typeof token === "object" ? token : {}) : basicAuth(users);
}

/** Splits `host:port`, `[v6]:port`, `:port` or `port`. */
export function parseAddr(addr: string): { hostname: string; port: number } {
  const text = addr.trim();
  const m = /^(\d+)$/.exec(text) ?? /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text);
  const port = m ? Number(m[m.length - 1]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new TypeError(
      `Invalid listen address "${addr}": expected host:port, e.g. 127.0.0.1:5000`,
    );
  }
  return { hostname: (m.length === 4 ? m[1] ?? m[2] : "") || "127.0.0.1", port };
}

/**
 * Serves the registry over `node:http` (so it runs on Node and Deno alike), bound to
 * 127.0.0.1:5000 unless `addr` says otherwise. Request bodies stream into the app with
 * backpressure (the socket pauses while the store is behind) and responses stream out
 * waiting for `drain`. Slow clients are bounded by a header timeout, an idle timeout and
 * the app's body-idle timeout; a client that goes away mid-upload cancels its body.
 */
export async function serveRegistry(options: ServeRegistryOptions): Promise<RegistryServer> {
  const { hostname, port } = parseAddr(options.addr ?? "127.0.0.1:5000");
  let auth = options.auth;
  if (!auth && options.htpasswd) {
    auth = await htpasswdAuth(options.htpasswd, options.token);
  } else if (!auth && options.token) {
    throw new TypeError("Token auth needs an htpasswd file of users (the htpasswd option)");
  }
  const app = createRegistryApp(options.store, { ...options, auth, fallback: options.ui });
  const server = createServer((req, res) => {
    void dispatch(app, req, res, `${hostname}:${port}`);
  });
  server.headersTimeout = options.headersTimeoutMs ?? 20_000;
  // Uploads may be long; the app's body-idle timeout bounds slow bodies instead.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = options.maxConnections ?? 1024;
  server.setTimeout(options.idleTimeoutMs ?? 120_000, (socket) => socket.destroy());
  await listen(server, port, hostname);
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    hostname: bound.address,
    port: bound.port,
    url: `http://${host}:${bound.port}`,
    app,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await closed;
      await app.close();
    },
  };
}

function listen(server: Server, port: number, hostname: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function dispatch(
  app: RegistryApp,
  req: IncomingMessage,
  res: ServerResponse,
  fallbackHost: string,
): Promise<void> {
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  let response: Response;
  try {
    response = await app(toRequest(req, fallbackHost, abort.signal), {
      remoteAddr: { hostname: req.socket.remoteAddress ?? "-", port: req.socket.remotePort },
    });
  } catch {
    response = new Response("internal server error\n", { status: 500 });
  }
  await send(res, response, req.method === "HEAD");
}

/** An IncomingMessage as a Web Request whose body streams with backpressure. */
function toRequest(req: IncomingMessage, fallbackHost: string, signal: AbortSignal): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  let url: URL;
  try {
    url = new URL(req.url ?? "/", `http://${req.headers.host ?? fallbackHost}`);
  } catch {
    url = new URL(req.url ?? "/", `http://${fallbackHost}`);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(url, {
    method,
    headers,
    body: hasBody ? bodyOf(req) : undefined,
    signal,
    // Node's fetch needs this for a streamed request body.
    duplex: "half",
  } as RequestInit);
}

function bodyOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(c) {
      req.on("data", (chunk: Uint8Array) => {
        if (settled) return;
        const view = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        // Node hands each chunk over and keeps no reference: the app's upload path frees
        // the chunks it has written (dropChunk), so a big upload leaves no garbage behind.
        adoptChunk(view);
        c.enqueue(view);
        if ((c.desiredSize ?? 0) <= 0) req.pause();
      });
      req.on("end", () => {
        if (settled) return;
        settled = true;
        c.close();
      });
      const fail = (e?: Error) => {
        if (settled) return;
        settled = true;
        c.error(e ?? new Error("The client disconnected before the request body ended"));
      };
      req.on("error", fail);
      req.on("close", () => {
        if (!req.complete) fail();
      });
      req.pause();
    },
    pull() {
      req.resume();
    },
    cancel() {
      // Let Node discard the rest so the response can still be sent on this connection.
      settled = true;
      req.resume();
    },
  }, { highWaterMark: 1 << 20, size: (chunk) => chunk.byteLength });
}

async function send(res: ServerResponse, response: Response, head: boolean): Promise<void> {
  if (res.destroyed) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body || head) {
    res.end();
    await response.body?.cancel().catch(() => {});
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      // Once the socket has it, a blob's file chunk is nobody's: free it now rather than
      // at V8's next collection, which let ~64 MiB of sent chunks pile up per GET.
      const sent = res.write(value, () => dropChunk(value));
      if (!sent) await drained(res);
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
    }
    res.end();
  } catch {
    res.destroy();
    await reader.cancel().catch(() => {});
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
