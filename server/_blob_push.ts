/**
 * The registry's blob pushes: starting an upload (or mounting, or a single POST), its
 * status, its chunks, finishing and cancelling it. Private to server/.
 *
 * @module
 */
import type { ImageStore } from "../storage/mod.ts";
import type { AccessLogEntry } from "./access_log.ts";
import type { Scope } from "./auth.ts";
import { type BodyLimits, readBody } from "./_body.ts";
import { RegistryHttpError } from "./errors.ts";
import type { BlobLinks } from "./_links.ts";
import { checkDigest, type ManifestGraph } from "./_manifest_graph.ts";
import type { Namespace } from "./_names.ts";
import { rangeError, uploadHeaders, type UploadSession, type UploadSessions } from "./_uploads.ts";

/** A request as the registry app's handlers see it. */
export interface RequestContext {
  /** The request. */
  request: Request;
  /** Its URL, parsed. */
  url: URL;
  /** Its access-log entry, which a handler may add the user to. */
  entry: AccessLogEntry;
}

/** What the blob push handlers use of the registry app. */
export interface BlobPushDeps {
  /** The store blobs go to. */
  store: ImageStore;
  /** The registry's repository names. */
  ns: Namespace;
  /** The upload sessions. */
  uploads: UploadSessions;
  /** Which repository links which blob. */
  links: BlobLinks;
  /** What the repositories' manifests reach (a mount reads it). */
  graph: ManifestGraph;
  /** Checks the request may do `scope`. */
  authorize(ctx: RequestContext, scope: Scope | undefined): Promise<void>;
  /** Refuses when the registry is read-only. */
  writable(): void;
  /** The body limits of a blob already `already` bytes long. */
  blobLimits(already: number): BodyLimits;
}

type Handler = (ctx: RequestContext, repo: string, id: string) => Promise<Response>;

/** The handlers of a blob push, over `deps`. */
export function blobPushHandlers(deps: BlobPushDeps): {
  startUpload(ctx: RequestContext, repo: string): Promise<Response>;
  uploadStatus: Handler;
  patchUpload: Handler;
  putUpload: Handler;
  cancelUpload: Handler;
} {
  const { store, ns, uploads, links, graph, authorize, writable, blobLimits } = deps;

  async function startUpload(ctx: RequestContext, repo: string): Promise<Response> {
    writable();
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull", "push"] });
    const q = ctx.url.searchParams;
    const mount = q.get("mount");
    const from = q.get("from");
    // Without `from` there is nothing to mount from (distribution starts an upload too).
    if (mount !== null && from !== null) {
      const digest = checkDigest(mount);
      let readable = true;
      try {
        ns.check(from);
        await authorize(ctx, { type: "repository", name: from, actions: ["pull"] });
      } catch {
        readable = false; // the spec: a failed mount falls back to an upload
      }
      if (readable && await graph.linked(from, digest) && await store.blobs.has(digest)) {
        links.link(repo, digest);
        await ctx.request.body?.cancel();
        return new Response(null, {
          status: 201,
          headers: { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest },
        });
      }
    }
    const digestParam = q.get("digest");
    if (digestParam !== null) {
      const digest = checkDigest(digestParam);
      const result = await uploads.single(readBody(ctx.request.body, blobLimits(0)), digest);
      links.link(repo, result.digest);
      return new Response(null, {
        status: 201,
        headers: {
          location: `/v2/${repo}/blobs/${result.digest}`,
          "docker-content-digest": digest,
        },
      });
    }
    const session = await uploads.start(repo);
    await ctx.request.body?.cancel();
    return new Response(null, { status: 202, headers: uploadHeaders(session) });
  }

  async function uploadStatus(ctx: RequestContext, repo: string, id: string): Promise<Response> {
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull"] });
    const session = await uploads.get(repo, id);
    return new Response(null, { status: 204, headers: uploadHeaders(session) });
  }

  function chunkStart(
    ctx: RequestContext,
    session: UploadSession,
  ): { start?: number; length?: number } {
    const range = parseContentRange(ctx.request.headers.get("content-range"));
    if (!range) return {};
    if (range.start < 0 || range.end < range.start) {
      throw rangeError(session, "invalid Content-Range; expected <start>-<end>");
    }
    const length = range.end - range.start + 1;
    const declared = ctx.request.headers.get("content-length");
    if (declared !== null && Number(declared) !== length) {
      throw rangeError(session, `Content-Range covers ${length} bytes, Content-Length ${declared}`);
    }
    return { start: range.start, length };
  }

  async function withSession<T>(session: UploadSession, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      // An over-limit upload is never going to finish: free its bytes now.
      if (e instanceof RegistryHttpError && e.status === 413) await uploads.cancel(session);
      throw e;
    }
  }

  async function patchUpload(ctx: RequestContext, repo: string, id: string): Promise<Response> {
    writable();
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull", "push"] });
    const session = await uploads.get(repo, id);
    const { start } = chunkStart(ctx, session);
    await withSession(
      session,
      () => uploads.append(session, readBody(ctx.request.body, blobLimits(session.offset)), start),
    );
    return new Response(null, { status: 202, headers: uploadHeaders(session) });
  }

  async function putUpload(ctx: RequestContext, repo: string, id: string): Promise<Response> {
    writable();
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull", "push"] });
    const session = await uploads.get(repo, id);
    const digestParam = ctx.url.searchParams.get("digest");
    if (digestParam === null) {
      throw new RegistryHttpError("DIGEST_INVALID", "the digest parameter is required to finish", {
        detail: { session: id },
      });
    }
    const digest = checkDigest(digestParam);
    const { start } = chunkStart(ctx, session);
    const result = await withSession(
      session,
      () =>
        uploads.finish(
          session,
          readBody(ctx.request.body, blobLimits(session.offset)),
          start,
          digest,
        ),
    );
    links.link(repo, result.digest);
    return new Response(null, {
      status: 201,
      headers: { location: `/v2/${repo}/blobs/${result.digest}`, "docker-content-digest": digest },
    });
  }

  async function cancelUpload(ctx: RequestContext, repo: string, id: string): Promise<Response> {
    writable();
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull", "push"] });
    await uploads.cancel(await uploads.get(repo, id));
    return new Response(null, { status: 204 });
  }

  return { startUpload, uploadStatus, patchUpload, putUpload, cancelUpload };
}

function parseContentRange(header: string | null): { start: number; end: number } | undefined {
  if (header === null) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) return { start: -1, end: -1 };
  return { start: Number(m[1]), end: Number(m[2]) };
}
