/**
 * The bytes of files in a stack of layers, read the way a copy asks for them: a copy
 * writes in path order, and a layer is mostly in that order too, so each layer is read
 * front to back once, from where the last file was found. A file passed on the way that
 * the copy will still ask for (it said which, {@linkcode LayerBodies.want}) waits in one
 * spool file, unlinked as it is opened, or in memory without a spool directory. A file
 * asked for again, or one nobody said would be wanted, reads its layer again from the
 * start. Memory holds a bit per layer entry and where each waiting file is, not the
 * files. Private to builder/.
 *
 * @module
 */
import { closeSpillFile, openSpillFile, readAllAt, writeAllAt } from "./_spill_file.ts";
import { type LayerSource, openLayerEntries, type RawTarEntry } from "../unionfs/mod.ts";

/** Bodies at most this large are handed over as bytes; larger ones stream. */
const SMALL = 64 * 1024;

interface Cursor {
  entries: AsyncGenerator<RawTarEntry>;
  // The index of the entry `entries` gives next.
  next: number;
}

/** Where a passed file's bytes wait: in the spool file, or in memory. */
type Parked = { at: number; size: number } | Uint8Array;

/** See the module comment. */
export class LayerBodies {
  #sources: readonly LayerSource[];
  #spoolDir: string | undefined;
  #fd: number | undefined;
  #end = 0;
  #cursors = new Map<number, Cursor>();
  // Per layer, a bit per entry the copy said it will ask for.
  #wanted = new Map<number, Uint8Array>();
  #parked = new Map<number, Map<number, Parked>>();

  /** Bodies of `sources` (bottom first); files waiting go to a spool file in `spoolDir`. */
  constructor(sources: readonly LayerSource[], spoolDir?: string) {
    this.#sources = sources;
    this.#spoolDir = spoolDir;
  }

  /** Says that entry `entry` of layer `layer` will be asked for. */
  want(layer: number, entry: number): void {
    let bits = this.#wanted.get(layer);
    if (bits === undefined || bits.length <= entry >>> 3) {
      const grown = new Uint8Array(Math.max(64, (entry >>> 3) + 1, (bits?.length ?? 0) * 2));
      if (bits) grown.set(bits);
      this.#wanted.set(layer, bits = grown);
    }
    bits[entry >>> 3] |= 1 << (entry & 7);
  }

  /**
   * The body of entry `entry` of layer `layer`, `size` bytes; `name` says which in errors.
   * A large body streams from the layer itself: read it to its end before asking for the
   * next body of that layer, as a copy writing one file after another does.
   */
  async read(
    layer: number,
    entry: number,
    size: number,
    name: string,
  ): Promise<ReadableStream<Uint8Array> | Uint8Array> {
    const parked = this.#parked.get(layer)?.get(entry);
    if (parked !== undefined) {
      this.#parked.get(layer)!.delete(entry);
      return parked instanceof Uint8Array ? parked : this.#unspool(parked);
    }
    let cursor = this.#cursors.get(layer);
    if (cursor === undefined || cursor.next > entry) {
      await cursor?.entries.return(undefined);
      cursor = { entries: openLayerEntries(this.#sources[layer]), next: 0 };
      this.#cursors.set(layer, cursor);
    }
    for (;;) {
      const step = await cursor.entries.next();
      if (step.done) {
        this.#cursors.delete(layer);
        throw new Error(`Cannot read "${name}": its layer ends before its entry ${entry}`);
      }
      const at = cursor.next++;
      const { body } = step.value;
      const bits = this.#wanted.get(layer);
      const wanted = bits !== undefined && (bits[at >>> 3] & (1 << (at & 7))) !== 0;
      // Handed over or parked now, it is not kept again if the layer is read anew.
      if (wanted) bits[at >>> 3] &= ~(1 << (at & 7));
      if (at === entry) {
        if (size <= SMALL) return await readAll(body.read.bind(body), size);
        return new ReadableStream<Uint8Array>({
          async pull(controller) {
            const part = await body.read();
            if (part) controller.enqueue(part.slice());
            else controller.close();
          },
        }, { highWaterMark: 0 });
      }
      if (wanted) {
        let parkedHere = this.#parked.get(layer);
        if (!parkedHere) this.#parked.set(layer, parkedHere = new Map());
        parkedHere.set(at, await this.#park(body.read.bind(body), step.value.header.size));
      }
      // What is left of a body is skipped when the next entry is read.
    }
  }

  /** Closes the layers still open and the spool file. */
  async close(): Promise<void> {
    for (const cursor of this.#cursors.values()) await cursor.entries.return(undefined);
    this.#cursors.clear();
    this.#parked.clear();
    if (this.#fd !== undefined) closeSpillFile(this.#fd);
    this.#fd = undefined;
  }

  async #park(read: () => Promise<Uint8Array | null>, size: number): Promise<Parked> {
    if (this.#spoolDir === undefined) return await readAll(read, size);
    const fd = this.#fd ??= openSpillFile(this.#spoolDir, "bodies");
    const at = this.#end;
    let written = 0;
    for (let part = await read(); part; part = await read()) {
      writeAllAt(fd, part, at + written);
      written += part.length;
    }
    this.#end += written;
    return { at, size: written };
  }

  #unspool(parked: { at: number; size: number }): Uint8Array | ReadableStream<Uint8Array> {
    const fd = this.#fd!;
    const readAt = (into: Uint8Array, position: number) =>
      readAllAt(fd, into, position, "The copy's spool file");
    if (parked.size <= SMALL) {
      const bytes = new Uint8Array(parked.size);
      readAt(bytes, parked.at);
      return bytes;
    }
    let done = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const n = Math.min(SMALL, parked.size - done);
        if (n === 0) return controller.close();
        const bytes = new Uint8Array(n);
        readAt(bytes, parked.at + done);
        done += n;
        controller.enqueue(bytes);
      },
    }, { highWaterMark: 0 });
  }
}

/** All of a body, `size` bytes expected, in one array. */
async function readAll(read: () => Promise<Uint8Array | null>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for (let part = await read(); part; part = await read()) {
    if (at + part.length > out.length) throw new Error("A layer entry is longer than its header");
    out.set(part, at);
    at += part.length;
  }
  return at === out.length ? out : out.subarray(0, at);
}
