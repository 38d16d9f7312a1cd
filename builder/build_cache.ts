/**
 * The build cache: BuildKit-like step keys and a persistent index in the store root.
 *
 * A step's key is the sha256 of its parent's key, the instruction after expansion, the
 * ARG values it sees (RUN only, as BuildKit puts ARGs in RUN's environment) and the digests
 * of its inputs (context files, a source stage, a downloaded URL). One record per key
 * (`<root>/build-cache/steps/<hex>.json`) holds the stage's state after the step: its
 * config and layers, so a hit restores the step without running it and a fully cached
 * build gives the same image ID. The components of each build's keys are kept per
 * context, Dockerfile and target (`runs/`), so a miss can be explained against the last
 * build: which context file, ARG, base image or earlier step changed.
 *
 * @module
 */
import { closeSync, openSync, writeSync } from "node:fs";
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { createHasher, sha256 } from "../digest/mod.ts";
import type { Descriptor, ImageConfig } from "../image/mod.ts";

/** A layer as the build carries it: the blob's descriptor and its uncompressed digest. */
export type { LayerRef } from "../image/mod.ts";
import type { LayerRef } from "../image/mod.ts";

/** What goes into a step's key. */
export interface KeyComponents {
  /** The previous step's key (for a FROM: empty). */
  parent: string;
  /** The instruction as it runs: keyword, flags and expanded arguments. */
  instruction: string;
  /** ARG values the step sees, when they matter to it (RUN). */
  args?: Record<string, string>;
  /** Input names → content digests (context files `ctx:path`, `stage:name`, `url:...`). */
  inputs?: Record<string, string>;
  /**
   * More inputs, too many to hold (a COPY's context files): produced in name order while
   * the key is made, and part of `inputs` in the key and the run record.
   */
  streamed?: InputStream;
}

/** Inputs of a step produced one by one, in ascending order of name, when asked. */
export interface InputStream {
  /** Calls `emit` for each input, names ascending and each once. */
  each(emit: (name: string, value: string) => void): void;
}

/** The state of a stage after a step, as the cache keeps it. */
export interface CacheRecord {
  /** The image config after the step. */
  image: ImageConfig;
  /** Whether the stage had set CMD. */
  cmdSet: boolean;
  /** The stage's layers after the step. */
  layers: LayerRef[];
}

/** One step of this build, as it goes into the run record: components as canonical JSON. */
export interface RecordedStep {
  /** `stage-index/step-index`, the step's position. */
  position: string;
  /** Human text of the step. */
  label: string;
  /** The key. */
  key: string;
  /**
   * What made the key, as {@linkcode KeyedComponents.json}; or, when that is large, the
   * file {@linkcode recordedComponents} put it in.
   */
  componentsJson: string | { file: string };
}

/** Components this long or longer wait for the run record in a file, not in memory. */
const SPOOLED_COMPONENTS = 64 << 10;

/**
 * A step's components as a build keeps them until its run record is written: the JSON
 * itself, or when large (a COPY's names every context file it copies) a file in `dir` that
 * holds it, so that the build does not carry it through every later step.
 */
export async function recordedComponents(
  dir: string,
  json: KeyedComponents["json"],
): Promise<RecordedStep["componentsJson"]> {
  if (typeof json !== "string" || json.length < SPOOLED_COMPONENTS) return json;
  const file = join(dir, `components-${process.pid}-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, json, { flag: "wx" });
  return { file };
}

/** One step of a build as remembered for explaining the next one. */
export interface RunStep {
  /** `stage-index/step-index`, the step's position. */
  position: string;
  /** Human text of the step, e.g. `COPY a.txt /a`. */
  label: string;
  /** The key. */
  key: string;
  /** What made it, as canonical JSON. */
  components: JsonBytes;
}

/**
 * Canonical JSON as UTF-8: all of it, or a reader that fills the start of `into` with the
 * next bytes and says how many (0 at the end).
 */
export type JsonBytes = Uint8Array | ((into: Uint8Array) => Promise<number>);

/** Computes a step's key from its components. */
export async function cacheKey(components: KeyComponents): Promise<string> {
  return (await keyed(components)).key;
}

/** A step's components as canonical JSON, with the key that JSON hashes to. */
export interface KeyedComponents {
  /** The step's key. */
  key: string;
  /** The components as canonical JSON (what the key hashes), or the file that holds it. */
  json: string | { file: string };
}

/**
 * {@linkcode cacheKey} with the JSON it hashed: a build keeps the text of each step's
 * components (one string) for its run record, not the object (two strings and a property
 * per context file). Components with {@linkcode KeyComponents.streamed} inputs are written
 * as they are hashed, into a file in `spool` when given.
 */
export async function keyed(components: KeyComponents, spool?: string): Promise<KeyedComponents> {
  if (!components.streamed) {
    const json = canonicalJson(components);
    return { key: await sha256(json), json };
  }
  const hasher = await createHasher();
  const file = spool === undefined
    ? undefined
    : join(spool, `components-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = file === undefined ? undefined : openSync(file, "wx");
  let whole = "";
  let pending = "";
  let buffer = new Uint8Array(0);
  const flush = () => {
    if (buffer.length < pending.length * 3) buffer = new Uint8Array(pending.length * 3);
    const { written } = new TextEncoder().encodeInto(pending, buffer);
    const bytes = buffer.subarray(0, written);
    hasher.update(bytes);
    if (fd === undefined) whole += pending;
    else for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
    pending = "";
  };
  try {
    writeComponents(components, components.streamed, (text) => {
      pending += text;
      if (pending.length >= WRITE_PIECE) flush();
    });
    flush();
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return { key: hasher.digest(), json: file === undefined ? whole : { file } };
}

/** UTF-16 units of components JSON gathered before they are hashed and written. */
const WRITE_PIECE = 1 << 16;

/**
 * Writes `components` as {@linkcode canonicalJson} would, with `streamed`'s inputs merged
 * into `inputs` by name, without holding them.
 */
function writeComponents(
  components: KeyComponents,
  streamed: InputStream,
  write: (text: string) => void,
): void {
  const { args, inputs = {}, instruction, parent } = components;
  write(args === undefined ? "{" : `{"args":${canonicalJson(args)},`);
  write(`"inputs":{`);
  const plain = Object.keys(inputs).filter((k) => inputs[k] !== undefined).sort();
  let p = 0;
  let count = 0;
  const entry = (name: string, value: string) =>
    write(`${count++ === 0 ? "" : ","}${JSON.stringify(name)}:${JSON.stringify(value)}`);
  streamed.each((name, value) => {
    for (; p < plain.length && plain[p] <= name; p++) {
      if (plain[p] !== name) entry(plain[p], inputs[plain[p]]);
    }
    entry(name, value);
  });
  for (; p < plain.length; p++) entry(plain[p], inputs[plain[p]]);
  write("}");
  if (instruction !== undefined) write(`,"instruction":${JSON.stringify(instruction)}`);
  if (parent !== undefined) write(`,"parent":${JSON.stringify(parent)}`);
  write("}");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    // A COPY's inputs, a string per context file, come in sorted order nearly always: then
    // JSON.stringify writes the same text, natively and without a string per property.
    if (sortedStrings(value as Record<string, unknown>)) return JSON.stringify(value);
    const keys = Object.keys(value).filter((k) =>
      (value as Record<string, unknown>)[k] !== undefined
    )
      .sort();
    return `{${
      keys.map((k) =>
        `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`
      )
        .join(",")
    }}`;
  }
  return JSON.stringify(value);
}

/** Whether `object`'s keys, in property order, are sorted and every value is a string. */
function sortedStrings(object: Record<string, unknown>): boolean {
  let previous: string | undefined;
  for (const key of Object.keys(object)) {
    if (typeof object[key] !== "string" || (previous !== undefined && previous >= key)) {
      return false;
    }
    previous = key;
  }
  return true;
}

/** The persistent cache index of a store root. */
export class BuildCache {
  #dir: string;

  /** The cache of the store at `storeRoot`. */
  constructor(storeRoot: string) {
    this.#dir = join(storeRoot, "build-cache");
  }

  /** The record for `key`, or undefined. */
  async get(key: string): Promise<CacheRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.#stepPath(key), "utf8")) as CacheRecord;
    } catch {
      return undefined;
    }
  }

  /** Stores the record for `key` (temp file and rename: readers never see half a record). */
  async put(key: string, record: CacheRecord): Promise<void> {
    await atomicWrite(this.#stepPath(key), JSON.stringify(record));
  }

  /**
   * The last build of `runId`: its step keys at once, the components that made them
   * (which name every context file) only when a miss is explained.
   */
  async lastRun(runId: string): Promise<LastRun> {
    const path = await this.#runPath(runId);
    let keys: [position: string, key: string][] = [];
    try {
      keys = JSON.parse(await readFile(`${path}.keys`, "utf8"));
    } catch {
      // No earlier build, or one being written: every miss is explained as new.
    }
    return new LastRun(path, keys);
  }

  /**
   * Remembers the steps of this build of `runId`, unless their keys are the last build's:
   * equal keys come from equal components, so a fully cached build writes nothing.
   */
  async saveRun(runId: string, steps: RecordedStep[], last: LastRun): Promise<void> {
    if (last.sameKeys(steps)) return;
    const path = await this.#runPath(runId);
    // Components first: a reader that finds the new keys finds what made them. Two lines a
    // step, its position, label and key, then its components: the components of one step
    // are read back without parsing the others'.
    await atomicWrite(path, async (out) => {
      for (const s of steps) {
        const { position, label, key } = s;
        await writeAll(out, `${JSON.stringify({ position, label, key })}\n`);
        if (typeof s.componentsJson === "string") await writeAll(out, s.componentsJson);
        else await copyInto(out, s.componentsJson.file);
        await writeAll(out, "\n");
      }
    });
    await atomicWrite(`${path}.keys`, JSON.stringify(steps.map((s) => [s.position, s.key])));
    // The one-document record earlier versions kept (as large as this one) is not read.
    const legacy = path.replace(/\.jsonl$/, ".json");
    await Promise.all([rm(legacy, { force: true }), rm(`${legacy}.keys`, { force: true })]);
  }

  /**
   * The blobs the cache refers to (every layer of every record), as extra roots for
   * `ImageStore.gc({ roots })`, so a gc keeps what later builds can reuse.
   */
  async roots(): Promise<Descriptor[]> {
    const out = new Map<string, Descriptor>();
    let names: string[] = [];
    try {
      names = await readdir(join(this.#dir, "steps"));
    } catch {
      return [];
    }
    for (const name of names) {
      if (!name.endsWith(".json")) continue;
      try {
        const record = JSON.parse(await readFile(join(this.#dir, "steps", name), "utf8"));
        for (const l of (record as CacheRecord).layers) out.set(l.descriptor.digest, l.descriptor);
      } catch {
        // A record being written by another build: it is complete on the next gc.
      }
    }
    return [...out.values()];
  }

  #stepPath(key: string): string {
    return join(this.#dir, "steps", `${key.replace(/^sha256:/, "")}.json`);
  }

  async #runPath(runId: string): Promise<string> {
    const hex = (await sha256(runId)).slice(7, 39);
    return join(this.#dir, "runs", `${hex}.jsonl`);
  }
}

/** The steps of the last build of a context, Dockerfile and target. */
export class LastRun {
  #path: string;
  #keys: Map<string, string>;
  #order: [string, string][];

  /** The run recorded at `path` (components) with `keys` (read from `<path>.keys`). */
  constructor(path: string, keys: [string, string][]) {
    this.#path = path;
    this.#order = keys;
    this.#keys = new Map(keys);
  }

  /** The key the step at `position` had, or undefined. */
  key(position: string): string | undefined {
    return this.#keys.get(position);
  }

  /**
   * Calls `use` with the step at `position`, or undefined, and returns what it returns. The
   * step's components are read from disk only while `use` runs, a piece at a time as it
   * asks (a COPY's components name every context file).
   */
  async withStep<T>(
    position: string,
    use: (step: RunStep | undefined) => Promise<T>,
  ): Promise<T> {
    const key = this.#keys.get(position);
    let file: FileHandle | undefined;
    try {
      if (key !== undefined) file = await open(this.#path, "r");
    } catch {
      // No record (a build removed it, or never wrote it): nothing to compare with.
    }
    try {
      return await use(file && await findStep(file, position, key!));
    } finally {
      await file?.close();
    }
  }

  /** Whether `steps` have this run's positions and keys, in order. */
  sameKeys(steps: readonly { position: string; key: string }[]): boolean {
    return steps.length === this.#order.length &&
      steps.every((s, i) => s.position === this.#order[i][0] && s.key === this.#order[i][1]);
  }
}

/** The longest head line a run record has (position, label and key). */
const MAX_HEAD = 1 << 16;

/**
 * The step at `position` with `key` in the run record open as `file`, its components left
 * in the file. The record is scanned a piece at a time for the head lines.
 */
async function findStep(
  file: FileHandle,
  position: string,
  key: string,
): Promise<RunStep | undefined> {
  const buffer = new Uint8Array(1 << 16);
  let bufferAt = 0;
  let buffered = 0;
  // Where the newline ending the line at `start` is, or -1 when there is none.
  const lineEnd = async (start: number): Promise<number> => {
    for (let from = start;;) {
      if (from < bufferAt || from >= bufferAt + buffered) {
        bufferAt = from;
        buffered = (await file.read(buffer, 0, buffer.length, from)).bytesRead;
        if (buffered === 0) return -1;
      }
      const i = buffer.subarray(from - bufferAt, buffered).indexOf(0x0a);
      if (i >= 0) return from + i;
      from = bufferAt + buffered;
    }
  };
  for (let start = 0;;) {
    const headEnd = await lineEnd(start);
    if (headEnd < 0 || headEnd - start > MAX_HEAD) return undefined;
    const headBytes = new Uint8Array(headEnd - start);
    await file.read(headBytes, 0, headBytes.length, start);
    let head: { position?: unknown; label?: unknown; key?: unknown };
    try {
      head = JSON.parse(new TextDecoder().decode(headBytes));
    } catch {
      return undefined; // Not a record this version wrote.
    }
    const end = await lineEnd(headEnd + 1);
    if (end < 0) return undefined;
    if (head.position === position) {
      // Keys and components are written one after the other: a pair from two builds is
      // not one.
      if (head.key !== key || typeof head.label !== "string") return undefined;
      let at = headEnd + 1;
      const components = async (into: Uint8Array) => {
        const { bytesRead } = await file.read(into, 0, Math.min(into.length, end - at), at);
        at += bytesRead;
        return bytesRead;
      };
      return { position, label: head.label, key, components };
    }
    start = end + 1;
  }
}

/**
 * Writes `content` (or what `content` writes) to a temp file renamed over `path`: readers
 * see all of it or none.
 */
async function atomicWrite(
  path: string,
  content: string | ((out: FileHandle) => Promise<void>),
): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const out = await open(tmp, "wx");
  try {
    if (typeof content === "string") await writeAll(out, content);
    else await content(out);
  } finally {
    await out.close();
  }
  await rename(tmp, path);
}

/** Writes all of `data` at `out`'s position, however many writes it takes. */
async function writeAll(out: FileHandle, data: string | Uint8Array): Promise<void> {
  let bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  while (bytes.length > 0) {
    const { bytesWritten } = await out.write(bytes, 0, bytes.length, null);
    bytes = bytes.subarray(bytesWritten);
  }
}

/** Appends the file at `path` to `out`, a megabyte at a time. */
async function copyInto(out: FileHandle, path: string): Promise<void> {
  const input = await open(path, "r");
  try {
    const buffer = new Uint8Array(1 << 20);
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      await writeAll(out, buffer.subarray(0, bytesRead));
    }
  } finally {
    await input.close();
  }
}
