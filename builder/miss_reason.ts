/**
 * Why a step missed the cache, told from the canonical JSON of its components and of the
 * same step in the last build. The two are read a piece at a time and compared as UTF-8
 * bytes, member by member in their sorted order: a COPY's components name every context
 * file it copies, and a 200,000-file build held 40 MB while it read both whole.
 *
 * @module
 */
import type { JsonBytes, RunStep } from "./build_cache.ts";

/**
 * Says why a step missed the cache, given the canonical JSON (UTF-8) of what made its key,
 * the same step of the last build (if any), and the label of the first earlier step that
 * missed.
 */
export async function explainMiss(
  components: JsonBytes,
  previous: RunStep | undefined,
  earlierMiss: string | undefined,
  key: string,
): Promise<string> {
  if (!previous) return "no earlier build of this step";
  if (previous.key === key) return "its cache entry is gone (pruned, or its layers were removed)";
  try {
    return await compareComponents(
      new JsonReader(previous.components),
      new JsonReader(components),
      earlierMiss,
    );
  } catch (error) {
    // A damaged record of the last build costs the explanation, never the build.
    if (error instanceof SyntaxError) return "the last build's record of this step is unreadable";
    throw error;
  }
}

/** Changes named one by one in a reason; the rest are counted. */
const NAMED_CHANGES = 20;

async function compareComponents(
  before: JsonReader,
  after: JsonReader,
  earlierMiss: string | undefined,
): Promise<string> {
  // Every member but the inputs is small, and kept; the inputs are compared as both are read.
  const was = new Map<string, Uint8Array>();
  const now = new Map<string, Uint8Array>();
  const changes = new Changes();
  const inputs = new Changes();
  await mergeMembers(before, after, async (nameBytes, inBefore, inAfter) => {
    const name = decode(nameBytes);
    if (name === "inputs") return await diffMembers(inBefore, inAfter, inputs);
    if (inBefore) was.set(name, await before.value());
    if (inAfter) now.set(name, await after.value());
  });
  const text = (m: Map<string, Uint8Array>, name: string) => {
    const bytes = m.get(name);
    return bytes ? decode(bytes) : "";
  };
  if (text(was, "instruction") !== text(now, "instruction")) {
    return `the instruction changed (was: ${text(was, "instruction")})`;
  }
  const args = (m: Map<string, Uint8Array>) => {
    const bytes = m.get("args");
    return bytes ? new JsonReader(bytes) : undefined;
  };
  const argsBefore = args(was);
  const argsAfter = args(now);
  await diffMembers(argsBefore, argsAfter, changes, "ARG ");
  changes.append(inputs);
  if (changes.count > 0) return changes.toString();
  if (text(was, "parent") !== text(now, "parent")) {
    return earlierMiss ? `an earlier step changed: ${earlierMiss}` : "an earlier step changed";
  }
  return "no cache entry";
}

/** The changes found, the first {@linkcode NAMED_CHANGES} by name. */
class Changes {
  named: string[] = [];
  count = 0;

  add(change: () => string): void {
    if (this.count++ < NAMED_CHANGES) this.named.push(change());
  }

  append(other: Changes): void {
    for (const change of other.named) this.add(() => change);
    this.count += other.count - other.named.length;
  }

  toString(): string {
    const rest = this.count - this.named.length;
    return this.named.join("; ") + (rest > 0 ? `; and ${rest} more` : "");
  }
}

function describeInput(name: string): string {
  if (name.startsWith("ctx:")) return `context file ${name.slice(4) || "."}`;
  if (name.startsWith("stage:")) return `stage ${name.slice(6)}`;
  if (name.startsWith("image:")) return `image ${name.slice(6)}`;
  if (name.startsWith("base:")) return `base image ${name.slice(5)}`;
  if (name.startsWith("url:")) return `URL ${name.slice(4)}`;
  return name;
}

/**
 * Calls `each` with the name (a JSON string token) of every member of the objects `before`
 * and `after` are at, in name order, and the readers that have it; `each` takes the value
 * from those.
 */
async function mergeMembers(
  before: JsonReader | undefined,
  after: JsonReader | undefined,
  each: (
    name: Uint8Array,
    inBefore: JsonReader | undefined,
    inAfter: JsonReader | undefined,
  ) => Promise<void>,
): Promise<void> {
  const a = before ? before.members() : undefined;
  const b = after ? after.members() : undefined;
  let x = a ? await a.next() : undefined;
  let y = b ? await b.next() : undefined;
  while ((x && !x.done) || (y && !y.done)) {
    const order = !x || x.done ? 1 : !y || y.done ? -1 : compareNames(x.value, y.value);
    await each(
      (order <= 0 ? x!.value : y!.value) as Uint8Array,
      order <= 0 ? before : undefined,
      order >= 0 ? after : undefined,
    );
    if (order <= 0) x = await a!.next();
    if (order >= 0) y = await b!.next();
  }
}

/**
 * Adds to `changes` what changed between two objects of string members (names sorted), by
 * name: a merge of the two, decoding only names that cannot be ordered from their bytes.
 */
async function diffMembers(
  before: JsonReader | undefined,
  after: JsonReader | undefined,
  changes: Changes,
  prefix?: string,
): Promise<void> {
  const describe = (name: Uint8Array) => {
    const text = decode(name);
    return prefix ? `${prefix}${text}` : describeInput(text);
  };
  await mergeMembers(before, after, async (name, inBefore, inAfter) => {
    if (!inAfter) {
      await inBefore!.value(false);
      changes.add(() => `${describe(name)} removed`);
    } else if (!inBefore) {
      await inAfter.value(false);
      changes.add(() => `${describe(name)} added`);
    } else {
      const was = await inBefore.value();
      const now = await inAfter.value();
      if (!sameBytes(was, now)) {
        changes.add(() =>
          name.includes(COLON)
            ? `${describe(name)} changed`
            : `${describe(name)} changed (was "${decode(was)}", now "${decode(now)}")`
        );
      }
    }
  });
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Bytes read from a file at a time. */
const PIECE = 1 << 16;

/**
 * Canonical JSON (no blanks between tokens) read forward a piece at a time. Values may be
 * strings, objects or arrays of them, numbers or literals.
 */
class JsonReader {
  #read: ((into: Uint8Array) => Promise<number>) | undefined;
  #buffer: Uint8Array;
  #at = 0;
  #length: number;

  constructor(source: JsonBytes) {
    if (source instanceof Uint8Array) {
      this.#buffer = source;
      this.#length = source.length;
    } else {
      this.#read = source;
      this.#buffer = new Uint8Array(PIECE);
      this.#length = 0;
    }
  }

  /** The next byte, not taken; -1 at the end. */
  async #peek(): Promise<number> {
    if (this.#at === this.#length && !(await this.#fill())) return -1;
    return this.#buffer[this.#at];
  }

  async #fill(): Promise<boolean> {
    if (!this.#read) return false;
    this.#length = await this.#read(this.#buffer);
    this.#at = 0;
    if (this.#length === 0) this.#read = undefined;
    return this.#length > 0;
  }

  async #expect(byte: number, what: string): Promise<void> {
    if (await this.#peek() !== byte) throw new SyntaxError(`Expected ${what}`);
    this.#at++;
  }

  /**
   * The names of the members of the object here, each leaving the reader at its value,
   * which the caller takes before asking for the next.
   *
   * @throws {SyntaxError} when the bytes here are not such an object.
   */
  async *members(): AsyncGenerator<Uint8Array> {
    await this.#expect(OPEN_OBJECT, "an object");
    if (await this.#peek() === CLOSE_OBJECT) {
      this.#at++;
      return;
    }
    for (;;) {
      if (await this.#peek() !== QUOTE) throw new SyntaxError("Expected a member name");
      const name = await this.value();
      await this.#expect(COLON, ":");
      yield name;
      const next = await this.#peek();
      this.#at++;
      if (next === CLOSE_OBJECT) return;
      if (next !== COMMA) throw new SyntaxError("Expected , or }");
    }
  }

  /**
   * Takes the value here: its bytes (a copy), or only passes it when not `keep`.
   *
   * @throws {SyntaxError} when it is cut short or missing.
   */
  async value(keep = true): Promise<Uint8Array> {
    const first = await this.#peek();
    const literal = first !== QUOTE && first !== OPEN_OBJECT && first !== OPEN_ARRAY;
    const parts: Uint8Array[] = [];
    let size = 0;
    let depth = 0;
    let inString = false;
    let escaped = false;
    for (let done = false; !done;) {
      if (this.#at === this.#length && !(await this.#fill())) {
        if (literal) break;
        throw new SyntaxError("Unterminated string, object or array");
      }
      const buffer = this.#buffer;
      let i = this.#at;
      for (; i < this.#length && !done; i++) {
        const c = buffer[i];
        if (literal) {
          if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY) break;
        } else if (escaped) escaped = false;
        else if (inString) {
          if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) inString = false, done = depth === 0;
        } else if (c === QUOTE) inString = true;
        else if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
        else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) done = --depth === 0;
      }
      if (keep) parts.push(buffer.slice(this.#at, i));
      size += i - this.#at;
      this.#at = i;
      if (literal && i < this.#length) break;
    }
    if (size === 0) throw new SyntaxError("Expected a value");
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(keep ? size : 0);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A string token's text, or another value's JSON, as a string of its own. */
function decode(json: Uint8Array): string {
  const text = UTF8.decode(json);
  if (json[0] !== QUOTE) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new SyntaxError("Not a JSON string");
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Orders two member names as their texts sort (UTF-16 units, as the keys were sorted):
 * byte by byte while both are plain ASCII, else decoded.
 */
function compareNames(x: Uint8Array, y: Uint8Array): number {
  const lx = x.length - 2;
  const ly = y.length - 2;
  for (let i = 0; i < Math.min(lx, ly); i++) {
    const c = x[1 + i];
    const d = y[1 + i];
    if (c >= 0x80 || d >= 0x80 || c === BACKSLASH || d === BACKSLASH) {
      const p = decode(x);
      const q = decode(y);
      return p < q ? -1 : p > q ? 1 : 0;
    }
    if (c !== d) return c - d;
  }
  // Equal, or the shorter (plain ASCII) is where the longer begins: it sorts first.
  return lx - ly;
}
