import { type Digest, type DigestResult, isDigest } from "../digest/mod.ts";
import type {
  BlobInfo,
  BlobReadOptions,
  BlobStore,
  BlobWriter,
  BlobWriterOptions,
  ExpectedBlob,
} from "./blob_store.ts";
import { BlobNotFoundError } from "./errors.ts";
import { VerifyingWriter, writeAndCommit } from "./_writer.ts";
import { concatBytes } from "./bytes.ts";

interface Partial {
  chunks: Uint8Array[];
  state?: Uint8Array;
}

/** A {@linkcode BlobStore} in memory, for tests and edge runtimes without a filesystem. */
export class MemoryBlobStore implements BlobStore {
  #blobs = new Map<string, Uint8Array>();
  #partials = new Map<string, Partial>();
  #owners = new Map<string, Promise<void>>();

  /** True when the blob is stored. */
  has(digest: string): Promise<boolean> {
    return Promise.resolve(this.#blobs.has(digest));
  }

  /** The blob's size, or undefined. */
  stat(digest: string): Promise<BlobInfo | undefined> {
    const b = this.#blobs.get(digest);
    return Promise.resolve(b && isDigest(digest) ? { digest, size: b.length } : undefined);
  }

  /** Streams the blob (or a range of it). */
  // deno-lint-ignore require-await
  async get(digest: string, options: BlobReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const b = this.#blobs.get(digest);
    if (!b) throw new BlobNotFoundError(digest);
    const start = checkRange(options, b.length);
    const end = options.length === undefined ? b.length : start + options.length;
    let pos = start;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (pos >= end) return c.close();
        const next = Math.min(end, pos + (1 << 20));
        c.enqueue(b.slice(pos, next));
        pos = next;
      },
    });
  }

  /** Writes and commits `stream` against `expected`. */
  async put(stream: ReadableStream<Uint8Array>, expected?: ExpectedBlob): Promise<DigestResult> {
    return await writeAndCommit(await this.writer(), stream, expected);
  }

  /** Opens a writer; with a `ref`, resumes a suspended one. */
  async writer(options: BlobWriterOptions = {}): Promise<BlobWriter> {
    const ref = options.ref;
    // One writer per ref at a time: a second waits for the first to finish or suspend.
    let release = () => {};
    if (ref !== undefined) {
      while (this.#owners.has(ref)) await this.#owners.get(ref);
      const owners = this.#owners;
      const done = new Promise<void>((r) => {
        release = () => {
          if (owners.get(ref) === done) owners.delete(ref);
          r();
        };
      });
      owners.set(ref, done);
    }
    const partial: Partial = (ref && this.#partials.get(ref)) || { chunks: [] };
    const blobs = this.#blobs;
    const partials = this.#partials;
    const offset = partial.chunks.reduce((n, c) => n + c.length, 0);
    return await VerifyingWriter.create(
      {
        write: (chunk) => void partial.chunks.push(chunk.slice()),
        flush: () => {},
        suspend: (state) => {
          partial.state = state;
          if (ref) partials.set(ref, partial);
          release();
        },
        publish: ({ digest }) => {
          if (ref) partials.delete(ref);
          if (!blobs.has(digest)) blobs.set(digest, concatBytes(partial.chunks));
          release();
        },
        reread: () => iterate(partial.chunks),
        discard: () => {
          if (ref) partials.delete(ref);
          partial.chunks = [];
          release();
        },
      },
      ref ? { offset, state: partial.state, rehash: () => iterate(partial.chunks) } : undefined,
      ref !== undefined,
      options.beforeCommit,
    );
  }

  /** Removes a blob. */
  delete(digest: string): Promise<boolean> {
    return Promise.resolve(this.#blobs.delete(digest));
  }

  /** Every stored digest. */
  async *list(): AsyncIterable<Digest> {
    for (const d of [...this.#blobs.keys()]) if (isDigest(d)) yield d;
  }
}

/** Validates a read range against a blob of `size` bytes and returns the start. */
export function checkRange(options: BlobReadOptions, size: number): number {
  const start = options.offset ?? 0;
  if (!Number.isSafeInteger(start) || start < 0 || start > size) {
    throw new RangeError(`Read offset ${start} is outside a blob of ${size} bytes`);
  }
  const len = options.length;
  if (len !== undefined && (!Number.isSafeInteger(len) || len < 0 || start + len > size)) {
    throw new RangeError(`Read of ${len} bytes at ${start} is outside a blob of ${size} bytes`);
  }
  return start;
}

async function* iterate(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c;
}
