import type { Digest } from "../digest/mod.ts";
import { type Descriptor, parseReference } from "../image/mod.ts";
import type { ImageStore } from "../storage/mod.ts";
import { Clients, registrySinkOptions, settings } from "./_clients.ts";
import { storeSource } from "./_store_sink.ts";
import { copyImage, registrySink } from "./_transfer.ts";
import type { TransferOptions } from "./options.ts";
import { wrap } from "./pull.ts";

/** Options of {@linkcode push}. */
export interface PushOptions extends TransferOptions {
  /** Where to push, when not to the image's own name. @default {the image's name} */
  destination?: string;
}

/** What {@linkcode push} wrote. */
export interface PushResult {
  /** The fully qualified destination. */
  name: string;
  /** The digest of the pushed manifest or index. */
  digest: Digest;
  /** Its size in bytes. */
  size: number;
}

/**
 * Pushes an image from `store` to a registry, like `docker push`: blobs the repository has
 * are skipped (HEAD), blobs in another repository of the same registry are mounted, the
 * rest uploaded (one PUT when small, resumable chunks when large), manifests last. An
 * index in the store is pushed whole, with every platform.
 */
export function push(
  store: ImageStore,
  image: string,
  options: PushOptions = {},
): Promise<PushResult> {
  // The lease keeps the blobs being sent from a gc that runs while the image is untagged.
  return store.withLease((store) => pushLeased(store, image, options));
}

async function pushLeased(
  store: ImageStore,
  image: string,
  options: PushOptions,
): Promise<PushResult> {
  const src = parseReference(image);
  const dest = parseReference(options.destination ?? image);
  const key = src.toString();
  let descriptor: Descriptor | undefined = await store.tags.get(key);
  if (!descriptor) {
    const img = await store.resolve(image);
    descriptor = img.descriptor;
  }
  const client = new Clients(options).get(dest.registry);
  options.onProgress?.({
    type: "status",
    message: `The push refers to repository [${dest.registry}/${dest.repository}]`,
  });
  const found = descriptor;
  let outcome;
  try {
    outcome = await copyImage(
      storeSource(store, key, () => Promise.resolve(found)),
      registrySink(client, dest.repository, registrySinkOptions(options)),
      settings(options, { concurrency: 5, allPlatforms: true }),
      dest.digest ? undefined : dest.tag,
    );
  } catch (e) {
    throw wrap(image, e);
  }
  options.onProgress?.({
    type: "status",
    message: `${
      dest.tag ?? dest.digest
    }: digest: ${outcome.digest} size: ${outcome.top.bytes.length}`,
  });
  return { name: dest.toString(), digest: outcome.digest, size: outcome.top.bytes.length };
}
