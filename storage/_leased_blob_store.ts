import { type Digest, type DigestResult, isDigest } from "../digest/mod.ts";
import type {
  BlobInfo,
  BlobReadOptions,
  BlobStore,
  BlobWriter,
  BlobWriterOptions,
  ExpectedBlob,
} from "./blob_store.ts";
import type { Lease } from "./lease.ts";
import { writeAndCommit } from "./_writer.ts";

/**
 * A view of a blob store through which every digest an operation touches is held by its
 * lease before the operation relies on it: asked about (`has`, `stat`: a pull skips what
 * exists and names it later), read (`get`) or committed (held between the checks and the
 * rename, so the blob is never visible unheld).
 */
export class LeasedBlobStore implements BlobStore {
  readonly #inner: BlobStore;
  readonly #lease: Lease;

  constructor(inner: BlobStore, lease: Lease) {
    this.#inner = inner;
    this.#lease = lease;
  }

  /** The store this view leases content of. */
  get inner(): BlobStore {
    return this.#inner;
  }

  async #hold(digest: string | undefined): Promise<void> {
    if (digest !== undefined && isDigest(digest)) await this.#lease.add([digest]);
  }

  async has(digest: string): Promise<boolean> {
    await this.#hold(digest);
    return await this.#inner.has(digest);
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    await this.#hold(digest);
    return await this.#inner.stat(digest);
  }

  async get(digest: string, options?: BlobReadOptions): Promise<ReadableStream<Uint8Array>> {
    await this.#hold(digest);
    return await this.#inner.get(digest, options);
  }

  async put(stream: ReadableStream<Uint8Array>, expected?: ExpectedBlob): Promise<DigestResult> {
    if (expected?.digest !== undefined) {
      await this.#hold(expected.digest);
      return await this.#inner.put(stream, expected);
    }
    return await writeAndCommit(await this.writer(), stream, expected);
  }

  writer(options: BlobWriterOptions = {}): Promise<BlobWriter> {
    return this.#inner.writer({
      ...options,
      beforeCommit: async (result) => {
        await this.#hold(result.digest);
        await options.beforeCommit?.(result);
      },
    });
  }

  delete(digest: string): Promise<boolean> {
    return this.#inner.delete(digest);
  }

  list(): AsyncIterable<Digest> {
    return this.#inner.list();
  }
}
