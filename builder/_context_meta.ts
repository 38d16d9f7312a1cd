/**
 * The metadata cache of a build context: for each file hashed, the size, mtime and inode it
 * had then, and its digest, so that an unchanged file is not read again. Kept in the
 * context's table (`_context_table.ts`), by the position of each path in the listing, with
 * digests as 32 bytes: per file, a record or a hex string and a second copy of the path
 * stayed alive through the whole build. The size, mtime and inode share the table's own
 * columns: those recorded stand there until the path is stat'ed, when a digest recorded
 * for other ones is forgotten. Private to builder/.
 *
 * On disk it is binary (`SCM3`, a count, then per path its UTF-8 length and bytes, size,
 * mtime and inode as float64 and the digest), read with no string made but the paths.
 *
 * @module
 */
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import process from "node:process";
import type { Digest } from "../digest/mod.ts";
import type { ContextTable } from "./_context_table.ts";

const MAGIC = [0x53, 0x43, 0x4d, 0x33]; // "SCM3"
const HEAD = 8;
/** Size, mtime and inode (float64 each), then the digest. */
const FIXED = 24 + 32;

/** See the module comment. */
export class ContextMeta {
  #table: ContextTable;
  // Paths with a digest known: the count the file starts with.
  #entries = 0;
  #dirty = false;
  #hex = new Uint8Array(71);

  /** An empty cache in `table`, the context's listing, whose size, mtime and inode it shares. */
  constructor(table: ContextTable) {
    this.#table = table;
    this.#hex.set(PREFIX);
  }

  /**
   * The cache {@linkcode ContextMeta.serialize} wrote, read from `pieces` (each may be
   * reused once the next is asked for), for the paths `indexOf` places in the listing
   * in `table`, before any is stat'ed; empty when the bytes are anything else. Read a
   * piece at a time: the file is 90 bytes a context file.
   */
  static async read(
    pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    table: ContextTable,
    indexOf: (path: string) => number | undefined,
  ): Promise<ContextMeta> {
    let touched = false;
    const empty = () => {
      // What was read of it is not trusted either.
      for (let i = 0; touched && i < table.length; i++) {
        table.setNumbers(i, 0, 0, 0);
        table.setKnown(i, false);
      }
      return new ContextMeta(table);
    };
    const decoder = new TextDecoder("utf-8", { fatal: true });
    // Filled as read, and dropped whole if the rest turns out bad: no list of what was
    // found waits for the end (a record per path of a large context).
    const meta = empty();
    let entries = -1;
    let read = 0;
    // The start of a record the last piece cut.
    let carry = new Uint8Array(0);
    // A read that fails part way leaves no half-read rows behind.
    try {
      for await (const piece of pieces) {
        const bytes = carry.length === 0 ? piece : joined(carry, piece);
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        let at = 0;
        if (entries < 0) {
          if (bytes.length < HEAD) {
            carry = bytes.slice();
            continue;
          }
          if (MAGIC.some((b, i) => bytes[i] !== b)) return empty();
          entries = view.getUint32(4, true);
          at = HEAD;
        }
        try {
          while (read < entries && at + 4 <= bytes.length) {
            const length = view.getUint32(at, true);
            // A length no path has: cut or damaged, and not to be gathered piece by piece.
            if (length > MAX_PATH_BYTES) return empty();
            const end = at + 4 + length;
            if (end + FIXED > bytes.length) break;
            const i = indexOf(decoder.decode(bytes.subarray(at + 4, end)));
            if (i !== undefined && !table.known(i)) {
              touched = true;
              table.setKnown(i, true);
              meta.#entries++;
              table.setNumbers(
                i,
                view.getFloat64(end, true),
                view.getFloat64(end + 8, true),
                view.getFloat64(end + 16, true),
              );
              table.digestForWrite(i).set(bytes.subarray(end + 24, end + FIXED));
            }
            read++;
            at = end + FIXED;
          }
        } catch {
          return empty(); // Not UTF-8: nothing from it is trusted.
        }
        if (read === entries && at < bytes.length) return empty();
        carry = bytes.slice(at);
      }
    } catch (error) {
      empty();
      throw error;
    }
    return read === entries && carry.length === 0 ? meta : empty();
  }

  /**
   * {@linkcode ContextMeta.read} of the file at `path`.
   *
   * @throws when the file cannot be read (there is none yet).
   */
  static async load(
    path: string,
    table: ContextTable,
    indexOf: (path: string) => number | undefined,
  ): Promise<ContextMeta> {
    return await ContextMeta.read(filePieces(path), table, indexOf);
  }

  /**
   * Writes the cache to `path` (a temp file renamed over it: readers see all of it or
   * none) and marks it saved.
   */
  async save(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    const out = await open(tmp, "w");
    try {
      for (const piece of this.serialize()) {
        for (let at = 0; at < piece.length;) {
          at += (await out.write(piece, at, piece.length - at)).bytesWritten;
        }
      }
    } finally {
      await out.close();
    }
    await rename(tmp, path);
    // The JSON cache earlier versions kept is not read.
    await rm(path.replace(/\.meta$/, ".json"), { force: true });
    this.#dirty = false;
  }

  /** Whether anything was set since the cache was read. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /**
   * Path `i` now has this size, mtime and inode (its first stat): its digest is forgotten
   * when they are not those recorded with it, and they go into the column.
   */
  stated(i: number, size: number, mtime: number, ino: number): void {
    const t = this.#table;
    if (
      t.known(i) && (t.number(i, 0) !== size || t.number(i, 1) !== mtime || t.number(i, 2) !== ino)
    ) {
      t.setKnown(i, false);
      this.#entries--;
    }
    t.setNumbers(i, size, mtime, ino);
  }

  /** The digest of path `i` for the size, mtime and inode in the column; else undefined. */
  lookup(i: number): Digest | undefined {
    if (!this.#table.known(i)) return undefined;
    const hex = this.#hex;
    const digest = this.#table.digest(i);
    for (let k = 0; k < 32; k++) {
      const b = digest[k];
      hex[7 + k * 2] = HEX_DIGITS[b >> 4];
      hex[8 + k * 2] = HEX_DIGITS[b & 15];
    }
    return LATIN1.decode(hex) as Digest;
  }

  /** Records that path `i`, with the size, mtime and inode in the column, has `digest`. */
  set(i: number, digest: Digest): void {
    if (digest.length !== 71 || !digest.startsWith("sha256:")) {
      throw new TypeError(`Not a sha256 digest: ${digest}`);
    }
    const bytes = this.#table.digestForWrite(i);
    for (let k = 0; k < 32; k++) {
      bytes[k] = (nibble(digest.charCodeAt(7 + k * 2)) << 4) | nibble(digest.charCodeAt(8 + k * 2));
    }
    if (!this.#table.known(i)) {
      this.#table.setKnown(i, true);
      this.#entries++;
    }
    this.#dirty = true;
  }

  /**
   * The cache as bytes, a piece at a time: each piece is reused for the next once the
   * caller has written it.
   */
  *serialize(): Generator<Uint8Array> {
    const encoder = new TextEncoder();
    const table = this.#table;
    let out = new Uint8Array(SERIALIZE_PIECE);
    let view = new DataView(out.buffer);
    out.set(MAGIC);
    view.setUint32(4, this.#entries, true);
    let at = HEAD;
    for (let i = 0; i < table.length; i++) {
      if (!table.known(i)) continue;
      const path = table.at(i);
      const room = 4 + path.length * 3 + FIXED;
      if (at + room > out.length) {
        yield out.subarray(0, at);
        at = 0;
        if (room > out.length) {
          out = new Uint8Array(room);
          view = new DataView(out.buffer);
        }
      }
      const { written } = encoder.encodeInto(path, out.subarray(at + 4));
      view.setUint32(at, written, true);
      at += 4 + written;
      view.setFloat64(at, table.number(i, 0), true);
      view.setFloat64(at + 8, table.number(i, 1), true);
      view.setFloat64(at + 16, table.number(i, 2), true);
      out.set(table.digest(i), at + 24);
      at += FIXED;
    }
    yield out.subarray(0, at);
  }
}

/** The longest path a record may hold; a larger length is damage. */
const MAX_PATH_BYTES = 1 << 20;

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Bytes of the cache written at a time. */
const SERIALIZE_PIECE = 1 << 20;

const PREFIX = new TextEncoder().encode("sha256:");
const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");
const LATIN1 = new TextDecoder("latin1");

function nibble(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57;
}

/** The bytes of the file at `path`, a reused quarter megabyte at a time. */
async function* filePieces(path: string): AsyncGenerator<Uint8Array> {
  const file = await open(path, "r");
  try {
    const buffer = new Uint8Array(1 << 18);
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}
