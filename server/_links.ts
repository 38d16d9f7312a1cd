/** Options for {@linkcode BlobLinks}. */
export interface BlobLinksOptions {
  /** Most links kept; the oldest are forgotten first. @default {100000} */
  max?: number;
}

/**
 * The blobs uploaded or mounted into each repository, the distribution registry's
 * `_layers` links: a blob is reachable through a repository only when the repository links
 * it, so knowing a digest is not enough to read another repository's content.
 *
 * Links made by manifests live in the store (the repository's tag and digest records name
 * the manifests, and the manifests name their blobs); these are the links no manifest makes
 * yet, between a blob's upload and the manifest `PUT` that uses it. They live in memory:
 * after a restart a client's `HEAD` misses and it uploads the blob again, which re-links
 * it. The bound keeps a long-running server's memory flat; pushes finish long before a
 * link becomes the oldest of 100,000.
 */
export class BlobLinks {
  readonly #max: number;
  /** `repo` + "\n" + digest, in the order linked (a Map keeps insertion order). */
  readonly #links = new Map<string, true>();

  constructor(options: BlobLinksOptions = {}) {
    this.#max = options.max ?? 100_000;
  }

  /** Links `digest` into `repo`. */
  link(repo: string, digest: string): void {
    const key = `${repo}\n${digest}`;
    this.#links.delete(key); // re-linking makes it the newest
    this.#links.set(key, true);
    while (this.#links.size > this.#max) {
      this.#links.delete(this.#links.keys().next().value!);
    }
  }

  /** True when `repo` links `digest`. */
  has(repo: string, digest: string): boolean {
    return this.#links.has(`${repo}\n${digest}`);
  }

  /** Removes `repo`'s link to `digest`; false when there was none. */
  unlink(repo: string, digest: string): boolean {
    return this.#links.delete(`${repo}\n${digest}`);
  }

  /** True when any repository links `digest`. */
  linkedAnywhere(digest: string): boolean {
    const tail = `\n${digest}`;
    for (const key of this.#links.keys()) if (key.endsWith(tail)) return true;
    return false;
  }
}
