/**
 * A build context's listing as a table: per path, by its position in the sorted listing,
 * its text, type, stat columns and cached digest. Rows are kept in pages; only the pages
 * used last stay in memory and the others wait in a spill file. A context of 400,000 files
 * held about 100 bytes a file for the whole build (its paths and columns, in memory V8 and
 * malloc round up), so a build's peak grew with the context; now what stays per page of
 * 1,024 paths is its first path and where it was spilt. The spill file is unlinked as soon
 * as it is opened: a killed build leaves nothing behind. Lookups come mostly in listing
 * order (a walk, a subtree, the metadata cache), so a page read back, in one read, serves
 * a thousand of them. Private to builder/.
 *
 * Paths compare by UTF-16 code units, as JS sorts strings; a path is made a string of its
 * own only when asked for.
 *
 * @module
 */
import { closeSpillFile, openSpillFile, readAllAt, writeAllAt } from "./_spill_file.ts";

/** Options of {@linkcode ContextTable}. */
export interface ContextTableOptions {
  /**
   * Where the spill file goes once more than `residentPages` pages exist; without it every
   * page stays in memory.
   */
  spillDir?: string;
  /** Rows a page holds; a power of two. @default {1024} */
  pageRows?: number;
  /** Pages kept in memory at most. @default {48} */
  residentPages?: number;
}

/** Row flags. */
const STATTED = 1;
const KNOWN = 2;

/** Bytes of a page's fixed columns per row: numbers (3 × 8), digest (32), nlink, mode, type, flags. */
const ROW_BYTES = 24 + 32 + 4 + 2 + 1 + 1;
/** Page buffers are sized in steps of this, so that one spilt can hold the next read. */
const BUFFER_STEP = 16 << 10;

/**
 * A page in memory: its rows' columns, where each path starts, and the paths' UTF-16 units,
 * all views of one buffer. Paths are kept as units rather than a string: a page read back
 * goes into the buffer of the page it replaces, where a string per read was garbage that
 * only a full collection frees (a walk of a large listing reads every page).
 */
interface Page {
  index: number;
  buffer: Uint8Array;
  // The bytes that count: the columns, the starts and the text.
  used: number;
  numbers: Float64Array;
  digests: Uint8Array;
  nlinks: Uint32Array;
  modes: Uint16Array;
  types: Uint8Array;
  flags: Uint8Array;
  // Row r's path is text[starts[r] .. starts[r + 1]).
  starts: Uint32Array;
  text: Uint16Array;
  dirty: boolean;
}

/** See the module comment. */
export class ContextTable {
  #rows: number;
  #shift: number;
  #mask: number;
  #residentMax: number;
  #spillDir: string | undefined;
  #fd: number | undefined;
  #end = 0;
  #length = 0;
  // Per page: its first path (for searches, whatever is in memory), and where it was spilt.
  #firsts: string[] = [];
  #offsets: number[] = [];
  #sizes: number[] = [];
  // Pages in memory, the one used last at the end.
  #resident: Page[] = [];
  // The buffer of the page spilt last, for the next page read.
  #spare: Uint8Array | undefined;
  #current: Page | undefined;
  #lastAt = -1;
  #lastPath = "";
  // Rows added and not yet in a page.
  #open: string[] = [];
  #openTypes: number[] = [];
  #done = false;

  /** An empty table; rows are added with {@linkcode ContextTable.add}. */
  constructor(options: ContextTableOptions = {}) {
    this.#rows = options.pageRows ?? 1024;
    this.#shift = Math.log2(this.#rows);
    if (!Number.isInteger(this.#shift)) throw new RangeError("pageRows must be a power of two");
    this.#mask = this.#rows - 1;
    this.#residentMax = Math.max(2, options.residentPages ?? 48);
    this.#spillDir = options.spillDir;
  }

  /** Adds the next row, whose path sorts after every path added before. */
  add(path: string, type: number): void {
    if (this.#done) throw new Error("The table is complete");
    this.#open.push(path);
    this.#openTypes.push(type);
    this.#length++;
    if (this.#open.length === this.#rows) this.#seal();
  }

  /** Ends adding rows. */
  done(): void {
    if (this.#open.length > 0) this.#seal();
    this.#done = true;
  }

  /** Turns the rows added into a page. */
  #seal(): void {
    const paths = this.#open;
    let units = 0;
    for (const path of paths) units += path.length;
    const page = this.#pageOf(this.#firsts.length, units, this.#take(this.#sizeFor(units)));
    let at = 0;
    for (let r = 0; r < paths.length; r++) {
      const path = paths[r];
      page.starts[r] = at;
      for (let k = 0; k < path.length; k++) page.text[at++] = path.charCodeAt(k);
      page.types[r] = this.#openTypes[r];
    }
    page.starts[paths.length] = at;
    page.dirty = true;
    this.#firsts.push(paths[0]);
    this.#offsets.push(-1);
    this.#sizes.push(page.used);
    this.#open = [];
    this.#openTypes = [];
    this.#admit(page);
  }

  /** The bytes of a page whose paths have `units` UTF-16 units. */
  #sizeFor(units: number): number {
    return this.#rows * ROW_BYTES + (this.#rows + 1) * 4 + units * 2;
  }

  /** A buffer of at least `size` bytes: the spare one when large enough, zeroed. */
  #take(size: number): Uint8Array {
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare !== undefined && spare.length >= size) return spare.fill(0, 0, size);
    return new Uint8Array(Math.ceil(size / BUFFER_STEP) * BUFFER_STEP);
  }

  #pageOf(index: number, units: number, buffer: Uint8Array): Page {
    const rows = this.#rows;
    const at = (n: number) => buffer.byteOffset + n * rows;
    const starts = rows * ROW_BYTES;
    return {
      index,
      buffer,
      used: this.#sizeFor(units),
      numbers: new Float64Array(buffer.buffer, at(0), rows * 3),
      digests: new Uint8Array(buffer.buffer, at(24), rows * 32),
      nlinks: new Uint32Array(buffer.buffer, at(56), rows),
      modes: new Uint16Array(buffer.buffer, at(60), rows),
      types: new Uint8Array(buffer.buffer, at(62), rows),
      flags: new Uint8Array(buffer.buffer, at(63), rows),
      starts: new Uint32Array(buffer.buffer, buffer.byteOffset + starts, rows + 1),
      text: new Uint16Array(buffer.buffer, buffer.byteOffset + starts + (rows + 1) * 4, units),
      dirty: false,
    };
  }

  /** Puts `page` in memory as the one used last, spilling the one used least. */
  #admit(page: Page): void {
    this.#resident.push(page);
    this.#current = page;
    if (this.#resident.length > this.#residentMax && this.#spillDir !== undefined) {
      const out = this.#resident.shift()!;
      this.#spill(out);
      this.#spare = out.buffer;
    }
  }

  #spill(page: Page): void {
    const fd = this.#fd ??= openSpillFile(this.#spillDir!, "listing");
    if (this.#offsets[page.index] < 0) {
      this.#offsets[page.index] = this.#end;
      writeAllAt(fd, page.buffer.subarray(0, page.used), this.#end);
      this.#end += page.used;
    } else if (page.dirty) {
      // The paths and where each starts never change.
      writeAllAt(fd, page.buffer.subarray(0, this.#rows * ROW_BYTES), this.#offsets[page.index]);
    }
  }

  /** The page holding row `i`, in memory. */
  #page(i: number): Page {
    const index = i >>> this.#shift;
    const current = this.#current;
    if (current !== undefined && current.index === index && i < this.#length) return current;
    return this.#find(index, i);
  }

  #find(index: number, i: number): Page {
    if (!(i >= 0 && i < this.#length) || index >= this.#firsts.length) {
      throw new RangeError(`No row ${i} in a table of ${this.#firsts.length} pages`);
    }
    const at = this.#resident.findIndex((p) => p.index === index);
    if (at >= 0) {
      const page = this.#resident[at];
      this.#resident.splice(at, 1);
      this.#resident.push(page);
      this.#current = page;
      return page;
    }
    const size = this.#sizes[index];
    const buffer = this.#take(size);
    readAllAt(
      this.#fd!,
      buffer.subarray(0, size),
      this.#offsets[index],
      "The context's spill file",
    );
    const units = (size - this.#sizeFor(0)) / 2;
    const page = this.#pageOf(index, units, buffer);
    this.#admit(page);
    return page;
  }

  /** How many rows. */
  get length(): number {
    return this.#length;
  }

  /** Path `i`. */
  at(i: number): string {
    // A path is mostly asked for a few times in a row (to stat it, then to describe it).
    if (i === this.#lastAt) return this.#lastPath;
    const p = this.#page(i);
    const r = i & this.#mask;
    const units = p.text.subarray(p.starts[r], p.starts[r + 1]);
    // Spread, the units would each be an argument; a path is at most 4,096 bytes.
    this.#lastPath = String.fromCharCode.apply(null, units as unknown as number[]);
    this.#lastAt = i;
    return this.#lastPath;
  }

  /** The length of path `i`. */
  lengthOf(i: number): number {
    const p = this.#page(i);
    const r = i & this.#mask;
    return p.starts[r + 1] - p.starts[r];
  }

  /** Whether path `i` is `path` (false for a row that does not exist). */
  is(i: number, path: string): boolean {
    if (i < 0 || i >= this.#length) return false;
    const p = this.#page(i);
    const r = i & this.#mask;
    return p.starts[r + 1] - p.starts[r] === path.length && unitsStart(p.text, p.starts[r], path);
  }

  /** Whether path `i` starts with `prefix`. */
  startsWith(i: number, prefix: string): boolean {
    const p = this.#page(i);
    const r = i & this.#mask;
    return p.starts[r + 1] - p.starts[r] >= prefix.length &&
      unitsStart(p.text, p.starts[r], prefix);
  }

  /** Whether path `i` sorts before `value`, as strings compare (by UTF-16 code units). */
  before(i: number, value: string): boolean {
    const p = this.#page(i);
    const r = i & this.#mask;
    const text = p.text;
    const start = p.starts[r];
    const length = p.starts[r + 1] - start;
    const n = Math.min(length, value.length);
    for (let k = 0; k < n; k++) {
      const a = text[start + k];
      const b = value.charCodeAt(k);
      if (a !== b) return a < b;
    }
    return length < value.length;
  }

  /**
   * The first row from `from` on whose path is not below `value` in sorted order: the page
   * is found by the first paths kept for every page, so one page is read at most.
   */
  firstAtLeast(value: string, from: number): number {
    // The first page whose first path is not below `value`; the row is in the page before.
    let lo = 0;
    let hi = this.#firsts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#firsts[mid] < value) lo = mid + 1;
      else hi = mid;
    }
    let a = Math.max(from, Math.max(0, lo - 1) * this.#rows);
    let b = Math.min(this.#length, lo * this.#rows);
    if (a >= b) return Math.max(from, b);
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (this.before(mid, value)) a = mid + 1;
      else b = mid;
    }
    return a;
  }

  /** Row `i`'s type (a number the caller gives meaning to). */
  type(i: number): number {
    return this.#page(i).types[i & this.#mask];
  }

  /** Whether row `i` was stat'ed. */
  statted(i: number): boolean {
    return (this.#page(i).flags[i & this.#mask] & STATTED) !== 0;
  }

  /** Row `i`'s stat: type, permission bits and link count; marks it stat'ed. */
  setStat(i: number, type: number, mode: number, nlink: number): void {
    const p = this.#page(i);
    const r = i & this.#mask;
    p.types[r] = type;
    p.modes[r] = mode;
    p.nlinks[r] = nlink;
    p.flags[r] |= STATTED;
    p.dirty = true;
  }

  /** Row `i`'s permission bits. */
  mode(i: number): number {
    return this.#page(i).modes[i & this.#mask];
  }

  /** Row `i`'s link count; 0 when not known. */
  nlink(i: number): number {
    return this.#page(i).nlinks[i & this.#mask];
  }

  /** Row `i`'s number `k`: 0 size, 1 mtime (seconds), 2 inode. */
  number(i: number, k: 0 | 1 | 2): number {
    return this.#page(i).numbers[(i & this.#mask) * 3 + k];
  }

  /** Sets row `i`'s size, mtime and inode. */
  setNumbers(i: number, size: number, mtime: number, ino: number): void {
    const p = this.#page(i);
    const at = (i & this.#mask) * 3;
    p.numbers[at] = size;
    p.numbers[at + 1] = mtime;
    p.numbers[at + 2] = ino;
    p.dirty = true;
  }

  /** Whether row `i` has a digest known for its size, mtime and inode. */
  known(i: number): boolean {
    return (this.#page(i).flags[i & this.#mask] & KNOWN) !== 0;
  }

  /** Marks row `i`'s digest known or not. */
  setKnown(i: number, known: boolean): void {
    const p = this.#page(i);
    const r = i & this.#mask;
    p.flags[r] = known ? p.flags[r] | KNOWN : p.flags[r] & ~KNOWN;
    p.dirty = true;
  }

  /** Row `i`'s 32 digest bytes: a view, good until another row is asked for. */
  digest(i: number): Uint8Array {
    const r = i & this.#mask;
    return this.#page(i).digests.subarray(r * 32, r * 32 + 32);
  }

  /** Row `i`'s 32 digest bytes, to be written (the page is marked changed). */
  digestForWrite(i: number): Uint8Array {
    const p = this.#page(i);
    p.dirty = true;
    const r = i & this.#mask;
    return p.digests.subarray(r * 32, r * 32 + 32);
  }

  /** Closes the spill file. */
  close(): void {
    if (this.#fd !== undefined) closeSpillFile(this.#fd);
    this.#fd = undefined;
    this.#resident = [];
    this.#current = undefined;
  }
}

/** Whether `units` from `at` on start with `value`'s UTF-16 units. */
function unitsStart(units: Uint16Array, at: number, value: string): boolean {
  for (let k = 0; k < value.length; k++) if (units[at + k] !== value.charCodeAt(k)) return false;
  return true;
}
