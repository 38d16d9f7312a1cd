/**
 * Single blobs between a store and a repository, by the engine that pull and push use:
 * an upload skips what the repository has, goes in one PUT or resumable chunks and
 * survives a lost answer; a download resumes a cut connection with `Range` and is
 * verified before it becomes visible. For content that is not an image (a build cache's
 * blobs), so it gets the same retries as images do.
 *
 * @module
 */
import type { Descriptor } from "../image/mod.ts";
import type { BlobStore } from "../storage/mod.ts";
import type { TransferOptions } from "./options.ts";
import type { RegistryClient } from "./registry_client.ts";
import { registrySinkOptions, storeSinkOptions } from "./_clients.ts";
import { fetchBlobInto } from "./_store_sink.ts";
import { type ImageSource, registrySink, registrySource } from "./_transfer.ts";

const ignoreProgress = () => {};

/** A source whose only content is the blobs of `blobs`. */
function blobSource(blobs: BlobStore): ImageSource {
  const notAnImage = () => Promise.reject(new TypeError("a blob source has no manifests"));
  return {
    name: "local blobs",
    resolve: notAnImage,
    manifest: notAnImage,
    async blob(d, offset, length) {
      return { body: await blobs.get(d.digest, { offset, length }), start: offset };
    },
  };
}

/** Uploads the blob `descriptor` names from `blobs` to `repository`, unless it is there. */
export async function pushBlob(
  client: RegistryClient,
  repository: string,
  descriptor: Descriptor,
  blobs: BlobStore,
  options: TransferOptions = {},
): Promise<void> {
  const sink = registrySink(client, repository, registrySinkOptions(options));
  await sink.putBlob(descriptor, blobSource(blobs), ignoreProgress);
}

/** Downloads the blob `descriptor` names from `repository` into `blobs`, unless it is there. */
export async function pullBlob(
  client: RegistryClient,
  repository: string,
  descriptor: Descriptor,
  blobs: BlobStore,
  options: TransferOptions = {},
): Promise<void> {
  const source = registrySource(client, repository, descriptor.digest);
  await fetchBlobInto(blobs, descriptor, source, ignoreProgress, storeSinkOptions(options));
}
