import { randomUUID } from "node:crypto";
import { DigestMismatchError, type DigestResult, SizeMismatchError } from "../digest/mod.ts";
import type { BlobStore, BlobWriter } from "../storage/mod.ts";
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

/**
 * The registry's upload sessions over the store's resumable writers (`writer({ ref })`):
 * each request appends to the session's write and suspends it; the final PUT commits it
 * against the client's digest. Nothing is visible under a digest before that commit, so a
 * client that disconnects or lets a session expire leaves no blob behind.
 */
export class UploadSessions {
  readonly #blobs: BlobStore;
  readonly #options: UploadSessionOptions;
  readonly #sessions = new Map<string, UploadSession>();
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
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The session `id` of `repo`; BLOB_UPLOAD_UNKNOWN when it does not exist or expired. */
  async get(repo: string, id: string): Promise<UploadSession> {
    await this.sweep();
    const s = this.#sessions.get(id);
    if (!s || s.repo !== repo) {
      throw new RegistryHttpError("BLOB_UPLOAD_UNKNOWN", `upload ${id} is unknown or expired`, {
        detail: { session: id },
      });
    }
    return s;
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
    return await this.#exclusive(session, async () => {
      this.#checkStart(session, start);
      const writer = await this.#blobs.writer({ ref: session.id });
      const written = await this.#write(session, writer, chunks);
      session.offset = writer.offset + written;
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
    return await this.#exclusive(session, async () => {
      this.#checkStart(session, start);
      const writer = await this.#blobs.writer({ ref: session.id });
      const sink = writer.writable.getWriter();
      let sent = 0;
      try {
        for await (const c of chunks) {
          await sink.write(c);
          sent += c.length;
        }
        sink.releaseLock();
        return await writer.commit({ digest });
      } catch (e) {
        sink.releaseLock();
        this.#sessions.delete(session.id);
        await writer.abort().catch(() => {});
        if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) {
          throw new RegistryHttpError(
            "DIGEST_INVALID",
            `uploaded content does not match ${digest}`,
            {
              detail: { expected: digest, size: writer.offset + sent },
              cause: e,
            },
          );
        }
        throw e;
      } finally {
        this.#sessions.delete(session.id);
      }
    });
  }

  /** Ends the session and throws its bytes away. */
  async cancel(session: UploadSession): Promise<void> {
    this.#sessions.delete(session.id);
    await this.#discard(session.id);
  }

  /**
   * Writes a whole blob from one request (`POST ?digest=`); counts as an upload in progress
   * while it runs.
   */
  async single(chunks: AsyncIterable<Uint8Array>, digest: string): Promise<DigestResult> {
    this.#admit();
    this.#single++;
    try {
      const writer = await this.#blobs.writer();
      const sink = writer.writable.getWriter();
      try {
        for await (const c of chunks) await sink.write(c);
        sink.releaseLock();
        return await writer.commit({ digest });
      } catch (e) {
        sink.releaseLock();
        await writer.abort().catch(() => {});
        if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) {
          throw new RegistryHttpError(
            "DIGEST_INVALID",
            `uploaded content does not match ${digest}`,
            {
              detail: { expected: digest },
              cause: e,
            },
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
    for (const s of [...this.#sessions.values()]) {
      if (!s.busy && s.touched < cutoff) {
        this.#sessions.delete(s.id);
        await this.#discard(s.id);
      }
    }
  }

  /** Drops every session (server shutdown). */
  async close(): Promise<void> {
    for (const s of [...this.#sessions.values()]) await this.cancel(s);
  }

  async #discard(id: string): Promise<void> {
    const w = await this.#blobs.writer({ ref: id }).catch(() => undefined);
    await w?.abort().catch(() => {});
  }

  #checkStart(session: UploadSession, start: number | undefined): void {
    if (start !== undefined && start !== session.offset) {
      throw rangeError(session, `chunk starts at ${start}; the upload has ${session.offset} bytes`);
    }
  }

  async #write(
    session: UploadSession,
    writer: BlobWriter,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<number> {
    const sink = writer.writable.getWriter();
    let written = 0;
    let failure: unknown;
    try {
      for await (const c of chunks) {
        await sink.write(c);
        written += c.length;
      }
    } catch (e) {
      failure = e;
    }
    try {
      // Closing without commit suspends the write: what arrived stays for the next chunk.
      await sink.close();
    } catch (e) {
      this.#sessions.delete(session.id);
      await writer.abort().catch(() => {});
      throw failure ?? e;
    }
    if (failure) {
      session.offset = writer.offset + written;
      throw failure;
    }
    return written;
  }

  async #exclusive<T>(session: UploadSession, fn: () => Promise<T>): Promise<T> {
    if (session.busy) {
      throw rangeError(session, "another request is writing to this upload");
    }
    session.busy = true;
    try {
      return await fn();
    } finally {
      session.busy = false;
      session.touched = this.#options.now();
    }
  }
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
