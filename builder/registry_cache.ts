/**
 * The build cache shared through a registry: `--cache-to type=registry,ref=REF` and
 * `--cache-from type=registry,ref=REF`, so CI machines reuse each other's steps.
 *
 * The format is stratum's own, chosen so that any OCI distribution registry stores it: an
 * OCI image manifest at REF whose config blob (media type {@linkcode CACHE_CONFIG_MEDIA_TYPE})
 * is `{"schemaVersion":1,"records":{KEY: CacheRecord}}` — the build's step keys and the
 * stage state after each step, as `BuildCache` keeps them — and whose layers are every
 * layer blob those records name. Importing reads only the manifest and the config; a
 * layer blob is downloaded when a step hits and the local store does not have it.
 *
 * @module
 */
import type { Digest } from "../digest/mod.ts";
import {
  type Descriptor,
  type ImageManifest,
  MediaType,
  parseReference,
  serializeManifest,
} from "../image/mod.ts";
import {
  pullBlob,
  pushBlob,
  RegistryClient,
  type RegistryClientOptions,
} from "../registry_client/mod.ts";
import { type BlobStore, MemoryBlobStore, putBytes, readBlob } from "../storage/mod.ts";
import type { BuildCache, CacheRecord } from "./build_cache.ts";

/** The media type of the config blob of a registry cache manifest. */
export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.stratum.build-cache.config.v1+json";

/** The largest cache config accepted from a registry. */
const MAX_CONFIG_BYTES = 64 << 20;

/** A parsed `--cache-to` / `--cache-from` value. */
export interface CacheSpec {
  /** The cache backend; only `registry` is supported. */
  type: "registry";
  /** The reference the cache manifest lives at (`host/repo:tag`). */
  ref: string;
}

/**
 * Parses docker's `--cache-to`/`--cache-from` syntax: `type=registry,ref=REF` (a bare
 * `REF` means a registry ref, as in docker). BuildKit's `mode=`, `oci-mediatypes=` and
 * similar options are accepted and ignored: every step of the build is exported.
 *
 * @throws {SyntaxError} for another type or a missing ref, quoting the value.
 */
export function parseCacheSpec(value: string): CacheSpec {
  if (!value.includes("=")) return { type: "registry", ref: value };
  const fields = new Map<string, string>();
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    fields.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? "" : part.slice(eq + 1));
  }
  const type = fields.get("type") ?? "registry";
  if (type !== "registry") {
    throw new SyntaxError(`Invalid cache "${value}": type "${type}" is not supported (registry)`);
  }
  const ref = fields.get("ref");
  if (!ref) throw new SyntaxError(`Invalid cache "${value}": ref= is required`);
  return { type, ref };
}

function target(ref: string): { host: string; repository: string; reference: string } {
  const parsed = parseReference(ref);
  return {
    host: parsed.registry,
    repository: parsed.repository,
    reference: parsed.digest ?? parsed.tag ?? "latest",
  };
}

/**
 * Exports the records of `keys` (those the local cache has) and their layers to the
 * registry at `ref`, replacing what the tag held. Blobs the repository has are skipped.
 *
 * @returns How many records were exported and the cache manifest's digest.
 */
export async function exportCache(
  cache: BuildCache,
  blobs: BlobStore,
  keys: Iterable<string>,
  ref: string,
  options: RegistryClientOptions = {},
): Promise<{ records: number; digest: Digest }> {
  const records: Record<string, CacheRecord> = {};
  for (const key of [...new Set(keys)].sort()) {
    const record = await cache.get(key);
    if (record) records[key] = record;
  }
  const layers = new Map<string, Descriptor>();
  for (const record of Object.values(records)) {
    for (const l of record.layers) layers.set(l.descriptor.digest, l.descriptor);
  }
  const { host, repository, reference } = target(ref);
  const client = new RegistryClient(host, options);
  const configBytes = new TextEncoder().encode(JSON.stringify({ schemaVersion: 1, records }));
  const configBlob = new MemoryBlobStore();
  const config: Descriptor = {
    mediaType: CACHE_CONFIG_MEDIA_TYPE,
    ...(await putBytes(configBlob, configBytes)),
  };
  try {
    for (const descriptor of layers.values()) {
      await pushBlob(client, repository, descriptor, blobs, options);
    }
    await pushBlob(client, repository, config, configBlob, options);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config,
      layers: [...layers.values()],
    };
    const { bytes } = await serializeManifest(manifest);
    const { digest } = await client.putManifest(
      repository,
      reference,
      bytes,
      MediaType.OCI_MANIFEST,
    );
    return { records: Object.keys(records).length, digest };
  } catch (error) {
    throw new Error(`Cannot export the build cache to "${ref}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A build cache read from a registry (`--cache-from`). */
export class RegistryCache {
  /** The reference it was read from. */
  readonly ref: string;
  #client: RegistryClient;
  #repository: string;
  #records: Map<string, CacheRecord>;
  #options: RegistryClientOptions;

  private constructor(
    ref: string,
    client: RegistryClient,
    repository: string,
    records: Map<string, CacheRecord>,
    options: RegistryClientOptions,
  ) {
    this.ref = ref;
    this.#client = client;
    this.#repository = repository;
    this.#records = records;
    this.#options = options;
  }

  /**
   * Reads the cache manifest and config at `ref`. A ref the registry does not have gives
   * an empty cache (a first CI run has nothing to import), as in docker.
   *
   * @throws {Error} when the registry answers with something that is not a stratum cache.
   */
  static async open(ref: string, options: RegistryClientOptions = {}): Promise<RegistryCache> {
    const { host, repository, reference } = target(ref);
    const client = new RegistryClient(host, options);
    const records = new Map<string, CacheRecord>();
    if (!(await client.headManifest(repository, reference))) {
      return new RegistryCache(ref, client, repository, records, options);
    }
    const parsed = await client.getManifest(repository, reference);
    if (
      parsed.kind !== "manifest" || parsed.manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE
    ) {
      throw new Error(`Cannot import the build cache "${ref}": it is not a stratum build cache`);
    }
    const { config } = parsed.manifest;
    if (config.size > MAX_CONFIG_BYTES) {
      throw new Error(
        `Cannot import the build cache "${ref}": its config is ${config.size} bytes, over ${MAX_CONFIG_BYTES}`,
      );
    }
    // Fetched like any blob (resumed, verified against its digest and size), then read.
    const fetched = new MemoryBlobStore();
    await pullBlob(client, repository, config, fetched, options);
    const bytes = await readBlob(fetched, config.digest, MAX_CONFIG_BYTES);
    const json = JSON.parse(new TextDecoder().decode(bytes));
    if (json?.schemaVersion !== 1 || typeof json.records !== "object" || json.records === null) {
      throw new Error(`Cannot import the build cache "${ref}": unknown config schema`);
    }
    for (const [key, record] of Object.entries(json.records as Record<string, CacheRecord>)) {
      if (Array.isArray(record?.layers) && record.image) records.set(key, record);
    }
    return new RegistryCache(ref, client, repository, records, options);
  }

  /** How many step records it holds. */
  get size(): number {
    return this.#records.size;
  }

  /** The record of `key`, without fetching any layer. */
  get(key: string): CacheRecord | undefined {
    return this.#records.get(key);
  }

  /**
   * Downloads into `blobs` the layers of `record` it does not have, each verified against
   * its digest and size.
   *
   * @returns How many blobs were downloaded.
   */
  async fetchLayers(record: CacheRecord, blobs: BlobStore): Promise<number> {
    let fetched = 0;
    for (const { descriptor } of record.layers) {
      if (await blobs.has(descriptor.digest)) continue;
      await pullBlob(this.#client, this.#repository, descriptor, blobs, this.#options);
      fetched++;
    }
    return fetched;
  }
}
