import type { Digest, DigestResult } from "../digest/mod.ts";
import { type Layer, type LayerRef, readableLayer } from "../image/mod.ts";

/** What is known of a stored blob without reading it. */
export interface BlobInfo {
  /** The blob's digest. */
  digest: Digest;
  /** Its size in bytes. */
  size: number;
}

/** What a committed blob must be; any field left out is not checked. */
export interface ExpectedBlob {
  /** The digest the bytes must hash to. */
  digest?: string;
  /** The exact size in bytes. */
  size?: number;
}

/**
 * An in-progress blob write. Content is invisible in the store until `commit`, which
 * verifies it; `abort` throws it away. Closing `writable` without either suspends a
 * resumable write (one opened with a `ref`).
 */
export interface BlobWriter {
  /**
   * Where the bytes go. A chunk is copied or written out by the time its write resolves,
   * and the writer keeps no reference to it: its producer may then reuse or free it.
   */
  readonly writable: WritableStream<Uint8Array>;
  /** Bytes already held for this write (non-zero when a resumable write was resumed). */
  readonly offset: number;
  /**
   * Makes the blob visible under its digest after checking `expected`; closes `writable`
   * first if it is still open. Rejects with `DigestMismatchError`/`SizeMismatchError`
   * (and discards the bytes) when they do not match.
   */
  commit(expected?: ExpectedBlob): Promise<DigestResult>;
  /** Discards everything written. */
  abort(): Promise<void>;
}

/** Options for {@linkcode BlobStore.writer}. */
export interface BlobWriterOptions {
  /**
   * Names a resumable write: a later `writer({ ref })` continues where this one stopped.
   * Registry uploads use the upload session ID. A ref has one writer at a time, across
   * processes: opening one that another writer holds waits until it commits, aborts or
   * suspends (or its process dies).
   */
  ref?: string;
  /**
   * Called with the checked digest and size after the content checked out and before it
   * becomes visible; a rejection fails the commit. Leases use it to hold the blob from
   * the instant it exists.
   */
  beforeCommit?: (result: DigestResult) => Promise<void> | void;
  /**
   * Commit reads the written content back from where it lies and checks it is what this
   * writer sent: a writer that ignored a ref's lock may have written there too. Turn it off
   * only for a write nobody else can name (an unnamed one, or a random ref such as a
   * registry upload session's), where it would read every byte once more for nothing: a
   * 552 MB push spent a third of its server time on it. @default {true}
   */
  readBack?: boolean;
}

/** Options for {@linkcode BlobStore.get}. */
export interface BlobReadOptions {
  /** The first byte to read. @default {0} */
  offset?: number;
  /** How many bytes to read. @default {to the end} */
  length?: number;
}

/**
 * A content-addressed blob store. Every backend (filesystem, memory) implements this,
 * and one conformance suite runs against each.
 */
export interface BlobStore {
  /** True when the blob is stored. */
  has(digest: string): Promise<boolean>;
  /** The blob's size, or undefined when it is not stored. */
  stat(digest: string): Promise<BlobInfo | undefined>;
  /**
   * Streams the blob's bytes; rejects with `BlobNotFoundError`. The chunks belong to the
   * stream's one reader: stratum's readers free the ones they drop unread (`dropChunk`), so
   * to read a blob twice at once, `get` it twice rather than `tee()` one stream.
   */
  get(digest: string, options?: BlobReadOptions): Promise<ReadableStream<Uint8Array>>;
  /** Writes `stream` and commits it against `expected`; the store is unchanged on error. */
  put(stream: ReadableStream<Uint8Array>, expected?: ExpectedBlob): Promise<DigestResult>;
  /** Opens a writer for a blob whose digest may not be known yet. */
  writer(options?: BlobWriterOptions): Promise<BlobWriter>;
  /** Removes the blob; false when it was not there. */
  delete(digest: string): Promise<boolean>;
  /** Every stored digest. */
  list(): AsyncIterable<Digest>;
}

/** The layers `refs` name, read from `store`: what unionfs and the builder read images through. */
export function readLayers(store: BlobStore, refs: readonly LayerRef[]): Layer[] {
  return refs.map((r) => readableLayer(r, (digest) => store.get(digest)));
}

/** Reads a whole (small) blob into memory: manifests and configs, never layers. */
export async function readBlob(
  store: BlobStore,
  digest: string,
  maxSize = 16 << 20,
): Promise<Uint8Array> {
  const info = await store.stat(digest);
  if (info && info.size > maxSize) {
    throw new RangeError(`Blob ${digest} is ${info.size} bytes, over the ${maxSize}-byte limit`);
  }
  return new Uint8Array(await new Response(await store.get(digest)).arrayBuffer());
}

/**
 * Stores `bytes` (a manifest, a config) and returns its digest and size.
 *
 * @example A blob that does not match the expected digest is refused, and not stored
 * ```ts
 * import { memoryStore, putBytes } from "@stratum/stratum/storage";
 *
 * const store = memoryStore();
 * const bytes = new TextEncoder().encode("{}");
 * const wrong = "sha256:" + "0".repeat(64);
 * await putBytes(store.blobs, bytes, { digest: wrong }).then(
 *   () => { throw new Error("a wrong digest was accepted"); },
 *   (error) => console.log(error.name), // DigestMismatchError
 * );
 * console.log(await store.blobs.has(wrong)); // false
 * ```
 */
export function putBytes(
  store: BlobStore,
  bytes: Uint8Array,
  expected?: ExpectedBlob,
): Promise<DigestResult> {
  return store.put(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), expected);
}
