/**
 * The registry's content discovery: a repository's tags, the catalog, and the referrers of
 * a manifest. Private to server/.
 *
 * @module
 */
import { type Descriptor, MediaType } from "../image/mod.ts";
import type { ImageStore } from "../storage/mod.ts";
import type { Scope } from "./auth.ts";
import type { RequestContext } from "./_blob_push.ts";
import { RegistryHttpError } from "./errors.ts";
import { checkDigest, type ManifestGraph } from "./_manifest_graph.ts";
import type { Namespace } from "./_names.ts";

/** What the discovery handlers use of the registry app. */
export interface DiscoveryDeps {
  /** The store whose records are listed. */
  store: ImageStore;
  /** The registry's repository names. */
  ns: Namespace;
  /** What the repositories' manifests say. */
  graph: ManifestGraph;
  /** Checks the request may do `scope`. */
  authorize(ctx: RequestContext, scope: Scope | undefined): Promise<void>;
}

/** The discovery handlers, over `deps`. */
export function discoveryHandlers(deps: DiscoveryDeps): {
  listTags(ctx: RequestContext, repo: string): Promise<Response>;
  catalog(ctx: RequestContext): Promise<Response>;
  referrers(ctx: RequestContext, repo: string, digestText: string): Promise<Response>;
} {
  const { store, ns, graph, authorize } = deps;

  async function listTags(ctx: RequestContext, repo: string): Promise<Response> {
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull"] });
    const records = await graph.repoRecords(repo);
    if (records.length === 0) {
      throw new RegistryHttpError("NAME_UNKNOWN", `repository ${repo} is unknown`, {
        detail: { name: repo },
      });
    }
    // A tag can be both the namespace's and a Hub name's (`library/app:1`): listed once.
    const tags = [...new Set(records.flatMap((r) => r.tag === undefined ? [] : [r.tag]))]
      .sort(byCodeUnit);
    const { page, headers } = paginate(tags, ctx.url, `/v2/${repo}/tags/list`);
    return jsonResponse({ name: repo, tags: page }, 200, headers);
  }

  async function catalog(ctx: RequestContext): Promise<Response> {
    await authorize(ctx, { type: "registry", name: "catalog", actions: ["*"] });
    const repos = new Set<string>();
    for (const r of await store.tags.list()) {
      const n = ns.parse(r.name);
      if (n) repos.add(n.repo);
    }
    const { page, headers } = paginate([...repos].sort(byCodeUnit), ctx.url, "/v2/_catalog");
    return jsonResponse({ repositories: page }, 200, headers);
  }

  async function referrers(
    ctx: RequestContext,
    repo: string,
    digestText: string,
  ): Promise<Response> {
    await authorize(ctx, { type: "repository", name: repo, actions: ["pull"] });
    const digest = checkDigest(digestText);
    const filter = ctx.url.searchParams.get("artifactType");
    const seen = new Set<string>();
    const manifests: Descriptor[] = [];
    for (const r of await graph.repoRecords(repo)) {
      if (seen.has(r.descriptor.digest)) continue;
      seen.add(r.descriptor.digest);
      const s = await graph.summary(r.descriptor.digest, r.descriptor.mediaType);
      if (!s || s.subject !== digest) continue;
      if (filter !== null && s.artifactType !== filter) continue;
      const d: Descriptor = { mediaType: s.mediaType, digest: r.descriptor.digest, size: s.size };
      if (s.artifactType) d.artifactType = s.artifactType;
      if (s.annotations) d.annotations = s.annotations;
      manifests.push(d);
    }
    const headers: Record<string, string> = { "content-type": MediaType.OCI_INDEX };
    if (filter !== null) headers["oci-filters-applied"] = "artifactType";
    return new Response(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests }),
      { headers },
    );
  }

  return { listTags, catalog, referrers };
}

function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function pageSize(url: URL): number | undefined {
  const n = url.searchParams.get("n");
  if (n === null || n === "") return undefined;
  if (!/^\d+$/.test(n)) {
    throw new RegistryHttpError("PAGINATION_NUMBER_INVALID", `invalid page size n="${n}"`, {
      detail: { n },
    });
  }
  return Number(n);
}

/** Pages `items` (sorted) after `last`, with the Link header for the next page. */
function paginate(
  items: string[],
  url: URL,
  path: string,
): { page: string[]; headers: Record<string, string> } {
  const n = pageSize(url);
  const last = url.searchParams.get("last");
  let rest = last ? items.filter((t) => t > last) : items;
  const headers: Record<string, string> = {};
  if (n !== undefined) {
    const more = rest.length > n;
    rest = rest.slice(0, n);
    if (more && rest.length > 0) {
      const next = new URLSearchParams({ n: String(n), last: rest[rest.length - 1] });
      headers.link = `<${path}?${next}>; rel="next"`;
    }
  }
  return { page: rest, headers };
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
