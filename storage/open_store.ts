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
 */
export async function openStore(root: string, options: StoreOptions = {}): Promise<ImageStore> {
  const tags = new OciIndexTagStore(root);
  await tags.init();
  return new ImageStore(new FsBlobStore(root), tags, {
    ...options,
    leases: new FsLeaseManager(root),
  });
}

/** A store in memory, for tests and edge runtimes. */
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
