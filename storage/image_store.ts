import {
  createHasher,
  type Digest,
  DigestMismatchError,
  digestOf,
  isDigest,
  parseDigest,
} from "../digest/mod.ts";
import {
  ConfigError,
  type Descriptor,
  hostPlatform,
  type ImageConfig,
  layerRefs,
  type ParsedManifest,
  parseImageConfig,
  parseManifest,
  parseReference,
  type Platform,
  type Reference,
  selectManifest,
} from "../image/mod.ts";
import { type BlobStore, readBlob, readLayers } from "./blob_store.ts";
import { ConflictError, ImageNotFoundError } from "./errors.ts";
import { type Lease, type LeaseManager, MemoryLeaseManager } from "./lease.ts";
import type { TagRecord, TagStore } from "./tag_store.ts";
import { LeasedBlobStore } from "./_leased_blob_store.ts";
import type {
  FsckProblem,
  GcOptions,
  GcResult,
  ImageStoreOptions,
  ImageSummary,
  RemoveResult,
  ResolvedImage,
} from "./image_store_types.ts";
import { imageSize } from "./image_store_types.ts";

const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{1,64})$/;

/**
 * Images over a blob store and a tag store: resolving names and IDs the way docker does,
 * listing, tagging, removing (untag vs delete), garbage collection and checking.
 */
export class ImageStore {
  /** The content. */
  readonly blobs: BlobStore;
  /** The names. */
  readonly tags: TagStore;
  /** The platform chosen when a name points at an index. */
  readonly platform: Platform;
  /** The leases gc and remove respect. */
  readonly leases: LeaseManager;
  /** The store's directory on disk; undefined for a store in memory. */
  readonly root: string | undefined;
  #lease: Lease | undefined;
  // In a leased view, the store it views: gc and deletions read through it, since reading
  // through the lease would wait for the very lock they hold.
  #base: ImageStore | undefined;

  /** Wraps a blob store and a tag store. */
  constructor(blobs: BlobStore, tags: TagStore, options: ImageStoreOptions = {}) {
    this.blobs = blobs;
    this.tags = tags;
    this.platform = options.platform ?? hostPlatform();
    this.leases = options.leases ?? new MemoryLeaseManager();
    this.root = options.root;
  }

  /**
   * Runs `fn` holding a lease (containerd's model): `fn` gets a view of this store whose
   * blobs hold every digest it asks about, reads or writes, so a gc (in this process or
   * another) keeps them until `fn` has named them and returned. Pulls, pushes, loads and
   * builds run inside one. Inside a leased view this just calls `fn` with it.
   *
   * @example
   * ```ts
   * import { memoryStore, putBytes } from "./mod.ts";
   * const store = memoryStore();
   * const { digest } = await store.withLease((s) =>
   *   putBytes(s.blobs, new TextEncoder().encode("{}"))
   * );
   * ```
   */
  async withLease<T>(fn: (store: ImageStore) => Promise<T>): Promise<T> {
    if (this.#lease) return await fn(this);
    const lease = await this.leases.create();
    try {
      const view = new ImageStore(new LeasedBlobStore(this.blobs, lease), this.tags, {
        platform: this.platform,
        leases: this.leases,
        root: this.root,
      });
      view.#lease = lease;
      view.#base = this;
      return await fn(view);
    } finally {
      await lease.release();
    }
  }

  /**
   * Reads and parses a manifest or index blob. Its `digest` is the one asked for, which
   * may be sha512 when a descriptor names it so.
   */
  async manifest(digest: string, mediaType?: string): Promise<ParsedManifest> {
    const bytes = await readBlob(this.blobs, digest, 4 << 20);
    const parsed = await parseManifest(bytes, mediaType);
    const actual = await sameAlgorithm(digest, parsed.digest, bytes);
    if (actual !== digest) throw new DigestMismatchError(digest, actual, "manifest");
    return { ...parsed, digest: actual };
  }

  /** Reads and parses an image config blob. */
  async config(digest: string): Promise<ImageConfig> {
    return (await this.#config(digest)).config;
  }

  /** The config and the image ID (its sha256, whatever digest names the blob). */
  async #config(digest: string): Promise<{ config: ImageConfig; id: Digest }> {
    const bytes = await readBlob(this.blobs, digest, 16 << 20);
    const parsed = await parseImageConfig(bytes);
    const actual = await sameAlgorithm(digest, parsed.digest, bytes);
    if (actual !== digest) throw new DigestMismatchError(digest, actual, "config");
    return { config: parsed.config, id: parsed.digest };
  }

  /** Follows a descriptor (through an index, picking the store's platform) to an image. */
  async load(descriptor: Descriptor, names: string[] = []): Promise<ResolvedImage> {
    let parsed = await this.manifest(descriptor.digest, descriptor.mediaType);
    let indexDigest: Digest | undefined;
    let chosen = descriptor;
    if (parsed.kind === "index") {
      indexDigest = parsed.digest;
      const pick = selectManifest(parsed.index, this.platform);
      if (!pick) {
        throw new ImageNotFoundError(
          `${
            names[0] ?? descriptor.digest
          } for platform ${this.platform.os}/${this.platform.architecture}`,
        );
      }
      chosen = pick;
      parsed = await this.manifest(pick.digest, pick.mediaType);
      if (parsed.kind !== "manifest") {
        throw new SyntaxError(
          `Index ${indexDigest} points at another index; nesting is not supported`,
        );
      }
    }
    const manifest = parsed.manifest;
    const { config, id } = await this.#config(manifest.config.digest);
    const diffIds = config.rootfs.diff_ids;
    // docker refuses such an image at pull ("layers from manifest don't match image
    // configuration"): which diff ID goes with which blob could only be guessed.
    if (diffIds.length !== manifest.layers.length) {
      throw new ConfigError(
        "rootfs.diff_ids",
        `lists ${diffIds.length} layers but manifest ${parsed.digest} has ${manifest.layers.length}`,
      );
    }
    return {
      descriptor: chosen,
      manifest,
      manifestDigest: parsed.digest,
      config,
      layers: readLayers(this.blobs, layerRefs(manifest.layers, diffIds)),
      id,
      names,
      indexDigest,
    };
  }

  /**
   * Finds an image by what a user types: a name (`busybox`, `busybox:1`, `x@sha256:...`),
   * a full or short image ID (`sha256:abc...`, `abc123`), like docker.
   */
  async resolve(input: string): Promise<ResolvedImage> {
    const records = await this.tags.list();
    let ref: Reference | undefined;
    try {
      ref = parseReference(input);
    } catch { /* not a name: may still be an ID */ }
    if (ref) {
      const key = ref.toString();
      const exact = records.filter((r) => r.name === key);
      if (exact.length) return await this.load(exact[0].descriptor, exact.map((r) => r.name));
      if (ref.digest) {
        // name@digest: any record of that repository whose manifest or index has the digest.
        const repo = `${ref.registry}/${ref.repository}`;
        const hit = records.find((r) =>
          nameRepo(r.name) === repo && r.descriptor.digest === ref!.digest
        );
        if (hit) return await this.load(hit.descriptor, [key]);
        if (await this.blobs.has(ref.digest)) {
          const md = await this.manifest(ref.digest);
          return await this.load({
            mediaType: md.mediaType,
            digest: md.digest,
            size: md.bytes.length,
          }, [key]);
        }
      }
    }
    const m = ID_PREFIX.exec(input);
    if (m) {
      const prefix = m[1];
      const matches = new Map<Digest, TagRecord[]>();
      for (const r of records) {
        const img = await this.load(r.descriptor, [r.name]).catch(() => undefined);
        if (!img) continue;
        const hex = img.id.slice(7);
        const full = input.startsWith("sha256:")
          ? hex === prefix || hex.startsWith(prefix)
          : hex.startsWith(prefix);
        if (full) matches.set(img.id, [...(matches.get(img.id) ?? []), r]);
      }
      if (matches.size > 1) {
        throw new ConflictError(
          `Image ID prefix "${input}" is ambiguous: it matches ${matches.size} images`,
        );
      }
      const [only] = matches.values();
      if (only) return await this.load(only[0].descriptor, only.map((r) => r.name));
    }
    throw new ImageNotFoundError(input);
  }

  /** Every named image, one row per name, like `docker images`. */
  async images(): Promise<ImageSummary[]> {
    const rows: ImageSummary[] = [];
    for (const r of await this.tags.list()) {
      let img: ResolvedImage;
      const tagged = !r.name.startsWith("@") && !r.name.includes("@");
      try {
        img = await this.load(r.descriptor, [r.name]);
      } catch {
        // An index with no image for this platform is listed as docker's containerd store
        // lists it, by its digest, so that what load reported is there to see and remove.
        if (await this.#isForeign(r.descriptor)) {
          let size = 0;
          for (const d of await this.#mark([r])) size += (await this.blobs.stat(d))?.size ?? 0;
          rows.push({
            id: r.descriptor.digest,
            digest: r.descriptor.digest,
            name: tagged ? r.name : undefined,
            reference: tagged ? parseReference(r.name) : undefined,
            size,
          });
        }
        continue; // content missing: fsck reports it, listing does not fail
      }
      rows.push({
        id: img.id,
        digest: r.descriptor.digest,
        name: tagged ? r.name : undefined,
        reference: tagged ? parseReference(r.name) : undefined,
        created: img.config.created,
        size: imageSize(img),
      });
    }
    return rows;
  }

  /** Gives the image `source` resolves to the name `target` (a tag). */
  async tag(source: string, target: string): Promise<string> {
    const img = await this.resolve(source);
    const ref = parseReference(target);
    if (ref.digest) {
      throw new TypeError(`Cannot tag with a digest reference "${target}": give a tag`);
    }
    const name = ref.toString();
    const record = (await this.tags.list()).find((r) => img.names.includes(r.name));
    const descriptor = record?.descriptor ?? {
      mediaType: img.descriptor.mediaType,
      digest: img.manifestDigest,
      size: img.descriptor.size,
    };
    await this.tags.set(name, descriptor);
    return name;
  }

  /**
   * Removes an image the way `docker rmi` does. By name: untags, and deletes the image
   * when that was its last name. By ID: deletes the image; when it has several names
   * that takes `force`. Blobs still used by another image are kept.
   */
  async remove(input: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    let img: ResolvedImage;
    try {
      img = await this.resolve(input);
    } catch (e) {
      if (!(e instanceof ImageNotFoundError || e instanceof SyntaxError)) throw e;
      // A name whose content is not an image for this platform (an index of other
      // platforms, say) is still a name, listed by images(): docker's containerd store
      // removes such names too, by name or by the index digest it shows as their ID.
      const foreign = await this.#foreignRecords(input);
      if (!foreign.length) throw e;
      const repos = new Set(
        foreign.filter((r) => !r.name.includes("@")).map((r) => nameRepo(r.name)),
      );
      if (foreign.length > 1 && repos.size > 1 && !options.force) {
        throw new ConflictError(
          `conflict: unable to delete ${
            foreign[0].descriptor.digest.slice(7, 19)
          } (must be forced) - image is referenced in multiple repositories`,
        );
      }
      return await this.#removeRecords(foreign);
    }
    const records = await this.tags.list();
    const sameImage: TagRecord[] = [];
    for (const r of records) {
      if (r.descriptor.digest === img.manifestDigest || r.descriptor.digest === img.indexDigest) {
        sameImage.push(r);
      } else if (img.names.includes(r.name)) {
        sameImage.push(r);
      }
    }
    const byId = !img.names.some((n) => n === safeName(input));
    let untag: string[];
    if (byId) {
      const tagged = sameImage.filter((r) => !r.name.includes("@"));
      const repos = new Set(tagged.map((r) => nameRepo(r.name)));
      if (repos.size > 1 && !options.force) {
        throw new ConflictError(
          `conflict: unable to delete ${
            img.id.slice(7, 19)
          } (must be forced) - image is referenced in multiple repositories`,
        );
      }
      untag = sameImage.map((r) => r.name);
    } else {
      untag = img.names;
    }
    const untagSet = new Set(untag);
    let remaining: TagRecord[] = [];
    await this.tags.update((rs) => {
      remaining = rs.filter((r) => !untagSet.has(r.name));
      // A digest-only record (`name@sha256:`) of an image whose last tag goes, goes too.
      const stillTagged = remaining.some((r) =>
        (r.descriptor.digest === img.manifestDigest || r.descriptor.digest === img.indexDigest) &&
        !r.name.includes("@")
      );
      if (!stillTagged && !byId) {
        remaining = remaining.filter((r) =>
          !(r.descriptor.digest === img.manifestDigest || r.descriptor.digest === img.indexDigest)
        );
        for (const r of rs) if (!remaining.includes(r) && !untagSet.has(r.name)) untag.push(r.name);
      }
      return remaining;
    });
    const result: RemoveResult = { untagged: untag.filter((n) => !n.startsWith("@")), deleted: [] };
    const stillNamed = remaining.some((r) =>
      r.descriptor.digest === img.manifestDigest || r.descriptor.digest === img.indexDigest
    );
    if (!stillNamed) {
      const candidates = [
        img.indexDigest,
        img.manifestDigest,
        img.manifest.config.digest,
        ...img.manifest.layers.map((l) => l.digest),
      ];
      await this.#deleteUnused(candidates);
      result.deleted.push(img.id);
    }
    return result;
  }

  /**
   * The records `input` names that hold no image for this platform: the record of that
   * name, or by ID (a prefix of the index digest) every record of that index.
   */
  async #foreignRecords(input: string): Promise<TagRecord[]> {
    const records = await this.tags.list();
    const name = safeName(input);
    const exact = records.filter((r) => r.name === name);
    if (exact.length) return exact;
    const m = ID_PREFIX.exec(input);
    if (!m) return [];
    const digests = new Set(
      records.map((r) => r.descriptor.digest).filter((d) => d.slice(7).startsWith(m[1])),
    );
    if (digests.size !== 1) return [];
    const [digest] = digests;
    const hits = records.filter((r) => r.descriptor.digest === digest);
    return (await this.#isForeign(hits[0].descriptor)) ? hits : [];
  }

  /** True for an index in the store that has no image for this platform. */
  async #isForeign(descriptor: Descriptor): Promise<boolean> {
    const parsed = await this.manifest(descriptor.digest, descriptor.mediaType).catch(() => null);
    return parsed?.kind === "index" && !selectManifest(parsed.index, this.platform);
  }

  /** Removes names that resolve to no image here (one content), and it if nothing else uses it. */
  async #removeRecords(records: TagRecord[]): Promise<RemoveResult> {
    const digest = records[0].descriptor.digest;
    const names = new Set(records.map((r) => r.name));
    const untagged: string[] = [];
    let remaining: TagRecord[] = [];
    await this.tags.update((rs) => {
      remaining = rs.filter((r) => !names.has(r.name));
      // Its digest-only twin (`name@sha256:`) goes with its last tag, as for images.
      if (!remaining.some((r) => r.descriptor.digest === digest && !r.name.includes("@"))) {
        remaining = remaining.filter((r) => r.descriptor.digest !== digest);
      }
      for (const r of rs) if (!remaining.includes(r)) untagged.push(r.name);
      return remaining;
    });
    const result: RemoveResult = {
      untagged: untagged.filter((n) => !n.startsWith("@")),
      deleted: [],
    };
    if (!remaining.some((r) => r.descriptor.digest === digest)) {
      await this.#deleteUnused([...(await this.#mark(records.slice(0, 1)))]);
      result.deleted.push(digest);
    }
    return result;
  }

  /** Deletes those of `candidates` that no name reaches and no lease holds. */
  async #deleteUnused(candidates: (string | undefined)[]): Promise<void> {
    if (this.#base) return await this.#base.#deleteUnused(candidates);
    await this.leases.collect(async (held) => {
      const live = await this.#mark(await this.tags.list());
      for (const d of candidates) {
        if (d && isDigest(d) && !live.has(d) && !held.has(d)) await this.blobs.delete(d);
      }
    });
  }

  async #mark(records: TagRecord[]): Promise<Set<string>> {
    const live = new Set<string>();
    const visit = async (d: Descriptor): Promise<void> => {
      if (live.has(d.digest)) return;
      live.add(d.digest);
      let parsed: ParsedManifest;
      try {
        parsed = await this.manifest(d.digest, d.mediaType);
      } catch {
        return; // not a manifest (or missing): a leaf
      }
      if (parsed.kind === "index") {
        for (const m of parsed.index.manifests) await visit(m);
      } else {
        live.add(parsed.manifest.config.digest);
        for (const l of parsed.manifest.layers) live.add(l.digest);
      }
    };
    for (const r of records) await visit(r.descriptor);
    return live;
  }

  /**
   * Mark and sweep: deletes every blob no name reaches and no lease holds. Leases are
   * read first and held still while it runs, so content an operation in flight holds
   * (or names before it lets go) is never deleted.
   */
  gc(options: GcOptions = {}): Promise<GcResult> {
    if (this.#base) return this.#base.gc(options);
    return this.leases.collect((held) => this.#sweep(held, options));
  }

  async #sweep(held: ReadonlySet<string>, options: GcOptions): Promise<GcResult> {
    const roots = typeof options.roots === "function" ? await options.roots() : options.roots;
    const extra = (roots ?? []).map((descriptor) => ({ name: "", descriptor }));
    const live = await this.#mark([...(await this.tags.list()), ...extra]);
    const result: GcResult = { removed: [], bytes: 0 };
    const grace = options.graceMs ?? 0;
    for await (const d of this.blobs.list()) {
      if (live.has(d) || held.has(d)) continue;
      if (grace > 0 && options.age) {
        const age = await options.age(d);
        if (age !== undefined && age < grace) continue;
      }
      const info = await this.blobs.stat(d);
      if (await this.blobs.delete(d)) {
        result.removed.push(d);
        result.bytes += info?.size ?? 0;
      }
    }
    return result;
  }

  /**
   * Re-hashes every blob (in the algorithm of its digest) and checks that every
   * referenced blob exists.
   */
  async fsck(): Promise<{ checked: number; problems: FsckProblem[] }> {
    const problems: FsckProblem[] = [];
    let checked = 0;
    for await (const d of this.blobs.list()) {
      checked++;
      const { algorithm } = parseDigest(d);
      const { digest } = await digestOf(await this.blobs.get(d), { algorithm });
      if (digest !== d) problems.push({ digest: d, problem: `content hashes to ${digest}` });
    }
    for (const d of await this.#mark(await this.tags.list())) {
      if (isDigest(d) && !(await this.blobs.has(d))) {
        problems.push({ digest: d, problem: "referenced but missing" });
      }
    }
    return { checked, problems };
  }
}

/**
 * The digest of `bytes` in the algorithm of `named`: `sha256`, already computed, or the
 * sha512 a descriptor may name content by.
 */
async function sameAlgorithm(named: string, sha256: Digest, bytes: Uint8Array): Promise<Digest> {
  const { algorithm } = parseDigest(named);
  if (algorithm === "sha256") return sha256;
  const hasher = await createHasher({ algorithm });
  hasher.update(bytes);
  return hasher.digest();
}

function nameRepo(name: string): string {
  const at = name.indexOf("@");
  if (at >= 0) return name.slice(0, at);
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") ? name.slice(0, colon) : name;
}

function safeName(input: string): string | undefined {
  try {
    return parseReference(input).toString();
  } catch {
    return undefined;
  }
}
