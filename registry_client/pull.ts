import { type Digest, sha256 } from "../digest/mod.ts";
import { type Descriptor, parseReference, type Reference } from "../image/mod.ts";
import { type ImageStore, readBlob } from "../storage/mod.ts";
import { Clients, settings, storeSinkOptions } from "./_clients.ts";
import { storeSink } from "./_store_sink.ts";
import { copyImage, registrySource } from "./_transfer.ts";
import type { TransferOptions } from "./options.ts";
import type { RegistryClient } from "./registry_client.ts";

/** What {@linkcode pull} stored. */
export interface PullResult {
  /** The name tagged in the store (`docker.io/library/busybox:latest`), or the digest name. */
  name: string;
  /** The digest the reference resolved to in the registry (an index for multi-platform images). */
  digest: Digest;
  /** The digest of the manifest the name points at in the store. */
  manifestDigest: Digest;
  /** The image ID (the config's sha256); undefined when an index was kept whole (`allPlatforms`). */
  id?: Digest;
  /** True when every blob was already in the store. */
  upToDate: boolean;
}

/**
 * Pulls `image` (`busybox`, `localhost:5000/app:v1`, `x@sha256:...`) into `store`, like
 * `docker pull`: picks the platform from an index, downloads missing blobs verified into
 * the store (resuming cut downloads), then names the image with its tag and a
 * `name@digest` record (docker's RepoDigests). Nothing is named until every blob is in.
 */
export async function pull(
  store: ImageStore,
  image: string,
  options: TransferOptions = {},
): Promise<PullResult> {
  const ref = parseReference(image);
  const client = new Clients(options).get(ref.registry);
  // The first exchange with the registry (the runtime readies its HTTP client, then the
  // ping) goes on while the lease is taken; its failure is met again, and reported, by the
  // first request, which pings anew.
  client.ping().catch(() => {});
  // The lease holds every blob found or fetched until the name is written (gc beside it).
  return await store.withLease((store) => pullLeased(store, image, ref, client, options));
}

async function pullLeased(
  store: ImageStore,
  image: string,
  ref: Reference,
  client: RegistryClient,
  options: TransferOptions,
): Promise<PullResult> {
  const reference = ref.digest ?? ref.tag!;
  options.onProgress?.({
    type: "status",
    message: `${ref.digest ?? ref.tag}: Pulling from ${ref.registry}/${ref.repository}`,
  });
  let fetched = 0;
  const report = options.onProgress;
  const s = settings(options, { concurrency: 3, allPlatforms: false });
  s.referrers = false;
  s.onProgress = (e) => {
    if (e.type === "blob" && e.state === "Download complete") fetched++;
    report?.(e);
  };
  const sink = storeSink(store, storeSinkOptions(options), async () => {});
  let outcome;
  try {
    outcome = await copyImage(registrySource(client, ref.repository, reference), sink, s);
  } catch (e) {
    throw wrap(image, e);
  }
  const descriptor: Descriptor = {
    mediaType: outcome.top.mediaType,
    digest: outcome.digest,
    size: outcome.top.bytes.length,
  };
  const repo = `${ref.registry}/${ref.repository}`;
  const names = [`${repo}@${outcome.sourceDigest}`];
  if (!ref.digest) names.unshift(`${repo}:${ref.tag}`);
  await store.tags.update((records) => [
    ...records.filter((r) => !names.includes(r.name)),
    ...names.map((name) => ({ name, descriptor })),
  ]);
  const upToDate = fetched === 0;
  report?.({ type: "status", message: `Digest: ${outcome.sourceDigest}` });
  report?.({
    type: "status",
    message: upToDate
      ? `Status: Image is up to date for ${names[0]}`
      : `Status: Downloaded newer image for ${names[0]}`,
  });
  let id = outcome.top.kind === "manifest" ? outcome.top.manifest.config.digest : undefined;
  // The image ID is the config's sha256, also when the manifest names the config by sha512.
  if (id?.startsWith("sha512:")) id = await sha256(await readBlob(store.blobs, id));
  return {
    name: names[0],
    digest: outcome.sourceDigest,
    manifestDigest: outcome.digest,
    id,
    upToDate,
  };
}

/** Prefixes an error with the image, keeping its class so callers can still tell them apart. */
export function wrap(image: string, e: unknown): unknown {
  if (e instanceof Error && !e.message.includes(`"${image}"`)) {
    e.message = `Cannot transfer "${image}": ${e.message}`;
  }
  return e;
}
