import { type Digest, SizeMismatchError } from "../digest/mod.ts";
import {
  type Descriptor,
  formatPlatform,
  type ImageManifest,
  MediaType,
  type ParsedManifest,
  parseManifest,
  type Platform,
  selectManifest,
  serializeManifest,
} from "../image/mod.ts";
import { dropChunk, soleChunk } from "../storage/mod.ts";
import { ConnectionError, RegistryError } from "./errors.ts";
import type { BlobState, ProgressEvent } from "./progress.ts";
import type { UploadSession } from "./options.ts";
import { referrersTag, type RegistryClient } from "./registry_client.ts";

/** Where an image's manifests and blobs are read from. */
export interface ImageSource {
  /** Names the source in messages. */
  readonly name: string;
  /** The manifest or index the source's reference names. */
  resolve(): Promise<ParsedManifest>;
  /** A manifest by digest. */
  manifest(descriptor: Descriptor): Promise<ParsedManifest>;
  /** A blob's bytes from `offset` (`start` says where they really begin). */
  blob(
    descriptor: Descriptor,
    offset: number,
    length?: number,
  ): Promise<{ body: ReadableStream<Uint8Array>; start: number }>;
  /** Manifests that refer to `digest`, when the source knows such a thing. */
  referrers?(digest: Digest): Promise<Descriptor[]>;
  /** For cross-repository mounts: the registry client and repository. */
  readonly registry?: { client: RegistryClient; repository: string };
}

/** Where an image is written. */
export interface ImageSink {
  /** Stores a blob unless it is already there; says what happened. */
  putBlob(
    descriptor: Descriptor,
    source: ImageSource,
    progress: (state: BlobState, current: number) => void,
  ): Promise<void>;
  /** Stores a manifest by digest and, with `tag`, names it. */
  putManifest(parsed: ParsedManifest, tag?: string): Promise<void>;
  /** Stores a referrer of `subject` (a manifest with a `subject` field). */
  putReferrer?(parsed: ParsedManifest, subject: Digest): Promise<void>;
}

/** Settings of one transfer. */
export interface TransferSettings {
  platform: Platform;
  allPlatforms: boolean;
  concurrency: number;
  referrers: boolean;
  onProgress?: (event: ProgressEvent) => void;
}

/** What a copy wrote. */
export interface CopyOutcome {
  /** The digest of the top manifest written (the index, or the chosen platform's manifest). */
  digest: Digest;
  /** The top manifest written. */
  top: ParsedManifest;
  /** The digest the source's reference resolved to (an index when the platform was picked from one). */
  sourceDigest: Digest;
}

async function pool<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && failed === undefined) {
      const item = items[next++];
      try {
        await run(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}

function blobsOf(m: ImageManifest): Descriptor[] {
  return [...m.layers, m.config];
}

/**
 * Copies the image `source` names into `sink`: for an index, either every platform or the
 * one matching `settings.platform` (then the platform's manifest is the top). Blobs move
 * `concurrency` at a time; manifests are written after the blobs they name, children
 * before their index, so a reader never sees a manifest with missing content.
 */
export async function copyImage(
  source: ImageSource,
  sink: ImageSink,
  settings: TransferSettings,
  tag?: string,
): Promise<CopyOutcome> {
  const top = await source.resolve();
  let written = top;
  let children: ParsedManifest[] = [];
  if (top.kind === "index") {
    if (settings.allPlatforms) {
      children = await Promise.all(top.index.manifests.map((d) => source.manifest(d)));
    } else {
      const pick = selectManifest(top.index, settings.platform);
      if (!pick) {
        const have = top.index.manifests.filter((d) => d.platform).map((d) =>
          formatPlatform(d.platform!)
        );
        throw new RegistryError(
          `${source.name} has no image for platform ${formatPlatform(settings.platform)} (it has: ${
            have.join(", ") || "none"
          })`,
          404,
          [{ code: "MANIFEST_UNKNOWN" }],
        );
      }
      written = await source.manifest(pick);
    }
  }
  const images = (top.kind === "index" && settings.allPlatforms ? children : [written])
    .filter((p): p is Extract<ParsedManifest, { kind: "manifest" }> => p.kind === "manifest");
  const blobs = new Map<string, Descriptor>();
  for (const img of images) for (const d of blobsOf(img.manifest)) blobs.set(d.digest, d);
  const report = (d: Descriptor) => (state: BlobState, current: number) =>
    settings.onProgress?.({ type: "blob", digest: d.digest, size: d.size, state, current });
  for (const d of blobs.values()) report(d)("Waiting", 0);
  // Configs first: a few hundred bytes must not wait behind `concurrency` large layers.
  const configs = new Set(images.map((img) => img.manifest.config.digest));
  const order = [...blobs.values()].sort((a, b) =>
    Number(configs.has(b.digest)) - Number(configs.has(a.digest))
  );
  await pool(order, settings.concurrency, (d) => sink.putBlob(d, source, report(d)));
  for (const c of children) await sink.putManifest(c);
  await sink.putManifest(written, tag);
  if (settings.referrers && source.referrers && sink.putReferrer) {
    const subjects = [written, ...children].map((p) => p.digest);
    if (written !== top) subjects.push(top.digest);
    for (const s of new Set(subjects)) await copyReferrers(source, sink, settings, s);
  }
  return { digest: written.digest, top: written, sourceDigest: top.digest };
}

async function copyReferrers(
  source: ImageSource,
  sink: ImageSink,
  settings: TransferSettings,
  subject: Digest,
  depth = 0,
): Promise<void> {
  if (depth > 4) return; // referrers of referrers of ...: stop at a sane depth
  for (const d of await source.referrers!(subject)) {
    const parsed = await source.manifest(d);
    const images = parsed.kind === "manifest"
      ? [parsed]
      : (await Promise.all(parsed.index.manifests.map((m) => source.manifest(m))));
    for (const img of images) {
      if (img.kind !== "manifest") continue;
      await pool(
        blobsOf(img.manifest),
        settings.concurrency,
        (b) => sink.putBlob(b, source, () => {}),
      );
      if (img !== parsed) await sink.putManifest(img);
    }
    await sink.putReferrer!(parsed, subject);
    await copyReferrers(source, sink, settings, parsed.digest, depth + 1);
  }
}

/** `bytes` as a stream of one chunk. */
function oneChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

/** Reads up to `n` bytes from a stream, keeping what is left over for the next read. */
class ChunkReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #rest?: Uint8Array;
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }
  async read(n: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < n) {
      let chunk = this.#rest;
      this.#rest = undefined;
      if (!chunk) {
        const r = await this.#reader.read();
        if (r.done) break;
        chunk = r.value;
      }
      if (have + chunk.length > n) {
        this.#rest = chunk.subarray(n - have);
        chunk = chunk.subarray(0, n - have);
      }
      parts.push(chunk);
      have += chunk.length;
    }
    if (parts.length === 1) return parts[0];
    // A buffer only this reader's caller holds, so it may free it once sent (dropChunk);
    // the parts copied into it are freed now when they were whole file-read chunks.
    const out = soleChunk(have);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
      dropChunk(p);
    }
    return out;
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** Opens `source` at `offset`, skipping bytes when it could only start earlier. */
async function openAt(
  source: ImageSource,
  d: Descriptor,
  offset: number,
): Promise<ChunkReader> {
  const { body, start } = await source.blob(d, offset);
  const reader = new ChunkReader(body);
  let skip = offset - start;
  while (skip > 0) {
    const got = await reader.read(Math.min(skip, 1 << 20));
    if (got.length === 0) throw new SizeMismatchError(d.size, start + offset - skip, d.digest);
    skip -= got.length;
  }
  return reader;
}

/** True for failures worth resuming: the connection, not the content. */
export function isTransient(e: unknown): boolean {
  if (e instanceof SizeMismatchError || (e as Error)?.name === "DigestMismatchError") return false;
  if (e instanceof ConnectionError) return e.retryable;
  if (e instanceof RegistryError) return e.status === 0 || e.status >= 500 || e.status === 429;
  return e instanceof TypeError || /reset|terminated|closed|aborted|socket|EPIPE|ECONN/i.test(
    String((e as Error)?.message),
  ) || (e as Error)?.name === "TimeoutError";
}

/** Waits `ms` milliseconds (between retries). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The answer to an upload's final PUT was lost: the blob may or may not be committed. */
class CompletionLost extends Error {
  constructor(cause: unknown) {
    super("The answer to an upload's final PUT was lost", { cause });
    this.name = "CompletionLost";
  }
}

/** Options of the registry sink. */
export interface RegistrySinkOptions {
  /** Bytes per PATCH; at least the registry's `OCI-Chunk-Min-Length`. */
  chunkSize: number;
  /** Resumes of one upload after a cut connection. */
  retries: number;
  /** First delay between resumes. */
  retryDelayMs: number;
}

/**
 * A sink that pushes to a repository: HEAD skips blobs it has, a mount brings them over
 * from the source's repository on the same registry, small blobs go in one PUT and
 * large ones in chunks; a chunk cut mid-way resumes from the upload's status.
 */
export function registrySink(
  client: RegistryClient,
  repository: string,
  options: RegistrySinkOptions,
): ImageSink {
  /** Closes `session` with `digest`; a lost answer becomes CompletionLost for putBlob. */
  const complete = async (
    session: UploadSession,
    digest: string,
    body?: Uint8Array,
    onProgress?: (sent: number) => void,
  ) => {
    try {
      await client.completeUpload(session, repository, digest, body, onProgress);
    } catch (e) {
      // 404 (BLOB_UPLOAD_UNKNOWN): a runtime may have re-sent the PUT on its own after the
      // registry had already consumed the session.
      if (isTransient(e) || (e instanceof RegistryError && e.status === 404)) {
        throw new CompletionLost(e);
      }
      throw e;
    }
  };
  /** Sends `d` through `session`: one PUT when small, resumable chunks when large. */
  const upload = async (
    session: UploadSession,
    d: Descriptor,
    source: ImageSource,
    progress: (state: BlobState, current: number) => void,
  ): Promise<void> => {
    const chunk = Math.max(options.chunkSize, session.minChunkLength ?? 0);
    progress("Pushing", 0);
    if (d.size <= chunk) {
      const reader = await openAt(source, d, 0);
      const bytes = await reader.read(d.size + 1);
      await reader.cancel();
      if (bytes.length !== d.size) throw new SizeMismatchError(d.size, bytes.length, d.digest);
      // One PUT, its bytes reported as the connection takes them: a bar with bytes for
      // small layers too, as docker draws.
      return await complete(session, d.digest, bytes, (sent) => progress("Pushing", sent));
    }
    let offset = 0;
    let reader = await openAt(source, d, 0);
    for (let failures = 0; offset < d.size;) {
      const bytes = await reader.read(Math.min(chunk, d.size - offset));
      if (bytes.length === 0) throw new SizeMismatchError(d.size, offset, d.digest);
      try {
        // As a one-chunk stream: a Uint8Array body is copied by Deno's fetch (16 MiB of
        // garbage per PATCH), a stream's chunk is sent as it is.
        session.location = await client.uploadChunk(
          session,
          repository,
          oneChunk(bytes),
          offset,
          bytes.length,
        );
        offset += bytes.length;
        // Sent and acknowledged: 16 MiB per PATCH would otherwise wait for the GC, several
        // at a time (what took `push` of a 1 GiB layer to 244 MB).
        dropChunk(bytes);
        progress("Pushing", offset);
      } catch (e) {
        // 416: the registry holds other bytes than we assumed (a runtime may have re-sent
        // a cut request on its own). Either way its upload status says where to go on.
        const outOfStep = e instanceof RegistryError && e.status === 416;
        // 401: a token that expired mid-push. A stream body cannot be replayed with a new
        // one; asking the upload's status below does that, then the PATCH is sent again.
        const expired = e instanceof RegistryError && e.status === 401;
        if (!(isTransient(e) || outOfStep || expired) || failures >= options.retries) throw e;
        await sleep(options.retryDelayMs * 2 ** failures++);
        // Ask the registry how much it kept and send only the rest.
        const status = await client.uploadStatus(session, repository);
        session.location = status.location;
        offset = status.offset;
        await reader.cancel();
        reader = await openAt(source, d, offset);
        progress("Retrying", offset);
      }
    }
    await reader.cancel();
    await complete(session, d.digest);
  };
  const sink: ImageSink = {
    async putBlob(d, source, progress) {
      if ((await client.headBlob(repository, d.digest)) !== undefined) {
        return progress("Already exists", d.size);
      }
      let session: UploadSession | undefined;
      const from = source.registry;
      if (from && from.client.host === client.host && from.repository !== repository) {
        const mounted = await client.mountBlob(repository, d.digest, from.repository);
        if (mounted === true) return progress("Mounted", d.size);
        session = mounted;
      }
      for (let lost = 0;; lost++) {
        session ??= await client.startUpload(repository);
        try {
          await upload(session, d, source, progress);
          return progress("Pushed", d.size);
        } catch (e) {
          if (!(e instanceof CompletionLost)) throw e;
          // The final PUT may have committed the blob before its answer was lost; the
          // session is then gone, so ask for the blob rather than re-send to the session.
          const size = await client.headBlob(repository, d.digest);
          if (size === d.size) return progress("Pushed", d.size);
          if (lost >= options.retries) throw e.cause;
          session = undefined;
          progress("Retrying", 0);
          await sleep(options.retryDelayMs * 2 ** lost);
        }
      }
    },
    async putManifest(parsed, tag) {
      await client.putManifest(repository, tag ?? parsed.digest, parsed.bytes, parsed.mediaType);
    },
    async putReferrer(parsed, subject) {
      const { subjectProcessed } = await client.putManifest(
        repository,
        parsed.digest,
        parsed.bytes,
        parsed.mediaType,
      );
      if (subjectProcessed) return;
      // No referrers API: keep the sha256-<hex> tag's index up to date (tag schema).
      const tag = referrersTag(subject);
      const existing = (await client.headManifest(repository, tag))
        ? await client.getManifest(repository, tag)
        : undefined;
      const manifests = existing?.kind === "index" ? existing.index.manifests : [];
      if (manifests.some((m) => m.digest === parsed.digest)) return;
      const doc = parsed.kind === "manifest" ? parsed.manifest : parsed.index;
      const entry: Descriptor = {
        mediaType: parsed.mediaType,
        digest: parsed.digest,
        size: parsed.bytes.length,
        ...(doc.artifactType
          ? { artifactType: doc.artifactType }
          : parsed.kind === "manifest"
          ? { artifactType: parsed.manifest.config.mediaType }
          : {}),
        ...(doc.annotations ? { annotations: doc.annotations } : {}),
      };
      const index = await serializeManifest({
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: [...manifests, entry],
      });
      await client.putManifest(repository, tag, index.bytes, index.mediaType);
    },
  };
  return sink;
}

/**
 * A source reading a repository. The top is fetched by its reference in one GET (the
 * bytes' digest is checked against `Docker-Content-Digest`), as skopeo does: a HEAD first
 * cost a round trip and saved nothing, since the manifest was then fetched anyway.
 */
export function registrySource(
  client: RegistryClient,
  repository: string,
  reference: string,
): ImageSource {
  const name = `${client.host}/${repository}${reference.includes(":") ? "@" : ":"}${reference}`;
  return {
    name,
    registry: { client, repository },
    resolve: () => client.getManifest(repository, reference),
    async manifest(d) {
      const parsed = await client.getManifest(repository, d.digest);
      return parsed.mediaType === d.mediaType || !d.mediaType
        ? parsed
        : await parseManifest(parsed.bytes, d.mediaType);
    },
    blob: (d, offset, length) => client.getBlob(repository, d.digest, { offset, length }),
    referrers: (digest) => client.referrers(repository, digest),
  };
}
