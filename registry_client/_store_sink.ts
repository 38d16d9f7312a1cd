/**
 * The store side of a transfer: blobs fetched into a {@linkcode BlobStore} through resumable,
 * verified writers (batched, optionally over parallel ranges), and a store read as a source.
 *
 * @module
 */
import { DigestMismatchError, SizeMismatchError } from "../digest/mod.ts";
import type { Descriptor, ParsedManifest } from "../image/mod.ts";
import {
  type BlobStore,
  dropChunk,
  type ImageStore,
  putBytes,
  releaseChunk,
  soleChunk,
} from "../storage/mod.ts";
import type { BlobState } from "./progress.ts";
import { isNetworkChunk } from "./_exchange.ts";
import { readCapped } from "./_http.ts";
import { type ImageSink, type ImageSource, isTransient, sleep } from "./_transfer.ts";

/** Options of the store sink. */
export interface StoreSinkOptions {
  /** Resumes after a cut connection this many times per blob. */
  retries: number;
  /** First delay between resumes. */
  retryDelayMs: number;
  /** Blobs at least this big are fetched over parallel ranges. */
  rangeThreshold: number;
  /** Parallel ranges per large blob (1 turns this off). */
  rangeConcurrency: number;
  /** Bytes per range. */
  rangeSize: number;
}

/** True when the bytes that arrived are not the blob: a corrupted transfer. */
function isCorrupt(e: unknown): e is DigestMismatchError | SizeMismatchError {
  return e instanceof DigestMismatchError || e instanceof SizeMismatchError;
}

/**
 * Writes blobs into a {@linkcode BlobStore} through resumable writers: a cut connection
 * keeps what arrived and the next attempt asks for the rest with `Range`. The writer
 * verifies digest and size before the blob becomes visible. Bytes that fail verification
 * are thrown away and the blob is fetched once more from its start (a transfer can be
 * corrupted on the way, or a resumed partial be stale); a second failure is final.
 */
export async function fetchBlobInto(
  blobs: BlobStore,
  d: Descriptor,
  source: ImageSource,
  progress: (state: BlobState, current: number) => void,
  options: StoreSinkOptions,
): Promise<void> {
  if (await blobs.has(d.digest)) return progress("Already exists", d.size);
  const ref = `pull-${d.digest.slice(7)}`;
  let refetched = false;
  for (let attempt = 0;; attempt++) {
    const writer = await blobs.writer({ ref });
    // Another pull owned the ref until now and may have committed the blob meanwhile.
    if (writer.offset === 0 && await blobs.has(d.digest)) {
      await writer.abort();
      return progress("Already exists", d.size);
    }
    let held = writer.offset;
    if (held > d.size) {
      await writer.abort();
      continue;
    }
    const w = writer.writable.getWriter();
    progress("Downloading", held);
    try {
      if (held === 0 && d.size >= options.rangeThreshold && options.rangeConcurrency > 1) {
        held = await parallelRanges(source, d, w, (n) => {
          held = n;
          progress("Downloading", n);
        }, options);
      }
      if (held < d.size) {
        const { body, start } = await source.blob(d, held);
        if (start !== held) {
          // The server ignored the range: start over rather than trust a skip.
          await body.cancel();
          w.releaseLock();
          await writer.abort();
          attempt--;
          continue;
        }
        held = await copyInto(body, w, d, held, (n) => progress("Downloading", n));
      }
      if (held < d.size) throw new TypeError(`connection closed after ${held} of ${d.size} bytes`);
      progress("Verifying", held);
      w.releaseLock();
      await writer.commit({ digest: d.digest, size: d.size });
      progress("Download complete", d.size);
      return;
    } catch (e) {
      if (isTransient(e) && attempt < options.retries) {
        // Keep what arrived: closing a resumable writer suspends it for the next attempt.
        await w.close().catch(() => {});
        progress("Retrying", held);
        await sleep(options.retryDelayMs * 2 ** attempt);
        continue;
      }
      if (isTransient(e)) {
        await w.close().catch(() => {});
        throw e;
      }
      await w.abort(e).catch(() => writer.abort());
      if (isCorrupt(e) && !refetched) {
        refetched = true;
        progress("Retrying", 0);
        continue;
      }
      if (isCorrupt(e)) throw corruptTwice(e, d, source);
      throw e;
    }
  }
}

/** The error for a blob whose bytes failed verification on two fetches. */
function corruptTwice(
  e: DigestMismatchError | SizeMismatchError,
  d: Descriptor,
  source: ImageSource,
): Error {
  const subject = `blob ${d.digest} of ${source.name} (fetched twice)`;
  const twice = e instanceof DigestMismatchError
    ? new DigestMismatchError(d.digest, e.actual, subject)
    : new SizeMismatchError(d.size, e.actual, subject);
  return Object.assign(twice, { cause: e });
}

/**
 * Bytes gathered from a response body before one write to the store. fetch hands out
 * 64 KiB chunks, and each write costs a stream hop, a file write and a hash update: a pull
 * of 552 MB spent most of its main thread on those per-chunk costs (the runtime's file
 * writes ran at ~680 MB/s in 64 KiB pieces, 1.5-2.7 GB/s in 1 MiB ones).
 */
const WRITE_BATCH = 1 << 20;

/**
 * Pumps `body` into `w` in batches of {@linkcode WRITE_BATCH} bytes, refusing bytes past
 * the declared size. Returns the bytes held (written), also when the body fails: what
 * arrived before a cut is written first, so a resume asks only for the rest.
 *
 * Two batch buffers take turns: one is filled from the body while the other is written, so
 * reading the network never waits for the disk. A store's writer is done with a chunk when
 * its write resolves (the file store has written and hashed it, the memory store copies
 * what it keeps), so a buffer is refilled only after that.
 */
async function copyInto(
  body: ReadableStream<Uint8Array>,
  w: WritableStreamDefaultWriter<Uint8Array>,
  d: Descriptor,
  held: number,
  progress: (n: number) => void,
): Promise<number> {
  const reader = body.getReader();
  const size = Math.min(WRITE_BATCH, d.size - held);
  const buffers = [soleChunk(size), soleChunk(size)];
  let batch = buffers[0];
  let filled = 0;
  let writing: Promise<void> | undefined;
  let taken = held; // bytes read from the body, written or not
  /** Waits for the write in flight; its bytes are then held. */
  const settle = async () => {
    const w = writing;
    writing = undefined;
    await w;
  };
  /** Writes the filled part of `batch` in the background and turns to the other buffer. */
  const flush = async () => {
    if (filled === 0) return;
    await settle();
    const n = filled;
    const chunk = n === batch.length ? batch : batch.subarray(0, n);
    writing = w.write(chunk).then(() => {
      held += n;
      progress(held);
    });
    writing.catch(() => {}); // met by the next settle()
    batch = batch === buffers[0] ? buffers[1] : buffers[0];
    filled = 0;
  };
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        // A cut connection: keep what arrived, so that the resume asks only for the rest.
        await flush();
        await settle();
        throw e;
      }
      if (r.done) break;
      const value = r.value;
      if (taken + value.length > d.size) {
        throw new SizeMismatchError(d.size, taken + value.length, d.digest);
      }
      taken += value.length;
      for (let v = value; v.length > 0;) {
        const n = Math.min(v.length, batch.length - filled);
        batch.set(v.subarray(0, n), filled);
        filled += n;
        v = v.subarray(n);
        if (filled === batch.length) await flush();
      }
      // Copied out: a chunk off the network is freed now. Left to the GC, the faster
      // reading that batching brings piled up ~30 MB more of them in a 552 MB pull.
      if (isNetworkChunk(value)) releaseChunk(value);
    }
    await flush();
    await settle();
  } catch (e) {
    await settle().catch(() => {});
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    for (const b of buffers) dropChunk(b);
  }
  return held;
}

/**
 * Fetches a large blob as `rangeConcurrency` ranges in flight at once, written in order
 * so memory stays at most concurrency × rangeSize. Falls back (returns early) when the
 * server does not honour ranges.
 */
async function parallelRanges(
  source: ImageSource,
  d: Descriptor,
  w: WritableStreamDefaultWriter<Uint8Array>,
  progress: (held: number) => void,
  options: StoreSinkOptions,
): Promise<number> {
  let held = 0;
  let next = 0;
  const inflight: Promise<Uint8Array | undefined>[] = [];
  const fetchRange = async (start: number, len: number): Promise<Uint8Array | undefined> => {
    const { body, start: got } = await source.blob(d, start, len);
    if (got !== start) {
      await body.cancel();
      return undefined;
    }
    const bytes = await readCapped(body, len, `Range ${start}-${start + len - 1} of ${d.digest}`)
      .catch((e) => {
        if (e instanceof RangeError) return undefined; // whole blob sent: no range support
        throw e;
      });
    if (bytes && bytes.length !== len) {
      throw new TypeError(`range of ${d.digest} closed after ${bytes.length} of ${len} bytes`);
    }
    return bytes;
  };
  const launch = (): void => {
    const len = Math.min(options.rangeSize, d.size - next);
    const p = fetchRange(next, len);
    p.catch(() => {});
    inflight.push(p);
    next += len;
  };
  while (next < d.size && inflight.length < options.rangeConcurrency) launch();
  try {
    while (inflight.length) {
      const bytes = await inflight.shift()!;
      if (!bytes) return held; // continue sequentially from here
      await w.write(bytes);
      held += bytes.length;
      progress(held);
      if (next < d.size) launch();
    }
  } catch (e) {
    // Let in-flight ranges settle so nothing writes after the writer is suspended.
    await Promise.allSettled(inflight);
    throw e;
  }
  return held;
}

/** A sink that writes into an {@linkcode ImageStore}'s blobs and names manifests with `name`. */
export function storeSink(
  store: ImageStore,
  options: StoreSinkOptions,
  name: (parsed: ParsedManifest, tag?: string) => Promise<void>,
): ImageSink {
  return {
    putBlob: (d, source, progress) => fetchBlobInto(store.blobs, d, source, progress, options),
    async putManifest(parsed, tag) {
      if (!(await store.blobs.has(parsed.digest))) {
        await putBytes(store.blobs, parsed.bytes, { digest: parsed.digest });
      }
      await name(parsed, tag);
    },
  };
}

/** A source reading from a store: manifests and blobs by digest, the top from `resolve`. */
export function storeSource(
  store: ImageStore,
  name: string,
  resolve: () => Promise<Descriptor>,
): ImageSource {
  return {
    name,
    async resolve() {
      const d = await resolve();
      return await store.manifest(d.digest, d.mediaType);
    },
    manifest: (d) => store.manifest(d.digest, d.mediaType),
    async blob(d, offset, length) {
      return { body: await store.blobs.get(d.digest, { offset, length }), start: offset };
    },
  };
}
