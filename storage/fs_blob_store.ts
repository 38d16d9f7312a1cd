import { randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type Digest, type DigestResult, isDigest, parseDigest } from "../digest/mod.ts";
import type {
  BlobInfo,
  BlobReadOptions,
  BlobStore,
  BlobWriter,
  BlobWriterOptions,
  ExpectedBlob,
} from "./blob_store.ts";
import { BlobNotFoundError } from "./errors.ts";
import { checkRange } from "./memory_blob_store.ts";
import { VerifyingWriter, writeAndCommit } from "./_writer.ts";
import { fsyncDir, readFileStream, writeAll, writeFileAtomic } from "./_fs.ts";

/**
 * A {@linkcode BlobStore} on disk in OCI image layout form: `blobs/sha256/<hex>`.
 * Writes go to `ingest/` on the same filesystem, are fsynced and renamed into place on
 * commit, so a crash never leaves a torn blob under a digest.
 */
export class FsBlobStore implements BlobStore {
  readonly #blobs: string;
  readonly #ingest: string;

  /** A store rooted at `root` (the OCI layout directory). */
  constructor(root: string) {
    this.#blobs = join(root, "blobs", "sha256");
    this.#ingest = join(root, "ingest");
  }

  #path(digest: string): string {
    // Validation is what keeps a hostile "digest" from naming a path outside the store.
    return join(this.#blobs, parseDigest(digest).hex);
  }

  /** True when the blob is stored. */
  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /** The blob's size, or undefined. */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    if (!isDigest(digest)) return undefined;
    try {
      const s = await stat(this.#path(digest));
      return { digest, size: s.size };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Streams the blob (or a range of it). */
  async get(digest: string, options: BlobReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    let fh: FileHandle;
    try {
      fh = await open(this.#path(digest), "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        throw new BlobNotFoundError(digest, { cause: e });
      }
      throw e;
    }
    try {
      const size = (await fh.stat()).size;
      const start = checkRange(options, size);
      const end = options.length === undefined ? size : start + options.length;
      return readFileStream(fh, start, end);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Writes and commits `stream` against `expected`. */
  async put(stream: ReadableStream<Uint8Array>, expected?: ExpectedBlob): Promise<DigestResult> {
    if (expected?.digest && await this.has(expected.digest)) {
      // Already stored: drain nothing, but still let the caller's stream go.
      await stream.cancel();
      const info = (await this.stat(expected.digest))!;
      if (expected.size === undefined || expected.size === info.size) return info;
    }
    return await writeAndCommit(await this.writer(), stream, expected);
  }

  /** Opens a writer; with a `ref`, resumes a suspended one. */
  async writer(options: BlobWriterOptions = {}): Promise<BlobWriter> {
    await mkdir(this.#ingest, { recursive: true });
    const ref = options.ref;
    if (ref !== undefined && !/^[A-Za-z0-9_.-]{1,128}$/.test(ref)) {
      throw new TypeError(`Invalid writer ref "${ref}": use letters, digits, "_", "." and "-"`);
    }
    const data = join(this.#ingest, ref ? `ref-${ref}` : `tmp-${randomUUID()}`);
    const statePath = `${data}.state`;
    const fh = await open(data, ref ? "a+" : "wx");
    const offset = (await fh.stat()).size;
    let state: Uint8Array | undefined;
    if (ref && offset > 0) {
      state = await readOptional(statePath);
    }
    const blobs = this.#blobs;
    let closed = false;
    const closeOnce = async () => {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    };
    return await VerifyingWriter.create(
      {
        write: (chunk) => writeAll(fh, chunk),
        async flush() {
          await fh.sync();
          await closeOnce();
        },
        async suspend(saved) {
          await fh.sync();
          await closeOnce();
          if (saved) await writeFileAtomic(statePath, saved);
        },
        async publish({ digest }) {
          await mkdir(blobs, { recursive: true });
          const target = join(blobs, parseDigest(digest).hex);
          // Same content under the same name: keeping the existing file is equivalent.
          await rename(data, target);
          await fsyncDir(blobs);
          await rm(statePath, { force: true });
        },
        async discard() {
          await closeOnce();
          await rm(data, { force: true });
          await rm(statePath, { force: true });
        },
      },
      ref
        ? {
          offset,
          state,
          rehash: async function* () {
            const stream = readFileStream(await open(data, "r"), 0, offset);
            for await (const c of stream) yield c;
          },
        }
        : undefined,
      ref !== undefined,
    );
  }

  /** Removes a blob. */
  async delete(digest: string): Promise<boolean> {
    try {
      await unlink(this.#path(digest));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
  }

  /** Every stored digest (files with other names are skipped). */
  async *list(): AsyncIterable<Digest> {
    let names: string[];
    try {
      names = await readdir(this.#blobs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    for (const n of names.sort()) {
      const d = `sha256:${n}`;
      if (isDigest(d)) yield d;
    }
  }

  /** Removes abandoned temporary writes older than `maxAgeMs` (resumable ones included). */
  async cleanIngest(maxAgeMs: number): Promise<number> {
    let removed = 0;
    let names: string[] = [];
    try {
      names = await readdir(this.#ingest);
    } catch { /* no ingest dir: nothing to clean */ }
    const cutoff = Date.now() - maxAgeMs;
    for (const n of names) {
      const p = join(this.#ingest, n);
      const s = await stat(p).catch(() => undefined);
      if (s && s.mtimeMs < cutoff) {
        await rm(p, { force: true });
        removed++;
      }
    }
    return removed;
  }
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    const fh = await open(path, "r");
    try {
      return new Uint8Array(await fh.readFile());
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}
