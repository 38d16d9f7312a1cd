import { stat } from "node:fs/promises";
import type { Platform } from "../image/mod.ts";
import { FsBlobStore } from "./fs_blob_store.ts";
import { ImageStore } from "./image_store.ts";
import { FsLeaseManager } from "./lease.ts";
import { MemoryBlobStore } from "./memory_blob_store.ts";
import { OciIndexTagStore } from "./oci_index_tag_store.ts";
import { MemoryTagStore } from "./tag_store.ts";
import { join } from "node:path";
import { parseDigest } from "../digest/mod.ts";

/** Options for {@linkcode openStore} and {@linkcode memoryStore}. */
export interface StoreOptions {
  /** The platform picked when a name points at an index. @default {the host's} */
  platform?: Platform;
}

/**
 * Opens (creating if needed) the on-disk store at `root`: an OCI image layout that
 * skopeo (`oci:ROOT:NAME`) and umoci (`--layout ROOT`) read as it is.
 *
 * @example Open a store and list its images, as `stratum images` does
 * ```ts
 * import { openStore } from "@stratum/stratum/storage";
 * import { mkdtemp, readFile, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const root = await mkdtemp(join(tmpdir(), "stratum-store-"));
 * try {
 *   const store = await openStore(root);
 *   console.log(await store.images()); // [] in a new store
 *   console.log(await readFile(join(root, "oci-layout"), "utf8")); // {"imageLayoutVersion":"1.0.0"}
 * } finally {
 *   await rm(root, { recursive: true, force: true });
 * }
 * ```
 */
export async function openStore(root: string, options: StoreOptions = {}): Promise<ImageStore> {
  const tags = new OciIndexTagStore(root);
  await tags.init();
  return new ImageStore(new FsBlobStore(root), tags, {
    ...options,
    leases: new FsLeaseManager(root),
    root,
  });
}

/**
 * A store in memory, for tests and edge runtimes.
 *
 * @example Store a blob and read it back by its digest
 * ```ts
 * import { memoryStore, putBytes, readBlob } from "@stratum/stratum/storage";
 *
 * const store = memoryStore();
 * const { digest, size } = await putBytes(store.blobs, new TextEncoder().encode("{}"));
 * console.log(digest, size); // sha256:44136fa3..., 2
 * console.log(new TextDecoder().decode(await readBlob(store.blobs, digest))); // {}
 * ```
 */
export function memoryStore(options: StoreOptions = {}): ImageStore {
  return new ImageStore(new MemoryBlobStore(), new MemoryTagStore(), options);
}

/** For `gc` grace periods on disk: a blob's age in milliseconds from its mtime. */
export function blobAge(root: string): (digest: string) => Promise<number | undefined> {
  return async (digest) => {
    try {
      const { algorithm, hex } = parseDigest(digest);
      const s = await stat(join(root, "blobs", algorithm, hex));
      return Date.now() - s.mtimeMs;
    } catch {
      return undefined;
    }
  };
}
