/**
 * Leases, containerd's answer to "gc ran while a pull was writing": an operation holds a
 * lease on the content it writes or relies on (blobs it committed, blobs it found already
 * there and will name), and gc keeps whatever a live lease holds. On disk a lease is a file
 * under `<root>/leases/` owned by a process; it expires when that process is gone, so a
 * killed pull never pins content for ever. Adding to a lease and collecting garbage
 * exclude each other (one lock file), so a digest is either held before gc looks or added
 * after gc is done, when `has()` tells the truth again.
 */
import { randomUUID } from "node:crypto";
import { constants, mkdir, open, readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isDigest } from "../digest/mod.ts";
import { withLock } from "./_lock.ts";
import { currentOwner, formatOwner, ownerAlive, ownerTag, parseOwner } from "./owner.ts";

/** Content one operation holds against gc until it releases the lease. */
export interface Lease {
  /** Names the lease (on disk, its file name). */
  readonly id: string;
  /** Holds `digests` (waits while a gc is sweeping, so that none is deleted after this). */
  add(digests: Iterable<string>): Promise<void>;
  /** Lets go of everything held; the content stays only if something names it. */
  release(): Promise<void>;
}

/** Creates leases and lets gc see what they hold. */
export interface LeaseManager {
  /** A new, empty lease owned by this process. */
  create(): Promise<Lease>;
  /**
   * Runs `fn` with every digest held by a live lease while no lease can add more: gc
   * marks and sweeps inside it. Leases of owners that are gone are dropped first.
   */
  collect<T>(fn: (held: ReadonlySet<string>) => Promise<T>): Promise<T>;
}

// gc holds this lock for a whole mark and sweep; a lease waits that long at most.
const LEASE_LOCK_TIMEOUT_MS = 10 * 60_000;
// A lease file whose owner line was never written (its owner died at once) expires after this.
const UNWRITTEN_MS = 5_000;

/** Leases as files under `<root>/leases/`, shared by every process using the store. */
export class FsLeaseManager implements LeaseManager {
  readonly #dir: string;
  readonly #lock: string;

  /** The leases of the store at `root`. */
  constructor(root: string) {
    this.#dir = join(root, "leases");
    this.#lock = join(root, "leases.lock");
  }

  /** A new lease file, owned by this process. */
  async create(): Promise<Lease> {
    await mkdir(this.#dir, { recursive: true });
    const owner = await currentOwner();
    const id = `${ownerTag(owner)}-${randomUUID()}`;
    const path = join(this.#dir, id);
    const fh = await open(path, "wx");
    try {
      await fh.writeFile(`${formatOwner(owner)}\n`);
    } finally {
      await fh.close();
    }
    const held = new Set<string>();
    const lock = this.#lock;
    let released = false;
    return {
      id,
      async add(digests) {
        if (released) throw new TypeError(`Lease ${id} is already released`);
        const fresh = [...new Set(digests)].filter((d) => isDigest(d) && !held.has(d));
        if (fresh.length === 0) return;
        // Readers see whole lines: appends happen only under the lock gc reads under.
        await withLock(lock, async () => {
          // Without O_CREAT: a lease released meanwhile must not come back ownerless.
          const fh = await open(path, constants.O_WRONLY | constants.O_APPEND);
          try {
            await fh.writeFile(fresh.map((d) => `${d}\n`).join(""));
          } finally {
            await fh.close();
          }
        }, LEASE_LOCK_TIMEOUT_MS);
        for (const d of fresh) held.add(d);
      },
      async release() {
        released = true;
        await unlink(path).catch(() => {});
      },
    };
  }

  /** Runs `fn` under the gc lock with every digest live leases hold; drops dead leases. */
  async collect<T>(fn: (held: ReadonlySet<string>) => Promise<T>): Promise<T> {
    return await withLock(this.#lock, async () => {
      const held = new Set<string>();
      for (const lease of await this.#read()) for (const d of lease.digests) held.add(d);
      return await fn(held);
    }, LEASE_LOCK_TIMEOUT_MS);
  }

  /** Removes the leases of owners that are gone; returns how many. */
  async sweep(): Promise<number> {
    if ((await readdir(this.#dir).catch(() => [])).length === 0) return 0;
    return await withLock(this.#lock, async () => {
      const before = (await readdir(this.#dir).catch(() => [] as string[])).length;
      return before - (await this.#read()).length;
    }, LEASE_LOCK_TIMEOUT_MS);
  }

  async #read(): Promise<{ id: string; digests: string[] }[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const live = [];
    for (const id of names) {
      const path = join(this.#dir, id);
      let text: string;
      let age: number;
      try {
        text = await readFile(path, "utf8");
        age = Date.now() - (await stat(path)).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      const [first, ...rest] = text.split("\n");
      const owner = parseOwner(first);
      const expired = owner ? !(await ownerAlive(owner)) : age > UNWRITTEN_MS;
      if (expired) {
        await unlink(path).catch(() => {});
        continue;
      }
      live.push({ id, digests: rest.filter((d) => isDigest(d)) });
    }
    return live;
  }
}

/** Leases in memory, for stores used by one process (the memory store, tests, the edge). */
export class MemoryLeaseManager implements LeaseManager {
  readonly #leases = new Map<string, Set<string>>();
  #queue: Promise<unknown> = Promise.resolve();

  /** A new lease held in this object. */
  create(): Promise<Lease> {
    const id = randomUUID();
    const held = new Set<string>();
    this.#leases.set(id, held);
    let released = false;
    return Promise.resolve({
      id,
      add: async (digests: Iterable<string>) => {
        if (released) throw new TypeError(`Lease ${id} is already released`);
        const fresh = [...digests].filter((d) => isDigest(d) && !held.has(d));
        if (fresh.length) await this.#exclusive(() => fresh.forEach((d) => held.add(d)));
      },
      release: () => {
        released = true;
        this.#leases.delete(id);
        return Promise.resolve();
      },
    });
  }

  /** Runs `fn` with every digest held, while no lease can add more. */
  collect<T>(fn: (held: ReadonlySet<string>) => Promise<T>): Promise<T> {
    return this.#exclusive(() => {
      const held = new Set<string>();
      for (const set of this.#leases.values()) for (const d of set) held.add(d);
      return fn(held);
    });
  }

  #exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
