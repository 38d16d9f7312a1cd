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

  /** The column of `paths`, `count` of them. */
  constructor(paths: Iterable<string>, count: number) {
    const parts = new Array<string>(count);
    this.#starts = new Uint32Array(count + 1);
    let i = 0;
    for (const path of paths) {
      parts[i] = path;
      this.#starts[i + 1] = this.#starts[i] + path.length;
      i++;
    }
    if (i !== count) throw new RangeError(`Expected ${count} paths, got ${i}`);
    this.#all = parts.join("");
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
