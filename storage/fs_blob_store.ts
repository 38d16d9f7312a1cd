import { randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  createHasher,
  type Digest,
  type DigestResult,
  isDigest,
  parseDigest,
} from "../digest/mod.ts";
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
import { VerifyingWriter, writeAndCommit, type WriteSink } from "./_writer.ts";
import { fsyncDir, readFileStream, writeAll, writeFileAtomic } from "./_fs.ts";
import { dropChunk } from "./release_chunk.ts";
import { acquireLock, isStale } from "./_lock.ts";
import { currentOwner, ownerAlive, ownerTag, parseOwner } from "./owner.ts";

/** The suffix of an ingest ref's owner lock. */
const LOCK = ".lock";

/** The algorithms whose blobs the store keeps, each in `blobs/<algorithm>/`. */
const ALGORITHMS = ["sha256", "sha512"] as const;

/**
 * A {@linkcode BlobStore} on disk in OCI image layout form: `blobs/sha256/<hex>`, and
 * `blobs/sha512/<hex>` for content named by a sha512 digest.
 * Writes go to `ingest/` on the same filesystem, are fsynced and renamed into place on
 * commit, so a crash never leaves a torn blob under a digest.
 */
export class FsBlobStore implements BlobStore {
  readonly #blobs: string;
  readonly #ingest: string;

  /** A store rooted at `root` (the OCI layout directory). */
  constructor(root: string) {
    this.#blobs = join(root, "blobs");
    this.#ingest = join(root, "ingest");
  }

  #path(digest: string): string {
    // Validation is what keeps a hostile "digest" from naming a path outside the store.
    const { algorithm, hex } = parseDigest(digest);
    return join(this.#blobs, algorithm, hex);
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
    // An unnamed write: no other writer can reach its file, so commit does not read back
    // what it hashed as it wrote (a build's layer was hashed three times).
    return await writeAndCommit(await this.writer({ readBack: false }), stream, expected);
  }

  /**
   * Opens a writer; with a `ref`, resumes a suspended one. A ref has one owner at a time
   * (a lock file beside it holding the owner's pid, as containerd's ingest locks): a
   * second writer waits until the first commits, aborts or suspends, and the lock of a
   * process that died is taken over. Commit re-reads the ingest file and publishes it
   * only when what it holds is what this writer sent and what was expected.
   */
  async writer(options: BlobWriterOptions = {}): Promise<BlobWriter> {
    await mkdir(this.#ingest, { recursive: true });
    const ref = options.ref;
    if (ref !== undefined && !/^[A-Za-z0-9_.-]{1,128}$/.test(ref)) {
      throw new TypeError(`Invalid writer ref "${ref}": use letters, digits, "_", "." and "-"`);
    }
    // An unnamed write carries its owner in its name, so a sweep knows when it is debris.
    const data = join(
      this.#ingest,
      ref ? `ref-${ref}` : `tmp-${ownerTag(await currentOwner())}-${randomUUID()}`,
    );
    const statePath = `${data}.state`;
    const release = ref
      ? await acquireLock(`${data}${LOCK}`, { timeoutMs: Infinity, maxWaitMs: 200 })
      : () => Promise.resolve();
    let fh: FileHandle;
    let offset: number;
    let state: Uint8Array | undefined;
    try {
      fh = await open(data, ref ? "a+" : "wx");
      offset = (await fh.stat()).size;
      if (ref && offset > 0) state = await readOptional(statePath);
    } catch (e) {
      await release();
      throw e;
    }
    const blobs = this.#blobs;
    let closed = false;
    const closeOnce = async () => {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    };
    const sink: WriteSink = {
      write: (chunk) => writeAll(fh, chunk),
      async flush() {
        await fh.sync();
        await closeOnce();
      },
      async suspend(saved) {
        try {
          await fh.sync();
          await closeOnce();
          if (saved) await writeFileAtomic(statePath, saved);
        } finally {
          await release();
        }
      },
      verify: options.readBack === false ? undefined : async () => {
        const hasher = await createHasher();
        let size = 0;
        const file = await open(data, "r");
        for await (const c of readFileStream(file, 0, (await file.stat()).size)) {
          hasher.update(c);
          size += c.length;
          // Hashed and never handed on: freed now, or a gigabyte's check leaves up to
          // 64 MiB of dead chunks for the GC (what held `load` near 150 MB).
          dropChunk(c);
        }
        return { digest: hasher.digest(), size };
      },
      async *reread() {
        const file = await open(data, "r");
        yield* readFileStream(file, 0, (await file.stat()).size);
      },
      async publish({ digest }) {
        try {
          const { algorithm, hex } = parseDigest(digest);
          const dir = join(blobs, algorithm);
          await mkdir(dir, { recursive: true });
          // Same content under the same name: keeping the existing file is equivalent.
          await rename(data, join(dir, hex));
          await fsyncDir(dir);
          await rm(statePath, { force: true });
        } finally {
          await release();
        }
      },
      async discard() {
        try {
          await closeOnce();
          await rm(data, { force: true });
          await rm(statePath, { force: true });
        } finally {
          await release();
        }
      },
    };
    const resume = ref
      ? {
        offset,
        state,
        rehash: async function* () {
          const stream = readFileStream(await open(data, "r"), 0, offset);
          for await (const c of stream) yield c;
        },
      }
      : undefined;
    try {
      return await VerifyingWriter.create(sink, resume, ref !== undefined, options.beforeCommit);
    } catch (e) {
      await closeOnce();
      await release();
      throw e;
    }
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

  /** Every stored digest, sha256 ones first (files with other names are skipped). */
  async *list(): AsyncIterable<Digest> {
    for (const algorithm of ALGORITHMS) {
      let names: string[];
      try {
        names = await readdir(join(this.#blobs, algorithm));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw e;
      }
      for (const n of names.sort()) {
        const d = `${algorithm}:${n}`;
        if (isDigest(d)) yield d;
      }
    }
  }

  /**
   * Removes the debris of writes: unnamed ones whose owner process is gone (at once),
   * resumable ones whose writer died mid-write (at once) or that nobody resumed for
   * `maxAgeMs`, and locks left by dead owners. Writes with a live owner are never touched.
   * Returns how many writes were removed.
   */
  async cleanIngest(maxAgeMs: number): Promise<number> {
    let names: string[] = [];
    try {
      names = await readdir(this.#ingest);
    } catch { /* no ingest dir: nothing to clean */ }
    const cutoff = Date.now() - maxAgeMs;
    const old = async (n: string) => {
      const s = await stat(join(this.#ingest, n)).catch(() => undefined);
      return s !== undefined && s.mtimeMs < cutoff;
    };
    let removed = 0;
    const refs = new Set<string>();
    for (const n of names) {
      const p = join(this.#ingest, n);
      const tmp = /^tmp-(\d+(?:\.\d+)?)-/.exec(n);
      if (tmp) {
        const owner = parseOwner(tmp[1])!;
        if (!(await ownerAlive(owner))) {
          await rm(p, { force: true });
          removed++;
        }
      } else if (n.startsWith("ref-")) {
        refs.add(/^(ref-.*?)(?:\.state.*|\.lock.*)?$/.exec(n)![1]);
      } else if (await old(n)) {
        await rm(p, { force: true }); // an unnamed write from before owners were recorded
        removed++;
      }
    }
    for (const ref of refs) {
      const data = join(this.#ingest, ref);
      const died = await isStale(`${data}${LOCK}`);
      let release: () => Promise<void>;
      try {
        // Held by a live writer: not ours to judge. Taking the lock also keeps a writer
        // from resuming the ref while it is being removed.
        release = await acquireLock(`${data}${LOCK}`, { timeoutMs: 0 });
      } catch {
        continue;
      }
      try {
        const there = await stat(data).then(() => true, () => false);
        if (there && (died || await old(ref))) {
          await rm(data, { force: true });
          removed++;
        }
        if (!there || died || await old(ref)) await rm(`${data}.state`, { force: true });
      } finally {
        await release();
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
