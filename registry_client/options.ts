import type { Platform } from "../image/mod.ts";
import type { ProgressEvent } from "./progress.ts";
import type { RegistryClientOptions } from "./registry_client.ts";

/** Options of {@linkcode pull}, {@linkcode push} and {@linkcode copy}; all optional. */
export interface TransferOptions extends RegistryClientOptions {
  /** Receives progress events; see {@linkcode createProgressRenderer}. */
  onProgress?: (event: ProgressEvent) => void;
  /** The platform picked from an index (`linux/arm64/v8` or an object). @default {the host's} */
  platform?: Platform | string;
  /** Copy every platform of an index instead of picking one. @default {false; true for push} */
  allPlatforms?: boolean;
  /** Blobs moved at once. @default {3 for downloads, 5 for uploads, like docker} */
  concurrency?: number;
  /** Bytes per upload PATCH; raised to the registry's `OCI-Chunk-Min-Length`. @default {16 MiB} */
  chunkSize?: number;
  /**
   * Parallel ranges for one large download; pays off on high-latency links, costs on
   * local ones (each range is buffered whole before it is written). @default {1: off}
   */
  rangeConcurrency?: number;
  /** Blobs at least this big are downloaded over parallel ranges. @default {64 MiB} */
  rangeThreshold?: number;
  /** Bytes per parallel range. @default {8 MiB} */
  rangeSize?: number;
  /** Copy referrers (signatures, SBOMs) of what is copied, registry to registry. @default {true} */
  referrers?: boolean;
}
