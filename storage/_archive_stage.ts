import { createTarDecoder } from "modern-tar";
import { createHasher, type DigestResult } from "../digest/mod.ts";
import type { BlobStore, BlobWriter } from "./blob_store.ts";
import { ArchiveError } from "./errors.ts";
import { releaseChunk } from "./release_chunk.ts";
import { concatBytes } from "./bytes.ts";

/** A regular file of an archive, written to the store but not yet committed. */
export interface StagedFile {
  /** The cleaned path inside the archive. */
  path: string;
  /**
   * Digest and size of its bytes: the sha512 for a file under `blobs/sha512/`, where an
   * OCI layout keeps content named by sha512, else the sha256.
   */
  result: DigestResult;
  /**
   * The sha256 of the decompressed bytes (a layer's diff_id) for gzip and plain content;
   * undefined for zstd, which is not decompressed here.
   */
  diffId?: string;
  /** The compression the content's magic bytes show. */
  compression: "gzip" | "zstd" | "none";
  /** The bytes themselves when the file is small (JSON documents). */
  small?: Uint8Array;
  /** The pending write; commit makes it visible. */
  writer: BlobWriter;
}

/** Every file of an archive, staged, with symlinks resolved to the files they name. */
export interface StagedArchive {
  /** Looks a path up (following the archive's symlinks); undefined when absent. */
  file(path: string): StagedFile | undefined;
  /** Makes the staged files in `keep` visible in the store and discards the rest. */
  commit(keep: Iterable<StagedFile>): Promise<void>;
  /** Discards everything staged. */
  abort(): Promise<void>;
}

const SMALL = 4 << 20;
const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(chunk: Uint8Array, magic: number[]): boolean {
  return magic.every((b, i) => chunk[i] === b);
}

/** Cleans an archive path; refuses absolute paths and `..`, which archives have no use for. */
export function cleanArchivePath(name: string, archive: string): string {
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") throw new ArchiveError(`${archive}: entry "${name}" escapes the archive`);
    parts.push(p);
  }
  if (name.startsWith("/")) {
    throw new ArchiveError(`${archive}: entry "${name}" is an absolute path`);
  }
  return parts.join("/");
}

/** Wraps `input` so gzip-compressed archives are read like plain ones. */
export async function maybeGunzip(
  input: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const reader = input.getReader();
  const first = await reader.read();
  const head = first.value ?? new Uint8Array(0);
  const rest = new ReadableStream<Uint8Array>({
    start(c) {
      if (head.length) c.enqueue(head);
      if (first.done) c.close();
    },
    async pull(c) {
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  const gz = head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  return gz
    ? rest.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    )
    : rest;
}

/**
 * Reads a tar archive to its end, writing every regular file into `store` through an
 * uncommitted writer, so nothing is visible until the caller has validated the whole
 * archive. A truncated or malformed tar rejects and leaves the store as it was.
 */
export async function stageArchive(
  store: BlobStore,
  archive: ReadableStream<Uint8Array>,
  label: string,
  release = false,
): Promise<StagedArchive> {
  const files = new Map<string, StagedFile>();
  const links = new Map<string, string>();
  const abort = async () => {
    for (const f of files.values()) await f.writer.abort();
  };
  try {
    const entries = (await maybeGunzip(archive)).pipeThrough(createTarDecoder({ strict: true }));
    for await (const entry of entries) {
      const h = entry.header;
      const type = h.type ?? "file";
      if (type === "directory" || type === "pax-global-header") {
        await entry.body.cancel();
        continue;
      }
      const path = cleanArchivePath(h.name, label);
      if (type === "symlink" || type === "link") {
        await entry.body.cancel();
        const target = type === "symlink"
          ? resolveRelative(path, h.linkname ?? "", label)
          : cleanArchivePath(h.linkname ?? "", label);
        links.set(path, target);
        continue;
      }
      if (type !== "file") {
        await entry.body.cancel();
        throw new ArchiveError(`${label}: entry "${path}" has unsupported type ${type}`);
      }
      if (files.has(path)) throw new ArchiveError(`${label}: duplicate entry "${path}"`);
      files.set(path, await stageFile(store, path, entry.body, h.size, release));
    }
  } catch (e) {
    await abort();
    if (e instanceof ArchiveError) throw e;
    throw new ArchiveError(`${label}: cannot read archive: ${(e as Error).message}`, { cause: e });
  }
  const lookup = (path: string): StagedFile | undefined => {
    let p = cleanArchivePath(path, label);
    for (let hops = 0; hops < 32; hops++) {
      const f = files.get(p);
      if (f) return f;
      const next = links.get(p);
      if (next === undefined) return undefined;
      p = next;
    }
    throw new ArchiveError(`${label}: too many links resolving "${path}"`);
  };
  return {
    file: lookup,
    async commit(keep) {
      const kept = new Set(keep);
      for (const f of files.values()) {
        if (!kept.has(f)) await f.writer.abort();
      }
      for (const f of kept) await f.writer.commit({ digest: f.result.digest, size: f.result.size });
    },
    abort,
  };
}

function resolveRelative(from: string, target: string, label: string): string {
  if (target.startsWith("/")) return cleanArchivePath(target, label);
  const dir = from.split("/").slice(0, -1).join("/");
  return cleanArchivePath(dir ? `${dir}/${target}` : target, label);
}

async function stageFile(
  store: BlobStore,
  path: string,
  body: ReadableStream<Uint8Array>,
  declared: number,
  release: boolean,
): Promise<StagedFile> {
  const writer = await store.writer();
  // Content an OCI layout names by sha512 is kept under that name; its diff_id (and the
  // sha256 of anything else) is what stratum computes, sha256.
  const named = /^blobs\/sha512\/[0-9a-f]{128}$/.test(path) ? "sha512" : undefined;
  const hasher = await createHasher();
  const namedHasher = named ? await createHasher({ algorithm: named }) : undefined;
  const out = writer.writable.getWriter();
  let size = 0;
  let compression: StagedFile["compression"] | undefined;
  let inflate:
    | { writer: WritableStreamDefaultWriter<Uint8Array>; done: Promise<string> }
    | undefined;
  const small: Uint8Array[] = [];
  try {
    for await (const chunk of body) {
      if (compression === undefined) {
        compression = startsWith(chunk, GZIP_MAGIC)
          ? "gzip"
          : startsWith(chunk, ZSTD_MAGIC)
          ? "zstd"
          : "none";
        if (compression === "gzip") inflate = inflater();
      }
      await out.write(chunk);
      hasher.update(chunk);
      namedHasher?.update(chunk);
      if (inflate) await inflate.writer.write(chunk);
      size += chunk.length;
      if (declared <= SMALL) small.push(chunk);
      // Written and hashed: nothing of ours holds it any more. (A gzip layer is left to the
      // GC: whether the inflater has let go of a chunk is its own business.)
      else if (release && !inflate) releaseChunk(chunk);
    }
    out.releaseLock();
    const plain = hasher.digest();
    const digest = namedHasher?.digest() ?? plain;
    let diffId: string | undefined = compression === "zstd" ? undefined : plain;
    if (inflate) {
      await inflate.writer.close();
      diffId = await inflate.done;
    }
    const bytes = declared <= SMALL ? concatBytes(small) : undefined;
    return {
      path,
      result: { digest, size },
      diffId,
      compression: compression ?? "none",
      small: bytes,
      writer,
    };
  } catch (e) {
    await writer.abort();
    throw new ArchiveError(`entry "${path}": ${(e as Error).message}`, { cause: e });
  }
}

function inflater(): { writer: WritableStreamDefaultWriter<Uint8Array>; done: Promise<string> } {
  const ds = new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
  const done = (async () => {
    const h = await createHasher();
    for await (const c of ds.readable) h.update(c);
    return h.digest();
  })();
  done.catch(() => {});
  return { writer: ds.writable.getWriter(), done };
}
