import { RegistryHttpError } from "./errors.ts";

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
 */
export async function* readBody(
  body: ReadableStream<Uint8Array> | null,
  limits: BodyLimits,
): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  let total = 0;
  let finished = false;
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new RegistryHttpError("BLOB_UPLOAD_INVALID", "request body stalled; upload dropped", {
                status: 408,
              }),
            ),
          limits.idleMs,
        );
      });
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await Promise.race([reader.read(), idle]);
      } finally {
        clearTimeout(timer);
      }
      if (step.done) {
        finished = true;
        return;
      }
      total += step.value.length;
      if (total > limits.max) throw limits.tooLarge();
      yield step.value;
    }
  } finally {
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
  let size = 0;
  for await (const c of readBody(body, limits)) {
    chunks.push(c);
    size += c.length;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
