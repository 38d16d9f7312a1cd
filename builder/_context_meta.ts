/**
 * The metadata cache of a build context: for each file hashed, the size, mtime and inode it
 * had then, and its digest, so that an unchanged file is not read again. Kept in columns:
 * a context of tens of thousands of files held a record array, a heap number and a digest
 * string per file alive through the whole build (V8 sizes its heap by what is alive), where
 * columns take about half. Private to builder/.
 *
 * @module
 */
import type { Digest } from "../digest/mod.ts";

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/** The on-disk form: parallel columns, one JSON document. */
interface MetaFile {
  version: 2;
  paths: string[];
  /** size, mtime (seconds), inode per path. */
  numbers: number[];
  /** The sha256 of each path, hex. */
  digests: string[];
}

/** See the module comment. */
export class ContextMeta {
  #index = new Map<string, number>();
  #numbers: number[] = [];
  #digests: string[] = [];
  #dirty = false;

  /** The cache written by {@linkcode ContextMeta.serialize}; empty for anything else. */
  static parse(text: string): ContextMeta {
    const meta = new ContextMeta();
    let file: Partial<MetaFile>;
    try {
      file = JSON.parse(text);
    } catch {
      return meta;
    }
    const { paths, numbers, digests } = file;
    if (
      file.version !== 2 || !Array.isArray(paths) || !Array.isArray(numbers) ||
      !Array.isArray(digests) || numbers.length !== paths.length * 3 ||
      digests.length !== paths.length || !digests.every((d) => HEX_DIGEST.test(d))
    ) return meta;
    meta.#numbers = numbers;
    // Whole digests, made once here rather than at each lookup.
    meta.#digests = digests.map((hex) => `sha256:${hex}`);
    for (let i = 0; i < paths.length; i++) meta.#index.set(paths[i], i);
    return meta;
  }

  /** Whether anything was set since the cache was read. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Marks what is set as written. */
  saved(): void {
    this.#dirty = false;
  }

  /** The digest `path` had when it had this size, mtime and inode; else undefined. */
  lookup(path: string, size: number, mtime: number, ino: number): Digest | undefined {
    const i = this.#index.get(path);
    if (i === undefined) return undefined;
    const n = this.#numbers;
    if (n[i * 3] !== size || n[i * 3 + 1] !== mtime || n[i * 3 + 2] !== ino) return undefined;
    return this.#digests[i] as Digest;
  }

  /** Records that `path`, with this size, mtime and inode, has `digest` (a sha256). */
  set(path: string, size: number, mtime: number, ino: number, digest: Digest): void {
    let i = this.#index.get(path);
    if (i === undefined) {
      i = this.#digests.length;
      this.#index.set(path, i);
    }
    this.#numbers[i * 3] = size;
    this.#numbers[i * 3 + 1] = mtime;
    this.#numbers[i * 3 + 2] = ino;
    // The digest as given: a slice of it would keep it alive all the same (V8 slices share
    // their parent string), and a lookup returns it without making a string.
    this.#digests[i] = digest;
    this.#dirty = true;
  }

  /** The cache as text, with only the paths `keep` accepts. */
  serialize(keep: (path: string) => boolean): string {
    const out: MetaFile = { version: 2, paths: [], numbers: [], digests: [] };
    for (const [path, i] of this.#index) {
      if (!keep(path)) continue;
      out.paths.push(path);
      out.numbers.push(this.#numbers[i * 3], this.#numbers[i * 3 + 1], this.#numbers[i * 3 + 2]);
      out.digests.push(this.#digests[i].slice(7));
    }
    return JSON.stringify(out);
  }
}
