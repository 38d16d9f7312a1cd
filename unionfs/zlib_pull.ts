/**
 * Decompression with a node:zlib transform, pulled: bytes are inflated only as the reader
 * asks for them, so memory stays bounded whatever a blob inflates to.
 *
 * @module
 */
import type { Transform } from "node:stream";
import { adoptChunk } from "../storage/mod.ts";

/** Options for {@linkcode pullThroughZlib}. */
export interface PullThroughZlibOptions {
  /**
   * Compressed bytes written to zlib at once. zlib inflates a written piece whole, whatever
   * the reader has taken, and deflate reaches ~1000:1 on runs of zeros, so a piece of N
   * bytes may come out as ~1000·N bytes at once. @default {16384}
   */
  pieceSize?: number;
  /** What is decompressed, for the error: `Cannot decompress ${what}: ...`. @default {"a blob"} */
  what?: string;
}

/**
 * Runs `input` through the zlib transform `zlib` (a gunzip or zstd decoder from
 * `node:zlib`) with real backpressure on both sides. What was inflated before a failure
 * (a truncated gzip file) is still handed out, then the stream errors.
 *
 * @example
 * ```ts
 * import { createGzip, createGunzip } from "node:zlib";
 * import { pullThroughZlib } from "./zlib_pull.ts";
 * const gz = new Response(
 *   new Blob(["hello"]).stream().pipeThrough(new CompressionStream("gzip")),
 * ).body!;
 * const text = await new Response(pullThroughZlib(gz, createGunzip())).text();
 * if (text !== "hello") throw new Error(text);
 * void createGzip;
 * ```
 */
export function pullThroughZlib(
  input: ReadableStream<Uint8Array>,
  zlib: Transform,
  options: PullThroughZlibOptions = {},
): ReadableStream<Uint8Array> {
  const piece = options.pieceSize ?? 16 * 1024;
  const what = options.what ?? "a blob";
  const reader = input.getReader();
  let failed: Error | undefined;
  zlib.on("error", (e) => (failed = e));
  const wait = (...events: string[]) =>
    new Promise<void>((resolve) => {
      const done = () => {
        for (const e of events) zlib.off(e, done);
        resolve();
      };
      for (const e of events) zlib.once(e, done);
    });
  (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let at = 0; at < value.length; at += piece) {
          if (failed) return;
          if (!zlib.write(value.subarray(at, at + piece))) await wait("drain", "error", "close");
        }
      }
      zlib.end();
    } catch (error) {
      zlib.destroy(error as Error);
    }
  })();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const chunk = zlib.read() as Uint8Array | null;
        if (chunk) {
          const out = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
          // A chunk that fills its buffer is one zlib is done with (it writes on into a new
          // one): its reader alone holds it, and may free it once used (dropChunk).
          adoptChunk(out);
          controller.enqueue(out);
          return;
        }
        if (failed) {
          controller.error(
            new Error(`Cannot decompress ${what}: ${failed.message}`, { cause: failed }),
          );
          return;
        }
        if (zlib.readableEnded) {
          controller.close();
          return;
        }
        await wait("readable", "end", "error");
      }
    },
    async cancel(reason) {
      zlib.destroy();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
