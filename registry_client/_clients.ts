import { hostPlatform, parsePlatform, type Platform } from "../image/mod.ts";
import type { TransferOptions } from "./options.ts";
import { RegistryClient } from "./registry_client.ts";
import type { StoreSinkOptions } from "./_store_sink.ts";
import type { RegistrySinkOptions, TransferSettings } from "./_transfer.ts";

/** One client per registry host for the length of an operation, so tokens are shared. */
export class Clients {
  #clients = new Map<string, RegistryClient>();
  #options: TransferOptions;
  constructor(options: TransferOptions) {
    this.#options = options;
  }
  get(host: string): RegistryClient {
    let c = this.#clients.get(host);
    if (!c) {
      c = new RegistryClient(host, {
        ...this.#options,
        onWarning: this.#options.onWarning ??
          ((message) =>
            this.#options.onProgress?.({ type: "status", message: `Warning: ${message}` })),
      });
      this.#clients.set(host, c);
    }
    return c;
  }
}

function platformOf(p: Platform | string | undefined): Platform {
  return p === undefined ? hostPlatform() : typeof p === "string" ? parsePlatform(p) : p;
}

export function settings(
  options: TransferOptions,
  defaults: { concurrency: number; allPlatforms: boolean },
): TransferSettings {
  return {
    platform: platformOf(options.platform),
    allPlatforms: options.allPlatforms ?? defaults.allPlatforms,
    concurrency: options.concurrency ?? defaults.concurrency,
    referrers: options.referrers ?? true,
    onProgress: options.onProgress,
  };
}

export function storeSinkOptions(options: TransferOptions): StoreSinkOptions {
  return {
    retries: options.retries ?? 4,
    retryDelayMs: options.retryDelayMs ?? 500,
    rangeThreshold: options.rangeThreshold ?? 64 << 20,
    rangeConcurrency: options.rangeConcurrency ?? 1,
    rangeSize: options.rangeSize ?? 8 << 20,
  };
}

export function registrySinkOptions(options: TransferOptions): RegistrySinkOptions {
  return {
    chunkSize: options.chunkSize ?? 16 << 20,
    retries: options.retries ?? 4,
    retryDelayMs: options.retryDelayMs ?? 500,
  };
}
