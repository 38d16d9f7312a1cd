import { createHasher, type HashEngine } from "./hasher.ts";
import type { Digest, HashAlgorithm } from "./parse_digest.ts";

/** What one pass over a stream yields: its digest and its size in bytes. */
export interface DigestResult {
  /** `sha256:<hex>` of every byte that passed. */
  digest: Digest;
  /** The number of bytes that passed. */
  size: number;
}

/** Options for {@linkcode DigestStream}. */
export interface DigestStreamOptions {
  /** Hash engine; see {@linkcode createHasher}. @default {"auto"} */
  engine?: HashEngine;
  /** `sha256` or `sha512`. @default {"sha256"} */
  algorithm?: HashAlgorithm;
}

/**
 * A pass-through stream that hashes and counts the bytes going through it.
 * `result` settles when the stream ends (and rejects if it is aborted).
 *
 * @example
 * ```ts
 * import { DigestStream } from "./digest_stream.ts";
 * const ds = new DigestStream();
 * await new Response(new Blob(["abc"]).stream().pipeThrough(ds)).arrayBuffer();
 * const { digest, size } = await ds.result;
 * if (size !== 3 || !digest.startsWith("sha256:ba78")) throw new Error(digest);
 * ```
 */
export class DigestStream extends TransformStream<Uint8Array, Uint8Array> {
  /** The digest and size, once the stream has ended. */
  readonly result: Promise<DigestResult>;

  /** Creates the stream. */
  constructor(options: DigestStreamOptions = {}) {
    let resolve!: (r: DigestResult) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<DigestResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers who only pipe and never look at the result must not see an unhandled rejection.
    result.catch(() => {});
    let hasher: Awaited<ReturnType<typeof createHasher>>;
    let size = 0;
    // `cancel` is in the Streams standard (Deno, Node 20+) but not yet in every lib typing.
    const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(reason: unknown): void } = {
      async start() {
        hasher = await createHasher(options);
      },
      transform(chunk, controller) {
        hasher.update(chunk);
        size += chunk.length;
        controller.enqueue(chunk);
      },
      flush() {
        resolve({ digest: hasher.digest(), size });
      },
      cancel(reason) {
        reject(reason);
      },
    };
    super(transformer);
    this.result = result;
  }
}

/**
 * Reads `stream` to its end and returns its digest and size, holding no more than one
 * chunk in memory.
 */
export async function digestOf(
  stream: ReadableStream<Uint8Array>,
  options: DigestStreamOptions = {},
): Promise<DigestResult> {
  const hasher = await createHasher(options);
  let size = 0;
  for await (const chunk of stream) {
    hasher.update(chunk);
    size += chunk.length;
  }
  return { digest: hasher.digest(), size };
}
