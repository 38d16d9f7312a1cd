import {
  createHasher,
  createResumableHasher,
  DigestMismatchError,
  type DigestResult,
  type HashAlgorithm,
  type Hasher,
  hasNativeHasher,
  parseDigest,
  type ResumableHasher,
  SizeMismatchError,
} from "../digest/mod.ts";
import type { BlobWriter, ExpectedBlob } from "./blob_store.ts";
import { dropChunk } from "./release_chunk.ts";

/** Where a writer's bytes land; each backend supplies one. */
export interface WriteSink {
  write(chunk: Uint8Array): Promise<void> | void;
  /** Bytes are final: flush them to durable storage. */
  flush(): Promise<void> | void;
  /** Keep the partial content for a later resume, with the hasher state. */
  suspend(state: Uint8Array | undefined): Promise<void> | void;
  /** Move the verified content under `digest`. */
  publish(result: DigestResult): Promise<void> | void;
  /** Throw the content away. */
  discard(): Promise<void> | void;
  /**
   * What the flushed content really is, read back from where it lies: commit compares it
   * with what this writer sent, so bytes anyone else put there are never published.
   */
  verify?(): Promise<DigestResult>;
  /**
   * The flushed content, read back from where it lies: a commit against a digest in
   * another algorithm than the sha256 hashed while writing (sha512) hashes this instead.
   */
  reread(): AsyncIterable<Uint8Array>;
}

/** Called with the checked digest and size just before the content becomes visible. */
export type BeforeCommit = (result: DigestResult) => Promise<void> | void;

/**
 * The commit/abort state machine every backend's writer shares: hashing as bytes pass,
 * then verification before anything becomes visible.
 */
export class VerifyingWriter {
  readonly writable: WritableStream<Uint8Array>;
  readonly offset: number;
  #sink: WriteSink;
  #hasher: Hasher | ResumableHasher;
  #resumable: boolean;
  #size: number;
  #closed = false;
  #done = false;
  #beforeCommit: BeforeCommit | undefined;

  private constructor(
    sink: WriteSink,
    hasher: Hasher,
    offset: number,
    resumable: boolean,
    beforeCommit: BeforeCommit | undefined,
  ) {
    this.#sink = sink;
    this.#beforeCommit = beforeCommit;
    this.#hasher = hasher;
    this.#size = offset;
    this.offset = offset;
    this.#resumable = resumable;
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        if (this.#done) throw new TypeError("Blob writer is already committed or aborted");
        await this.#sink.write(chunk);
        this.#hasher.update(chunk);
        this.#size += chunk.length;
      },
      close: async () => {
        this.#closed = true;
        if (!this.#done && this.#resumable) {
          const h = this.#hasher as Partial<ResumableHasher>;
          await this.#sink.suspend(h.save?.());
        }
      },
      abort: async () => {
        this.#closed = true;
        await this.abort();
      },
    });
  }

  /**
   * Creates a writer over `sink`. `resume` carries what a suspended write already holds:
   * its size and either a saved hasher state or the bytes to re-hash. `beforeCommit` runs
   * once the content checked out and before it is published (a lease records the digest).
   */
  static async create(
    sink: WriteSink,
    resume?: { state?: Uint8Array; offset: number; rehash?: () => AsyncIterable<Uint8Array> },
    resumable = false,
    beforeCommit?: BeforeCommit,
  ): Promise<VerifyingWriter> {
    if (!resumable) {
      return new VerifyingWriter(sink, await createHasher(), 0, false, beforeCommit);
    }
    // Where node:crypto exists it hashes ~7x faster than WASM, which is what a pull of a
    // large layer spends its time on; a resumed write then re-reads what it holds (rare)
    // instead of restoring a saved WASM state. Elsewhere the WASM state is saved on suspend.
    if (await hasNativeHasher()) {
      const native = await createHasher({ engine: "native" });
      let offset = 0;
      if (resume?.rehash && resume.offset > 0) {
        for await (const chunk of resume.rehash()) {
          native.update(chunk);
          offset += chunk.length;
          // Hashed and dropped: a registry upload in 16 MiB PATCHes re-reads all it holds
          // on each one, gigabytes of chunks that otherwise waited for the GC.
          dropChunk(chunk);
        }
      }
      return new VerifyingWriter(sink, native, offset, true, beforeCommit);
    }
    let hasher: ResumableHasher | undefined;
    if (resume?.state) {
      const restored = await createResumableHasher(resume.state);
      if (restored.size === resume.offset) hasher = restored;
    }
    if (!hasher) {
      hasher = await createResumableHasher();
      if (resume?.rehash) {
        for await (const chunk of resume.rehash()) {
          hasher.update(chunk);
          dropChunk(chunk);
        }
      }
    }
    return new VerifyingWriter(sink, hasher, hasher.size, true, beforeCommit);
  }

  async commit(expected: ExpectedBlob = {}): Promise<DigestResult> {
    if (this.#done) throw new TypeError("Blob writer is already committed or aborted");
    // Refuses malformed digests and names an algorithm stratum cannot hash, before any work;
    // the content cannot be committed under that name, so it is thrown away.
    let algorithm: HashAlgorithm = "sha256";
    try {
      if (expected.digest !== undefined) algorithm = parseDigest(expected.digest).algorithm;
    } catch (e) {
      await this.abort();
      throw e;
    }
    if (!this.#closed) {
      this.#resumable = false;
      await this.writable.close();
    }
    this.#done = true;
    try {
      await this.#sink.flush();
      if (algorithm !== "sha256") return await this.#commitOther(algorithm, expected);
      const result = { digest: this.#hasher.digest(), size: this.#size };
      if (expected.size !== undefined && expected.size !== result.size) {
        throw new SizeMismatchError(expected.size, result.size, expected.digest ?? "blob");
      }
      if (expected.digest !== undefined && expected.digest !== result.digest) {
        throw new DigestMismatchError(expected.digest, result.digest, "blob");
      }
      const held = await this.#sink.verify?.();
      if (held && held.size !== result.size) {
        throw new SizeMismatchError(result.size, held.size, `the ingest file of ${result.digest}`);
      }
      if (held && held.digest !== result.digest) {
        throw new DigestMismatchError(result.digest, held.digest, "the ingest file");
      }
      await this.#beforeCommit?.(result);
      await this.#sink.publish(result);
      return result;
    } catch (e) {
      await this.#sink.discard();
      throw e;
    }
  }

  /**
   * Commits content named in another algorithm (sha512). Bytes are hashed in sha256 as
   * they pass, since that is what nearly every blob is named by; this rare case hashes
   * what the sink holds once more, which also checks what it holds is what was written.
   */
  async #commitOther(algorithm: HashAlgorithm, expected: ExpectedBlob): Promise<DigestResult> {
    const hasher = await createHasher({ algorithm });
    let size = 0;
    for await (const chunk of this.#sink.reread()) {
      hasher.update(chunk);
      size += chunk.length;
    }
    const subject = expected.digest ?? "blob";
    if (size !== this.#size) {
      throw new SizeMismatchError(this.#size, size, `the ingest file of ${subject}`);
    }
    if (expected.size !== undefined && expected.size !== size) {
      throw new SizeMismatchError(expected.size, size, subject);
    }
    const result = { digest: hasher.digest(), size };
    if (expected.digest !== result.digest) {
      throw new DigestMismatchError(expected.digest!, result.digest, "blob");
    }
    await this.#beforeCommit?.(result);
    await this.#sink.publish(result);
    return result;
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#sink.discard();
  }
}

/** Pipes `stream` into `writer` and commits it; aborts the writer if either step fails. */
export async function writeAndCommit(
  writer: BlobWriter,
  stream: ReadableStream<Uint8Array>,
  expected?: ExpectedBlob,
): Promise<DigestResult> {
  try {
    await stream.pipeTo(writer.writable, { preventClose: true });
  } catch (e) {
    await writer.abort();
    throw e;
  }
  return await writer.commit(expected);
}
