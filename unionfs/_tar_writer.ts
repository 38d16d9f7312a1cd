import type { EntryType, TarHeader } from "./tar_entry.ts";
import { concatBytes } from "../storage/mod.ts";

const BLOCK = 512;
const encoder = new TextEncoder();
const FLAGS: Record<EntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};
const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

/** What the writer needs: a header whose optional parts may be left out. */
export type WriteHeader =
  & Pick<TarHeader, "name" | "type">
  & Partial<Omit<TarHeader, "name" | "type">>;

/** An entry to write; `body` must hold exactly `header.size` bytes for regular files. */
export interface WriteEntry {
  /** The entry's metadata. */
  header: WriteHeader;
  /** The body of a regular file. */
  body?: ReadableStream<Uint8Array> | Uint8Array;
}

function writeString(block: Uint8Array, offset: number, size: number, value: string): void {
  // Header fields are nearly always ASCII: one byte per code unit, without an encoder call
  // (which costs more than the rest of a header for a 30,000-file layer).
  const n = Math.min(size, value.length);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7f) {
      block.set(encoder.encode(value).subarray(0, size), offset);
      return;
    }
    block[offset + i] = c;
  }
}

function writeOctal(block: Uint8Array, offset: number, size: number, value: number): void {
  writeString(block, offset, size - 1, Math.floor(value).toString(8).padStart(size - 1, "0"));
}

function isAscii(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /^[\x01-\x7f]*$/.test(s);
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = encoder.encode(` ${key}=`).length + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(len - rest).length) len = rest + String(len).length;
  const head = encoder.encode(`${len} ${key}=`);
  const out = new Uint8Array(len);
  out.set(head);
  out.set(value, head.length);
  out[len - 1] = 0x0a;
  return out;
}

function splitUstar(name: string): [string, string] | null {
  if (!isAscii(name)) return null;
  if (name.length <= 100) return ["", name];
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] === "/" && i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return [name.slice(0, i), name.slice(i + 1)];
    }
  }
  return null;
}

function ustarBlock(
  h: WriteHeader,
  name: string,
  prefix: string,
  flag: string,
  size: number,
): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, (h.mode ?? (h.type === "directory" ? 0o755 : 0o644)) & 0o7777);
  writeOctal(block, 108, 8, Math.min(h.uid ?? 0, MAX_OCTAL_8));
  writeOctal(block, 116, 8, Math.min(h.gid ?? 0, MAX_OCTAL_8));
  writeOctal(block, 124, 12, Math.min(size, MAX_OCTAL_12));
  writeOctal(block, 136, 12, Math.min(Math.max(0, h.mtime ?? 0), MAX_OCTAL_12));
  block[156] = flag.charCodeAt(0);
  writeString(block, 157, 100, isAscii(h.linkname ?? "") ? h.linkname ?? "" : "");
  writeString(block, 257, 8, "ustar\x0000");
  writeString(block, 265, 32, h.uname ?? "");
  writeString(block, 297, 32, h.gname ?? "");
  writeOctal(block, 329, 8, h.devmajor ?? 0);
  writeOctal(block, 337, 8, h.devminor ?? 0);
  writeString(block, 345, 155, prefix);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i];
  writeOctal(block, 148, 7, sum);
  return block;
}

function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

/**
 * The header blocks for one entry: a PAX record block first when a field does not fit
 * ustar (long or non-ASCII names, big ids or sizes, xattrs). Records are sorted so the
 * same entry always gives the same bytes.
 */
export function encodeHeader(h: WriteHeader): Uint8Array {
  const name = h.type === "directory" && !h.name.endsWith("/") ? `${h.name}/` : h.name;
  const size = h.type === "file" ? h.size ?? 0 : 0;
  const records: [string, Uint8Array][] = [];
  const split = splitUstar(name);
  if (!split) records.push(["path", encoder.encode(name)]);
  const link = h.linkname ?? "";
  if (link.length > 100 || !isAscii(link)) records.push(["linkpath", encoder.encode(link)]);
  if ((h.uid ?? 0) > MAX_OCTAL_8) records.push(["uid", encoder.encode(String(h.uid))]);
  if ((h.gid ?? 0) > MAX_OCTAL_8) records.push(["gid", encoder.encode(String(h.gid))]);
  if (size > MAX_OCTAL_12) records.push(["size", encoder.encode(String(size))]);
  for (const key of Object.keys(h.xattrs ?? {}).sort()) {
    records.push([`SCHILY.xattr.${key}`, h.xattrs![key]]);
  }
  records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const [prefix, short] = split ?? ["", name.slice(-100).replace(/[^\x20-\x7e]/g, "_")];
  const main = ustarBlock(h, short, prefix, FLAGS[h.type], size);
  if (records.length === 0) return main;
  const body = concatBytes(records.map(([k, v]) => paxRecord(k, v)));
  const paxName = `PaxHeaders/${short.slice(-80)}`.replace(/[^\x20-\x7e]/g, "_");
  const paxHead = ustarBlock({ ...h, type: "file", xattrs: {} }, paxName, "", "x", body.length);
  return concatBytes([paxHead, body, new Uint8Array(pad(body.length)), main]);
}

/** The size of the chunks the writer hands on: small entries are packed together. */
const CHUNK = 256 * 1024;

/**
 * Writes entries as one tar stream. Entries are pulled only when the consumer wants bytes,
 * and a streamed body is handed on chunk by chunk, so memory stays at one chunk whatever
 * the sizes. Headers, bodies held in memory and padding are packed into chunks of 256 KiB:
 * a chunk per header and per small file made every stage downstream (hashes, gzip, the blob
 * writer) pay per file.
 */
export function writeTar(
  entries: AsyncIterable<WriteEntry> | Iterable<WriteEntry>,
): ReadableStream<Uint8Array> {
  // A new buffer per chunk: a consumer may keep a chunk (and a fresh one reads as zeros,
  // which is the padding).
  let buf = new Uint8Array(CHUNK);
  let at = 0;
  function take(): Uint8Array {
    const out = buf.subarray(0, at);
    buf = new Uint8Array(CHUNK);
    at = 0;
    return out;
  }
  async function* generate(): AsyncGenerator<Uint8Array> {
    // Copies `bytes` in, or hands them on as they are when big (after what is packed).
    function* put(bytes: Uint8Array): Generator<Uint8Array> {
      if (bytes.length > CHUNK - at) {
        if (at > 0) yield take();
        if (bytes.length >= CHUNK / 4) {
          yield bytes;
          return;
        }
      }
      buf.set(bytes, at);
      at += bytes.length;
    }
    function* skip(n: number): Generator<Uint8Array> {
      if (n > CHUNK - at) yield take();
      at += n;
    }
    for await (const { header, body } of entries) {
      yield* put(encodeHeader(header));
      if (header.type !== "file") continue;
      const size = header.size ?? 0;
      let written = 0;
      if (body instanceof Uint8Array) {
        if (body.length > 0) yield* put(body);
        written = body.length;
      } else if (body) {
        // A streamed (big) body passes through as its chunks come: copying them would
        // only make garbage.
        if (at > 0) yield take();
        for await (const chunk of body) {
          written += chunk.length;
          if (written > size) break;
          if (chunk.length > 0) yield chunk;
        }
      }
      if (written !== size) {
        throw new RangeError(
          `Cannot write tar entry "${header.name}": header says ${size} bytes, body has ${
            written > size ? "more" : written
          }`,
        );
      }
      yield* skip(pad(size));
    }
    yield* skip(BLOCK * 2);
    yield take();
  }
  const it = generate();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await it.throw(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
