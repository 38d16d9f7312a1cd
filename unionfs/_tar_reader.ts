import { dropChunk } from "../storage/mod.ts";
import { TarFormatError } from "./errors.ts";
import type { EntryType, TarEntry, TarHeader } from "./tar_entry.ts";

const BLOCK = 512;
// PAX and GNU long-name records are held in memory; real ones are a few hundred bytes.
const MAX_META_SIZE = 1 << 20;
const decoder = new TextDecoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

/** Buffers an input byte stream and hands out exact-size pieces, zero-copy where it can. */
class ByteQueue {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #done = false;
  /** Bytes consumed so far, for error offsets. */
  offset = 0;

  #subject: string;

  constructor(stream: ReadableStream<Uint8Array>, subject: string) {
    this.#reader = stream.getReader();
    this.#subject = subject;
  }

  /** Decompressor errors are terse ("unexpected end of file"): say which archive and where. */
  async #read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    try {
      return await this.#reader.read();
    } catch (e) {
      if (e instanceof TarFormatError) throw e;
      throw new TarFormatError(
        this.#subject,
        this.offset + this.#buffered,
        `cannot decompress: ${(e as Error).message ?? e}`,
        { cause: e },
      );
    }
  }

  /** Makes at least `n` bytes available; false when the input ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.#buffered < n && !this.#done) {
      const { done, value } = await this.#read();
      if (done) this.#done = true;
      else if (value.length > 0) {
        this.#chunks.push(value);
        this.#buffered += value.length;
      }
    }
    return this.#buffered >= n;
  }

  /** Takes exactly `n` buffered bytes (call `fill(n)` first). */
  take(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length >= n) return this.#takeFrom(first, n);
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const part = this.#takeFrom(this.#chunks[0], Math.min(n - at, this.#chunks[0].length));
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Takes up to `n` bytes, at least one, from what is buffered or arrives next. */
  async takeSome(n: number): Promise<Uint8Array | null> {
    if (!(await this.fill(1))) return null;
    const first = this.#chunks[0];
    return this.#takeFrom(first, Math.min(n, first.length));
  }

  /** Discards `n` bytes; false when the input ended first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const part = await this.takeSome(n);
      if (!part) return false;
      n -= part.length;
      // Dropped unread: a whole file-read chunk is freed now, not at the next GC.
      dropChunk(part);
    }
    return true;
  }

  /** Reads and drops everything that is left (end-of-archive padding). */
  async drain(): Promise<void> {
    this.#chunks = [];
    this.#buffered = 0;
    while (!this.#done) {
      const { done } = await this.#read();
      if (done) this.#done = true;
    }
  }

  async cancel(reason: unknown): Promise<void> {
    await this.#reader.cancel(reason).catch(() => {});
  }

  #takeFrom(chunk: Uint8Array, n: number): Uint8Array {
    const part = chunk.subarray(0, n);
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    this.#buffered -= n;
    this.offset += n;
    return part;
  }
}

function readString(block: Uint8Array, offset: number, size: number): string {
  let end = offset;
  while (end < offset + size && block[end] !== 0) end++;
  return decoder.decode(block.subarray(offset, end));
}

function readNumber(block: Uint8Array, offset: number, size: number): number {
  if (block[offset] & 0x80) {
    // GNU base-256: used for sizes over 8 GiB and large ids.
    if (block[offset] === 0xff) return NaN;
    let value = block[offset] & 0x7f;
    for (let i = offset + 1; i < offset + size; i++) value = value * 256 + block[i];
    return value;
  }
  let value = 0;
  let seen = false;
  for (let i = offset; i < offset + size; i++) {
    const c = block[i];
    if (c === 0 || (c === 0x20 && seen)) break;
    if (c === 0x20) continue;
    if (c < 0x30 || c > 0x37) return NaN;
    value = value * 8 + (c - 0x30);
    seen = true;
  }
  return value;
}

function checksumOk(block: Uint8Array): boolean {
  const stored = readNumber(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** PAX records keep raw value bytes: xattr values are binary. */
function parsePax(data: Uint8Array, fail: (why: string) => never): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  let at = 0;
  while (at < data.length) {
    let space = at;
    while (space < data.length && data[space] !== 0x20) space++;
    const length = Number(decoder.decode(data.subarray(at, space)));
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > data.length) {
      if (data.subarray(at).every((b) => b === 0)) break;
      fail("malformed PAX record length");
    }
    const record = data.subarray(space + 1, at + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0 || data[at + length - 1] !== 0x0a) fail("malformed PAX record");
    records.set(decoder.decode(record.subarray(0, eq)), record.slice(eq + 1));
    at += length;
  }
  return records;
}

function base64Decode(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function applyPax(header: TarHeader, pax: Map<string, Uint8Array>, fail: (why: string) => never) {
  for (const [key, raw] of pax) {
    const text = () => {
      try {
        return strictDecoder.decode(raw);
      } catch {
        fail(`PAX record "${key}" is not UTF-8`);
      }
    };
    const num = () => {
      const v = Number(text());
      if (!Number.isFinite(v) || v < 0) fail(`PAX record "${key}" is not a number`);
      return v;
    };
    if (key === "path") header.name = text();
    else if (key === "linkpath") header.linkname = text();
    else if (key === "size") header.size = num();
    else if (key === "uid") header.uid = num();
    else if (key === "gid") header.gid = num();
    else if (key === "mtime") header.mtime = num();
    else if (key === "uname") header.uname = text();
    else if (key === "gname") header.gname = text();
    else if (key.startsWith("SCHILY.xattr.")) header.xattrs[key.slice(13)] = raw;
    else if (key.startsWith("LIBARCHIVE.xattr.")) {
      header.xattrs[decodeURIComponent(key.slice(17))] = base64Decode(text());
    } else if (key.startsWith("GNU.sparse.")) fail("sparse files are not supported");
  }
}

/**
 * An entry's body as plain reads: what {@linkcode readTarEntries} hands out instead of a
 * `ReadableStream`, whose setup and reader release cost more than a small file's bytes.
 */
export interface BodyReader {
  /** The next piece of the body, or null at its end; throws if the archive ends first. */
  read(): Promise<Uint8Array | null>;
}

/** One tar entry whose body is a {@linkcode BodyReader}. */
export interface RawTarEntry {
  /** The entry's metadata. */
  header: TarHeader;
  /** The entry's bytes; what is left unread is skipped when the next entry is read. */
  body: BodyReader;
}

/**
 * Parses a tar byte stream into entries, one at a time, holding at most one input chunk
 * plus a header in memory. `subject` names the archive in errors.
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  subject: string,
): AsyncGenerator<TarEntry> {
  for await (const { header, body } of readTarEntries(stream, subject)) {
    let done = false;
    const bodyStream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const part = await body.read();
          if (part) return controller.enqueue(part);
          controller.close();
        } catch (e) {
          controller.error(e);
        }
        done = true;
      },
      cancel() {
        done = true;
      },
    }, { highWaterMark: 0 });
    yield { header, body: bodyStream };
    if (!done) await bodyStream.cancel().catch(() => {});
  }
}

/** {@linkcode readTar} with bodies as {@linkcode BodyReader}s: the fast path of flatten. */
export async function* readTarEntries(
  stream: ReadableStream<Uint8Array>,
  subject: string,
): AsyncGenerator<RawTarEntry> {
  const q = new ByteQueue(stream, subject);
  let ok = false;
  try {
    let globalPax = new Map<string, Uint8Array>();
    let localPax: Map<string, Uint8Array> | null = null;
    let longName: string | null = null;
    let longLink: string | null = null;
    while (true) {
      const at = q.offset;
      const fail = (why: string): never => {
        throw new TarFormatError(subject, at, why);
      };
      if (!(await q.fill(BLOCK))) {
        if (q.offset === 0 && !(await q.fill(1))) fail("the archive is empty");
        fail("the archive is truncated (no end-of-archive marker)");
      }
      const block = q.take(BLOCK).slice();
      if (isZeroBlock(block)) {
        await q.drain();
        ok = true;
        return;
      }
      if (!checksumOk(block)) fail("header checksum mismatch (not a tar, or corrupt)");
      const flag = String.fromCharCode(block[156]);
      const size = readNumber(block, 124, 12);
      if (!Number.isSafeInteger(size) || size < 0) fail("invalid size field");
      const padded = size + ((BLOCK - (size % BLOCK)) % BLOCK);
      if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
        if (size > MAX_META_SIZE) fail(`a ${flag} meta entry of ${size} bytes is too large`);
        if (!(await q.fill(padded))) fail("the archive is truncated inside a meta entry");
        const data = q.take(padded).slice(0, size);
        if (flag === "x") localPax = new Map([...(localPax ?? []), ...parsePax(data, fail)]);
        else if (flag === "g") globalPax = new Map([...globalPax, ...parsePax(data, fail)]);
        else {
          const end = data.indexOf(0);
          const value = decoder.decode(end < 0 ? data : data.subarray(0, end));
          if (flag === "L") longName = value;
          else longLink = value;
        }
        continue;
      }
      const type = TYPES[flag];
      if (!type) {
        fail(`entry type "${flag}" is not supported (${flag === "S" ? "sparse file" : "unknown"})`);
      }
      const magic = readString(block, 257, 6);
      let name = readString(block, 0, 100);
      // GNU headers ("ustar  ") reuse the prefix field for times; only POSIX ustar has one.
      if (magic === "ustar" && block[262] === 0) {
        const prefix = readString(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      const header: TarHeader = {
        name,
        type,
        mode: readNumber(block, 100, 8) & 0o7777,
        uid: readNumber(block, 108, 8),
        gid: readNumber(block, 116, 8),
        size,
        mtime: readNumber(block, 136, 12),
        linkname: readString(block, 157, 100),
        devmajor: type === "char" || type === "block" ? readNumber(block, 329, 8) : 0,
        devminor: type === "char" || type === "block" ? readNumber(block, 337, 8) : 0,
        xattrs: {},
      };
      if (magic.startsWith("ustar")) {
        header.uname = readString(block, 265, 32);
        header.gname = readString(block, 297, 32);
      }
      applyPax(header, globalPax, fail);
      if (localPax) applyPax(header, localPax, fail);
      if (longName !== null) header.name = longName;
      if (longLink !== null) header.linkname = longLink;
      localPax = longName = longLink = null;
      for (const field of ["uid", "gid", "mtime", "devmajor", "devminor"] as const) {
        if (!Number.isFinite(header[field])) fail(`invalid ${field} field`);
      }
      if (!Number.isSafeInteger(header.size) || header.size < 0) fail("invalid size");
      // Old tars mark directories only by a trailing slash.
      if (type === "file" && header.name.endsWith("/")) header.type = "directory";
      // Only regular files carry a body; some writers record a size on hardlinks anyway.
      const bodySize = header.type === "file" || header.type === "hardlink" ? header.size : 0;
      if (header.type !== "file") header.size = 0;
      const bodyPadded = bodySize + ((BLOCK - (bodySize % BLOCK)) % BLOCK);
      let remaining = bodySize;
      const bodyStart = q.offset;
      const body: BodyReader = {
        async read() {
          if (remaining === 0) return null;
          const part = await q.takeSome(remaining);
          if (!part) {
            const e = new TarFormatError(
              subject,
              bodyStart + bodySize - remaining,
              `the archive is truncated inside "${header.name}"`,
            );
            throw e;
          }
          remaining -= part.length;
          return part;
        },
      };
      yield { header, body };
      const left = remaining;
      remaining = 0;
      if (!(await q.skip(left + bodyPadded - bodySize))) {
        throw new TarFormatError(subject, q.offset, `the archive is truncated inside "${name}"`);
      }
    }
  } finally {
    if (!ok) await q.cancel("tar reading stopped");
  }
}
