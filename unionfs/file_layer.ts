import { open } from "node:fs/promises";
import { soleChunk } from "../storage/mod.ts";
import type { LayerSource } from "./open_layer.ts";

/**
 * A file's bytes as a stream that reads only when pulled, 256 KiB at a time. (Node's
 * `Readable.toWeb` reads ahead regardless of demand, which holds a whole layer in memory
 * when decompression is slower than the disk.) Each read is a fresh buffer that only the
 * stream's reader holds (`soleChunk`), so a reader done with it may free it at once.
 */
export function fileStream(path: string): ReadableStream<Uint8Array> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      fh ??= await open(path, "r");
      const buf = soleChunk(256 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        await fh.close();
        controller.close();
      } else controller.enqueue(buf.subarray(0, bytesRead));
    },
    async cancel() {
      await fh?.close();
    },
  }, { highWaterMark: 0 });
}

/** A layer blob kept in a file (an OCI layout's blob, a `docker save` layer.tar). */
export function fileLayer(path: string, digest: string, mediaType?: string): LayerSource {
  return { digest, mediaType, open: () => Promise.resolve(fileStream(path)) };
}
