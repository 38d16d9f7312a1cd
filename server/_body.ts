import { RegistryHttpError } from "./errors.ts";
import { concatBytes } from "../storage/mod.ts";

/** Limits on reading one request body. */
export interface BodyLimits {
  /** Most bytes accepted; more is refused with `tooLarge`. */
  max: number;
  /** The error thrown when the body goes over `max`. */
  tooLarge: () => RegistryHttpError;
  /** Longest wait for the next chunk before the request is dropped, in ms. */
  idleMs: number;
}

/**
 * Yields a request body's chunks, refusing bodies over the limit and clients that stop
 * sending: a slow or stalled client must not hold an upload (and its session) forever.
 * One timer per body watches for the stall (re-armed only when it fires early), not one per
 * chunk: a big upload arrives in tens of thousands of chunks.
 */
export async function* readBody(
  body: ReadableStream<Uint8Array> | null,
  limits: BodyLimits,
): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  let total = 0;
  let finished = false;
  // When the pending read began; undefined while the consumer has the last chunk.
  let waiting: number | undefined;
  let stalled: RegistryHttpError | undefined;
  const watch = () => {
    const idle = waiting === undefined ? 0 : performance.now() - waiting;
    if (idle < limits.idleMs) {
      timer = setTimeout(watch, limits.idleMs - idle);
      return;
    }
    stalled = new RegistryHttpError("BLOB_UPLOAD_INVALID", "request body stalled; upload dropped", {
      status: 408,
    });
    // Ends the pending read (as done), without a promise raced against every chunk.
    reader.cancel(stalled).catch(() => {});
  };
  let timer = setTimeout(watch, limits.idleMs);
  try {
    for (;;) {
      waiting = performance.now();
      const step = await reader.read();
      waiting = undefined;
      if (stalled) throw stalled;
      if (step.done) {
        finished = true;
        return;
      }
      total += step.value.length;
      if (total > limits.max) throw limits.tooLarge();
      yield step.value;
    }
  } finally {
    clearTimeout(timer);
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** Reads a whole (small) body into memory under the limits. */
export async function readAll(
  body: ReadableStream<Uint8Array> | null,
  limits: BodyLimits,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of readBody(body, limits)) chunks.push(c);
  return concatBytes(chunks);
}
