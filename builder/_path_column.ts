/**
 * The paths of a build context's listing as one string, with where each starts. A string
 * per path cost a large context some 48 bytes a file for the whole build (its header, its
 * padding and the array's pointer to it), in the heap V8 sizes by what is alive. Lookups
 * compare in place; a path is made a string of its own only when asked for. Private to
 * builder/.
 *
 * @module
 */

/** See the module comment. */
export class PathColumn {
  #all: string;
  #starts: Uint32Array;

  /** The column of the paths `all` holds, path `i` from `starts[i]` to `starts[i + 1]`. */
  constructor(all: string, starts: Uint32Array) {
    this.#all = all;
    this.#starts = starts;
  }

  /** How many paths. */
  get length(): number {
    return this.#starts.length - 1;
  }

  /** Path `i`. */
  at(i: number): string {
    return this.#all.slice(this.#starts[i], this.#starts[i + 1]);
  }

  /** The length of path `i`. */
  lengthOf(i: number): number {
    return this.#starts[i + 1] - this.#starts[i];
  }

  /** Whether path `i` is `path`. */
  is(i: number, path: string): boolean {
    return i >= 0 && i < this.length && this.lengthOf(i) === path.length &&
      this.#all.startsWith(path, this.#starts[i]);
  }

  /** Whether path `i` starts with `prefix`. */
  startsWith(i: number, prefix: string): boolean {
    return this.lengthOf(i) >= prefix.length && this.#all.startsWith(prefix, this.#starts[i]);
  }

  /** Whether path `i` sorts before `value`, as strings compare (by UTF-16 code units). */
  before(i: number, value: string): boolean {
    const all = this.#all;
    const start = this.#starts[i];
    const length = this.lengthOf(i);
    const n = Math.min(length, value.length);
    for (let k = 0; k < n; k++) {
      const a = all.charCodeAt(start + k);
      const b = value.charCodeAt(k);
      if (a !== b) return a < b;
    }
    return length < value.length;
  }
}

/** Paths joined into this many at a time: the strings added are garbage once joined. */
const CHUNK = 4096;

/**
 * Makes a {@linkcode PathColumn} from paths added one by one (as a walk finds them), holding
 * only the last few thousand as strings of their own.
 */
export class PathColumnBuilder {
  #chunks: string[] = [];
  #chunk: string[] = [];
  #starts = new Uint32Array(CHUNK);
  #count = 0;

  /** Adds the next path. */
  add(path: string): void {
    if (this.#count + 1 === this.#starts.length) {
      const grown = new Uint32Array(this.#starts.length * 2);
      grown.set(this.#starts);
      this.#starts = grown;
    }
    this.#starts[this.#count + 1] = this.#starts[this.#count] + path.length;
    this.#count++;
    this.#chunk.push(path);
    if (this.#chunk.length === CHUNK) {
      this.#chunks.push(this.#chunk.join(""));
      this.#chunk = [];
    }
  }

  /** The column of the paths added. */
  done(): PathColumn {
    this.#chunks.push(this.#chunk.join(""));
    this.#chunk = [];
    return new PathColumn(this.#chunks.join(""), this.#starts.slice(0, this.#count + 1));
  }
}
