import type { Descriptor } from "../image/mod.ts";

/** A name in the store and the manifest (or index) it points at. */
export interface TagRecord {
  /**
   * A fully qualified reference: `docker.io/library/busybox:latest` for a tag, or
   * `docker.io/library/busybox@sha256:...` for an image known only by digest.
   */
  name: string;
  /** The manifest or index descriptor. */
  descriptor: Descriptor;
}

/** The store's names. Metadata lives apart from blobs; every change is atomic. */
export interface TagStore {
  /** Every record, in a stable order. */
  list(): Promise<TagRecord[]>;
  /** The descriptor a name points at, or undefined. */
  get(name: string): Promise<Descriptor | undefined>;
  /** Points `name` at `descriptor`, replacing what it pointed at. */
  set(name: string, descriptor: Descriptor): Promise<void>;
  /** Removes `name`; false when it was not there. */
  delete(name: string): Promise<boolean>;
  /**
   * Reads every record, lets `change` return the new set, and writes it, all under one
   * lock so concurrent processes never lose each other's updates.
   */
  update(change: (records: TagRecord[]) => TagRecord[] | Promise<TagRecord[]>): Promise<void>;
}

/** Shared by the backends: `set` and `delete` expressed through `update`. */
export abstract class TagStoreBase implements TagStore {
  /** Every record. */
  abstract list(): Promise<TagRecord[]>;
  /** Atomic read-modify-write. */
  abstract update(
    change: (records: TagRecord[]) => TagRecord[] | Promise<TagRecord[]>,
  ): Promise<void>;

  /** The descriptor a name points at. */
  async get(name: string): Promise<Descriptor | undefined> {
    return (await this.list()).find((r) => r.name === name)?.descriptor;
  }

  /** Points `name` at `descriptor`. */
  set(name: string, descriptor: Descriptor): Promise<void> {
    return this.update((records) => [
      ...records.filter((r) => r.name !== name),
      { name, descriptor },
    ]);
  }

  /** Removes `name`. */
  async delete(name: string): Promise<boolean> {
    let found = false;
    await this.update((records) => {
      found = records.some((r) => r.name === name);
      return records.filter((r) => r.name !== name);
    });
    return found;
  }
}

/** A {@linkcode TagStore} in memory. */
export class MemoryTagStore extends TagStoreBase {
  #records: TagRecord[] = [];
  #queue: Promise<void> = Promise.resolve();

  /** Every record. */
  list(): Promise<TagRecord[]> {
    return Promise.resolve(this.#records.map((r) => ({ ...r })));
  }

  /** Atomic read-modify-write, serialized. */
  update(change: (records: TagRecord[]) => TagRecord[] | Promise<TagRecord[]>): Promise<void> {
    const run = this.#queue.then(async () => {
      this.#records = sortRecords(await change(this.#records.map((r) => ({ ...r }))));
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}

/** Sorts records by name so every backend lists them the same way. */
export function sortRecords(records: TagRecord[]): TagRecord[] {
  return [...records].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
