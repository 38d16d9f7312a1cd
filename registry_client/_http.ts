/**
 * The HTTP pieces a registry client is made of: where a registry name is reached, token
 * scopes, retry timing (`Retry-After`), error bodies, capped reads and a request body that
 * reports its progress. Private to registry_client/ but for what `mod.ts` exports.
 *
 * @module
 */
import type { RegistryErrorDetail } from "./errors.ts";
import { concatBytes } from "../storage/mod.ts";

/** Statuses another try may get past. */
export const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const LOCAL_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;
/** The most bytes of a manifest (or referrers index) read. */
export const MAX_MANIFEST_BYTES = 4 << 20;
/** Bytes per piece of a body whose sending is reported (`onBodyProgress`). */
const PROGRESS_PIECE = 64 << 10;

/**
 * `bytes` as a stream of subarrays (no copies) that reports each piece as fetch pulls it:
 * pull-driven with no read-ahead, so the count follows what the connection has taken.
 */
export function countedBody(bytes: Uint8Array, report: (sent: number) => void): () => BodyInit {
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

/** Waits `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
export function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The URL without its query string, for messages (upload URLs carry state tokens). */
export function show(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** The spec's `errors` of an error response; none when the body is not one. */
export async function errorDetails(res: Response): Promise<RegistryErrorDetail[]> {
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
  return concatBytes(chunks);
}
