import { randomUUID } from "node:crypto";
import {
  DigestMismatchError,
  type DigestResult,
  sha256,
  SizeMismatchError,
} from "../digest/mod.ts";
import {
  type BlobStore,
  type BlobWriter,
  type BlobWriterOptions,
  dropChunk,
  soleChunk,
} from "../storage/mod.ts";
import { RegistryHttpError } from "./errors.ts";

/** An upload in progress: a resumable store write named by the session ID. */
export interface UploadSession {
  readonly id: string;
  readonly repo: string;
  /** Bytes received so far. */
  offset: number;
  /** Last activity, for expiry. */
  touched: number;
  /** A request is writing to it now. */
  busy: boolean;
}

/** Options for {@linkcode UploadSessions}. */
export interface UploadSessionOptions {
  /** Most uploads in progress at once (sessions plus single-request uploads). */
  max: number;
  /** An idle session is dropped after this many ms. */
  timeoutMs: number;
  /** Clock in ms. */
  now: () => number;
}

/** What the server holds of a session besides what the client sees. */
interface Held {
  session: UploadSession;
  /** The store write, its hasher included, open from the first byte to the final PUT. */
  writer?: BlobWriter;
}

/** Session IDs are UUIDs; anything else is unknown without asking the store. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The registry's upload sessions over the store's resumable writers (`writer({ ref })`).
 * A session keeps its writer open across its requests, so each chunk is hashed once as it
 * arrives and the final PUT commits against the client's digest without reading the
 * upload back (a 552 MB blob in 16 MiB PATCHes used to re-read and re-hash all it held on
 * every one). Nothing is visible under a digest before that commit, so a client that
 * disconnects or lets a session expire leaves no blob behind. On shutdown the writes are
 * suspended, not thrown away: a restarted server that is asked for a session it does not
 * hold resumes the store's write of that name (re-hashing what the file holds), and
 * `stratum gc` removes the ones nobody resumed.
 */
export class UploadSessions {
  readonly #blobs: BlobStore;
  readonly #options: UploadSessionOptions;
  readonly #sessions = new Map<string, Held>();
  /** Sessions being taken up from the store: concurrent requests for one share the work. */
  readonly #resuming = new Map<string, Promise<Held | undefined>>();
  #single = 0;

  constructor(blobs: BlobStore, options: UploadSessionOptions) {
    this.#blobs = blobs;
    this.#options = options;
  }

  /** Uploads in progress. */
  get active(): number {
    return this.#sessions.size + this.#single;
  }

  #admit(): void {
    if (this.active >= this.#options.max) {
      throw new RegistryHttpError(
        "TOOMANYREQUESTS",
        `too many uploads in progress (limit ${this.#options.max}); retry later`,
        { headers: { "retry-after": "1" } },
      );
    }
  }

  /** Opens a session for `repo`. */
  async start(repo: string): Promise<UploadSession> {
    await this.sweep();
    this.#admit();
    const now = this.#options.now();
    const session = { id: randomUUID(), repo, offset: 0, touched: now, busy: false };
    this.#sessions.set(session.id, { session });
    return session;
  }

  /**
   * The session `id` of `repo`; BLOB_UPLOAD_UNKNOWN when it does not exist or expired. A
   * session this process does not hold (it was restarted) is taken up again from the
   * store's suspended write of that name, when there is one with bytes in it.
   */
  async get(repo: string, id: string): Promise<UploadSession> {
    await this.sweep();
    let held = this.#sessions.get(id);
    if (!held) {
      const key = `${repo}\n${id}`;
      let resuming = this.#resuming.get(key);
      if (!resuming) {
        resuming = this.#resume(repo, id).finally(() => this.#resuming.delete(key));
        this.#resuming.set(key, resuming);
      }
      held = await resuming;
    }
    if (!held || held.session.repo !== repo) {
      throw new RegistryHttpError("BLOB_UPLOAD_UNKNOWN", `upload ${id} is unknown or expired`, {
        detail: { session: id },
      });
    }
    return held.session;
  }

  async #resume(repo: string, id: string): Promise<Held | undefined> {
    if (!SESSION_ID.test(id) || this.active >= this.#options.max) return undefined;
    const writer = await this.#blobs.writer(await writeOptions(repo, id));
    if (writer.offset === 0 || this.#sessions.has(id)) {
      await writer.abort();
      return this.#sessions.get(id);
    }
    const session = {
      id,
      repo,
      offset: writer.offset,
      touched: this.#options.now(),
      busy: false,
    };
    const held = { session, writer };
    this.#sessions.set(id, held);
    return held;
  }

  /**
   * Appends `chunks` to the session at `start` (its current offset when undefined). A body
   * cut short keeps what arrived, so the client can ask for the offset and resume.
   */
  async append(
    session: UploadSession,
    chunks: AsyncIterable<Uint8Array>,
    start: number | undefined,
  ): Promise<number> {
    return await this.#exclusive(session, async (held) => {
      this.#checkStart(session, start);
      await this.#write(held, chunks);
      return session.offset;
    });
  }

  /** Appends the last `chunks` and commits against `digest`; the session ends either way. */
  async finish(
    session: UploadSession,
    chunks: AsyncIterable<Uint8Array>,
    start: number | undefined,
    digest: string,
  ): Promise<DigestResult> {
    return await this.#exclusive(session, async (held) => {
      try {
        this.#checkStart(session, start);
        const writer = await this.#write(held, chunks);
        this.#sessions.delete(session.id);
        return await writer.commit({ digest });
      } catch (e) {
        this.#sessions.delete(session.id);
        await this.#discard(held);
        if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) {
          throw new RegistryHttpError(
            "DIGEST_INVALID",
            `uploaded content does not match ${digest}`,
            { detail: { expected: digest, size: session.offset }, cause: e },
          );
        }
        throw e;
      }
    });
  }

  /** Ends the session and throws its bytes away. */
  async cancel(session: UploadSession): Promise<void> {
    const held = this.#sessions.get(session.id) ?? { session };
    this.#sessions.delete(session.id);
    await this.#discard(held);
  }

  /**
   * Writes a whole blob from one request (`POST ?digest=`); counts as an upload in progress
   * while it runs.
   */
  async single(chunks: AsyncIterable<Uint8Array>, digest: string): Promise<DigestResult> {
    this.#admit();
    this.#single++;
    try {
      // Unnamed: nobody else can write to it, so commit need not read it back.
      const writer = await this.#blobs.writer({ readBack: false });
      try {
        await pour(writer, chunks).catch((e) => {
          throw e instanceof StoreWriteError ? e.cause : e;
        });
        return await writer.commit({ digest });
      } catch (e) {
        await writer.abort().catch(() => {});
        if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) {
          throw new RegistryHttpError(
            "DIGEST_INVALID",
            `uploaded content does not match ${digest}`,
            { detail: { expected: digest }, cause: e },
          );
        }
        throw e;
      }
    } finally {
      this.#single--;
    }
  }

  /** Drops sessions idle past the timeout. */
  async sweep(): Promise<void> {
    const cutoff = this.#options.now() - this.#options.timeoutMs;
    for (const held of [...this.#sessions.values()]) {
      const s = held.session;
      if (!s.busy && s.touched < cutoff) {
        this.#sessions.delete(s.id);
        await this.#discard(held);
      }
    }
  }

  /**
   * Lets go of every session (server shutdown): their writes are suspended with what they
   * hold, for a restarted server to resume.
   */
  async close(): Promise<void> {
    for (const held of [...this.#sessions.values()]) {
      this.#sessions.delete(held.session.id);
      await held.writer?.writable.close().catch(() => held.writer?.abort());
    }
  }

  async #discard(held: Held): Promise<void> {
    const w = held.writer ??
      await this.#blobs.writer(await writeOptions(held.session.repo, held.session.id))
        .catch(() => undefined);
    held.writer = undefined;
    await w?.abort().catch(() => {});
  }

  #checkStart(session: UploadSession, start: number | undefined): void {
    if (start !== undefined && start !== session.offset) {
      throw rangeError(session, `chunk starts at ${start}; the upload has ${session.offset} bytes`);
    }
  }

  /**
   * Appends `chunks` through the session's writer, opening it on the first bytes. Bytes
   * that arrived before a body failed stay counted; a write the store refused ends the
   * session, since what its file holds is then unknown.
   */
  async #write(held: Held, chunks: AsyncIterable<Uint8Array>): Promise<BlobWriter> {
    const { session } = held;
    if (!held.writer) {
      held.writer = await this.#blobs.writer(await writeOptions(session.repo, session.id));
      session.offset = held.writer.offset;
    }
    const writer = held.writer;
    try {
      await pour(writer, chunks, (n) => session.offset += n);
    } catch (e) {
      if (!(e instanceof StoreWriteError)) throw e;
      this.#sessions.delete(session.id);
      held.writer = undefined;
      await writer.abort().catch(() => {});
      throw e.cause;
    }
    return writer;
  }

  async #exclusive<T>(session: UploadSession, fn: (held: Held) => Promise<T>): Promise<T> {
    if (session.busy) {
      throw rangeError(session, "another request is writing to this upload");
    }
    const held = this.#sessions.get(session.id);
    if (!held) {
      throw new RegistryHttpError("BLOB_UPLOAD_UNKNOWN", `upload ${session.id} is unknown`, {
        detail: { session: session.id },
      });
    }
    session.busy = true;
    try {
      return await fn(held);
    } finally {
      session.busy = false;
      session.touched = this.#options.now();
    }
  }
}

/**
 * The store write of a session. Its name holds the repository, so a restarted server
 * resumes a session only through the repository it was started in; with the random session
 * ID in it nobody else can name it, so commit trusts the bytes it hashed as they came and
 * does not read the upload back.
 */
async function writeOptions(repo: string, id: string): Promise<BlobWriterOptions> {
  return { ref: `upload-${(await sha256(repo)).slice(7, 23)}-${id}`, readBack: false };
}

/** A write the store refused (as opposed to a request body that failed). */
class StoreWriteError extends Error {}

/** Bytes per write to the store: a body's socket chunks are 16-64 KiB. */
const BATCH = 1 << 20;

/**
 * Writes `chunks` to `writer`, gathered into 1 MiB writes through two buffers used in turn
 * (one fills while the other is written), so a big upload costs a few hundred writes and
 * leaves no garbage: each request-body chunk is freed once copied (adoptChunk), and the
 * buffers are reused since a writer keeps no chunk once its write resolves. `written` hears
 * of each write that landed. When the body fails, what arrived before is still written;
 * a failed write rejects with a {@linkcode StoreWriteError}.
 */
async function pour(
  writer: BlobWriter,
  chunks: AsyncIterable<Uint8Array>,
  written: (bytes: number) => void = () => {},
): Promise<void> {
  const sink = writer.writable.getWriter();
  // Made on first use and freed at the end: a small blob should not cost 2 MiB of garbage.
  const buffers: Uint8Array[] = [];
  const pending: (Promise<void> | undefined)[] = [undefined, undefined];
  let failed: unknown;
  let current = 0;
  let fill = 0;
  // Each write's outcome is recorded rather than left to reject: one nobody awaits yet
  // must not become an unhandled rejection.
  const settle = async (i: number) => {
    await pending[i];
    pending[i] = undefined;
    if (failed) throw failed;
  };
  const flush = async () => {
    if (fill === 0) return;
    const n = fill;
    pending[current] = sink.write(buffers[current].subarray(0, n)).then(
      () => written(n),
      (e) => void (failed ??= new StoreWriteError("store write failed", { cause: e })),
    );
    current ^= 1;
    fill = 0;
    await settle(current);
  };
  let bodyFailed = false;
  let bodyError: unknown;
  try {
    try {
      for await (const c of chunks) {
        for (let at = 0; at < c.length;) {
          const n = Math.min(c.length - at, BATCH - fill);
          buffers[current] ??= soleChunk(BATCH);
          buffers[current].set(c.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === BATCH) await flush();
        }
        dropChunk(c);
      }
    } catch (e) {
      bodyFailed = true;
      bodyError = e;
    }
    // What arrived is kept even when the body failed: the client may resume after it.
    if (!failed) await flush().catch(() => {});
    await Promise.all(pending);
  } finally {
    sink.releaseLock();
    for (const b of buffers) dropChunk(b);
  }
  if (failed) throw failed;
  if (bodyFailed) throw bodyError;
}

/** The 416 the spec asks for when a chunk cannot be accepted, with the current range. */
export function rangeError(session: UploadSession, message: string): RegistryHttpError {
  return new RegistryHttpError("BLOB_UPLOAD_INVALID", message, {
    status: 416,
    headers: uploadHeaders(session),
  });
}

/** Location, Range and session headers of an upload response. */
export function uploadHeaders(session: UploadSession): Record<string, string> {
  return {
    location: `/v2/${session.repo}/blobs/uploads/${session.id}`,
    range: `0-${Math.max(0, session.offset - 1)}`,
    "docker-upload-uuid": session.id,
    "blob-upload-session-id": session.id,
  };
}
