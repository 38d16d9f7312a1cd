/**
 * What the manifests of the registry's repositories reach, as the registry app asks it:
 * a manifest's summary, the digests it reaches (cached once complete), which repository
 * links which blob, and what a tag or digest names. Private to server/.
 *
 * @module
 */
import { type Digest, parseDigest } from "../digest/mod.ts";
import { type Descriptor, isIndexMediaType, type ParsedManifest } from "../image/mod.ts";
import type { ImageStore } from "../storage/mod.ts";
import { RegistryHttpError } from "./errors.ts";
import type { BlobLinks } from "./_links.ts";
import { Namespace } from "./_names.ts";

/** What the registry keeps of a manifest to answer about it. */
export interface ManifestSummary {
  mediaType: string;
  size: number;
  artifactType?: string;
  subject?: Digest;
  annotations?: Record<string, string>;
  /** Manifests an index names. */
  children: Digest[];
  /** Config and layers. */
  blobs: Digest[];
}

/** `text` as a digest, or DIGEST_INVALID. */
export function checkDigest(text: string): Digest {
  try {
    parseDigest(text);
  } catch (e) {
    throw new RegistryHttpError("DIGEST_INVALID", `invalid digest "${text}"`, {
      detail: { digest: text },
      cause: e,
    });
  }
  return text as Digest;
}

/** See the module comment. */
export class ManifestGraph {
  #store: ImageStore;
  #ns: Namespace;
  #links: BlobLinks;
  #summaries = new Map<string, ManifestSummary>();
  /** Every digest a manifest reaches (itself, its blobs, its children's), once complete. */
  #closures = new Map<string, Set<Digest>>();

  /** The graph of `store`'s records under `ns`, with the blob links uploads made. */
  constructor(store: ImageStore, ns: Namespace, links: BlobLinks) {
    this.#store = store;
    this.#ns = ns;
    this.#links = links;
  }

  /** Notes a manifest just stored. */
  remember(parsed: ParsedManifest): void {
    this.#summaries.set(parsed.digest, this.#summarize(parsed));
  }

  /** Drops what is known of `digest`, a blob just deleted. */
  forget(digest: Digest): void {
    this.#summaries.delete(digest);
    this.#closures.delete(digest);
  }

  /** What the manifest `digest` says, or undefined when it is not a stored manifest. */
  async summary(digest: Digest, mediaType?: string): Promise<ManifestSummary | undefined> {
    const hit = this.#summaries.get(digest);
    if (hit) return hit;
    let parsed: ParsedManifest;
    try {
      parsed = await this.#store.manifest(digest, mediaType);
    } catch {
      return undefined; // not stored, or not a manifest
    }
    const s = this.#summarize(parsed);
    if (this.#summaries.size > 10_000) this.#summaries.clear();
    this.#summaries.set(digest, s);
    return s;
  }

  #summarize(parsed: ParsedManifest): ManifestSummary {
    const doc = parsed.kind === "index" ? parsed.index : parsed.manifest;
    return {
      mediaType: parsed.mediaType,
      size: parsed.bytes.length,
      artifactType: doc.artifactType ??
        (parsed.kind === "manifest" ? parsed.manifest.config.mediaType : undefined),
      subject: doc.subject?.digest,
      annotations: doc.annotations,
      children: parsed.kind === "index" ? parsed.index.manifests.map((m) => m.digest) : [],
      blobs: parsed.kind === "manifest"
        ? [parsed.manifest.config.digest, ...parsed.manifest.layers.map((l) => l.digest)]
        : [],
    };
  }

  /** The store's records in `repo`: tags and digests, with what each names. */
  async repoRecords(repo: string) {
    return (await this.#store.tags.list()).flatMap((r) => {
      const n = this.#ns.parse(r.name);
      return n && n.repo === repo ? [{ ...n, descriptor: r.descriptor, name: r.name }] : [];
    });
  }

  /**
   * Every digest the manifest `digest` reaches: itself, its config and layers, and its
   * children's, recursively. Kept only when every manifest was there to read, since one
   * missing now may be pushed later.
   */
  async closure(digest: Digest, mediaType?: string): Promise<Set<Digest>> {
    const hit = this.#closures.get(digest);
    if (hit) return hit;
    const out = new Set<Digest>();
    let complete = true;
    const walk = async (d: Digest, type: string | undefined, depth: number): Promise<void> => {
      if (out.has(d)) return;
      out.add(d);
      const s = await this.summary(d, type);
      if (!s) {
        // Not a manifest (a cache index lists layers) is a leaf; not stored may come later.
        if (!(await this.#store.blobs.has(d))) complete = false;
        return;
      }
      // Content addressing rules out cycles; the depth bound is for hostile nesting.
      if (depth > 8) {
        complete = false;
        return;
      }
      for (const b of s.blobs) out.add(b);
      for (const c of s.children) await walk(c, undefined, depth + 1);
    };
    await walk(digest, mediaType, 0);
    if (complete) {
      if (this.#closures.size > 10_000) this.#closures.clear();
      this.#closures.set(digest, out);
    }
    return out;
  }

  /** The record of `repo` whose manifests reach `digest`, if any. */
  async recordReaching(
    repo: string,
    digest: Digest,
  ): Promise<{ name: string } | undefined> {
    for (const r of await this.repoRecords(repo)) {
      if ((await this.closure(r.descriptor.digest, r.descriptor.mediaType)).has(digest)) return r;
    }
    return undefined;
  }

  /**
   * True when `repo` links `digest`: uploaded or mounted there, or reached by one of its
   * manifests. The in-memory links are read first: a manifest PUT records its manifest
   * before anything could forget a link, so this order never misses both.
   */
  async linked(repo: string, digest: Digest): Promise<boolean> {
    if (this.#links.has(repo, digest)) return true;
    return (await this.recordReaching(repo, digest)) !== undefined;
  }

  /** The manifest `reference` (tag or digest) names in `repo`, or MANIFEST_UNKNOWN. */
  async findManifest(repo: string, reference: string): Promise<Descriptor> {
    const unknown = () =>
      new RegistryHttpError("MANIFEST_UNKNOWN", `manifest ${repo}:${reference} is unknown`, {
        detail: { name: repo, reference },
      });
    if (reference.includes(":")) {
      const digest = checkDigest(reference);
      const records = await this.repoRecords(repo);
      const direct = records.find((r) => r.descriptor.digest === digest);
      if (direct) return direct.descriptor;
      // A child of an index in this repository is pullable by digest, as registries allow.
      for (const r of records) {
        if (!isIndexMediaType(r.descriptor.mediaType)) continue;
        const s = await this.summary(r.descriptor.digest, r.descriptor.mediaType);
        if (s?.children.includes(digest)) {
          const child = await this.summary(digest);
          if (child) return { mediaType: child.mediaType, digest, size: child.size };
        }
      }
      throw unknown();
    }
    if (!Namespace.isTag(reference)) throw unknown();
    for (const name of this.#ns.candidates(repo, reference)) {
      const d = await this.#store.tags.get(name);
      if (d) return d;
    }
    throw unknown();
  }

  /** True when a manifest named by any store record reaches `digest`. */
  async usedByAnyRecord(digest: Digest): Promise<boolean> {
    const seen = new Set<string>();
    for (const r of await this.#store.tags.list()) {
      if (seen.has(r.descriptor.digest)) continue;
      seen.add(r.descriptor.digest);
      if ((await this.closure(r.descriptor.digest, r.descriptor.mediaType)).has(digest)) {
        return true;
      }
    }
    return false;
  }
}
