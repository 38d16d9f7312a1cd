import { FsBlobStore } from "./fs_blob_store.ts";
import { FsLeaseManager } from "./lease.ts";

/** Options for {@linkcode sweepStore}. */
export interface SweepStoreOptions {
  /**
   * Resumable writes nobody owns (a registry upload between two requests) are kept this
   * long, so that they can still resume. @default {86_400_000 (a day)}
   */
  resumableMaxAgeMs?: number;
}

/** What {@linkcode sweepStore} removed. */
export interface SweepStoreResult {
  /** Abandoned writes removed from `ingest/`. */
  ingest: number;
  /** Leases of processes that are gone. */
  leases: number;
}

/**
 * Removes what processes that died left in the on-disk store at `root`: their leases,
 * their unnamed writes and resumable writes they were in the middle of (found by the
 * owner pid each carries), and resumable writes nobody resumed for a day. Anything a live
 * process owns is left alone, so this is safe beside pulls, loads and builds; the next
 * build and `gc` run it.
 */
export async function sweepStore(
  root: string,
  options: SweepStoreOptions = {},
): Promise<SweepStoreResult> {
  const leases = await new FsLeaseManager(root).sweep();
  const ingest = await new FsBlobStore(root).cleanIngest(
    options.resumableMaxAgeMs ?? 86_400_000,
  );
  return { ingest, leases };
}
