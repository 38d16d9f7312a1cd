/**
 * Why a step missed the cache, told from the canonical JSON of its components and of the
 * same step in the last build. The two are compared as UTF-8 bytes, member by member in
 * their sorted order: a COPY's components name every context file it copies, and parsing
 * both into objects cost a 100,000-file build 60 MB at once, and holding both as strings
 * grew its heap by 20 MB for the rest of the build.
 *
 * @module
 */
import type { RunStep } from "./build_cache.ts";

/** A value's place in a text: `[start, end)`. */
type Span = [start: number, end: number];

/**
 * Says why a step missed the cache, given the canonical JSON (UTF-8) of what made its key,
 * the same step of the last build (if any), and the label of the first earlier step that
 * missed.
 */
export function explainMiss(
  components: Uint8Array,
  previous: RunStep | undefined,
  earlierMiss: string | undefined,
  key: string,
): string {
  if (!previous) return "no earlier build of this step";
  if (previous.key === key) return "its cache entry is gone (pruned, or its layers were removed)";
  try {
    return compareComponents(previous.components, components, earlierMiss);
  } catch (error) {
    // A damaged record of the last build costs the explanation, never the build.
    if (error instanceof SyntaxError) return "the last build's record of this step is unreadable";
    throw error;
  }
}

function compareComponents(
  before: Uint8Array,
  after: Uint8Array,
  earlierMiss: string | undefined,
): string {
  const was = topMembers(before);
  const now = topMembers(after);
  const instruction = (text: Uint8Array, m: Map<string, Span>) => {
    const span = m.get("instruction");
    return span ? decode(text, span) : "";
  };
  if (instruction(before, was) !== instruction(after, now)) {
    return `the instruction changed (was: ${instruction(before, was)})`;
  }
  const reasons: string[] = [];
  const changes = (name: string) => diffMembers(before, was.get(name), after, now.get(name));
  for (const [name, change] of changes("args")) reasons.push(`ARG ${name} ${change}`);
  for (const [name, change] of changes("inputs")) {
    reasons.push(`${describeInput(name)} ${change}`);
  }
  if (reasons.length > 0) return reasons.join("; ");
  const parent = (text: Uint8Array, m: Map<string, Span>) => {
    const span = m.get("parent");
    return span ? decode(text, span) : "";
  };
  if (parent(before, was) !== parent(after, now)) {
    return earlierMiss ? `an earlier step changed: ${earlierMiss}` : "an earlier step changed";
  }
  return "no cache entry";
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
 * What changed between two objects of string members (names sorted), sorted by name: a
 * merge of the two, decoding only names that cannot be ordered from their bytes.
 */
function diffMembers(
  before: Uint8Array,
  was: Span | undefined,
  after: Uint8Array,
  now: Span | undefined,
): [string, string][] {
  const out: [string, string][] = [];
  const a = was ? members(before, was[0]) : [][Symbol.iterator]();
  const b = now ? members(after, now[0]) : [][Symbol.iterator]();
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : compareNames(before, x.value[0], after, y.value[0]);
    if (order < 0) {
      out.push([decode(before, x.value![0]), "removed"]);
      x = a.next();
    } else if (order > 0) {
      out.push([decode(after, y.value![0]), "added"]);
      y = b.next();
    } else {
      const [name, value] = x.value!;
      const next = y.value![1];
      if (!sameBytes(before, value, after, next)) {
        const text = decode(before, name);
        out.push([
          text,
          text.includes(":")
            ? "changed"
            : `changed (was "${decode(before, value)}", now "${decode(after, next)}")`,
        ]);
      }
      x = a.next();
      y = b.next();
    }
  }
  return out;
}

/** The members of the top-level object, by name. */
function topMembers(json: Uint8Array): Map<string, Span> {
  const out = new Map<string, Span>();
  for (const [name, value] of members(json, 0)) out.set(decode(json, name), value);
  return out;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

/**
 * The members of the object at `at` in `json` as spans of their name and value. Values
 * may be strings, objects or arrays of them, numbers or literals (what canonical JSON
 * holds; it has no blanks between tokens).
 *
 * @throws {SyntaxError} when the bytes there are not such an object.
 */
function* members(json: Uint8Array, at: number): Generator<[name: Span, value: Span]> {
  if (json[at] !== 0x7b) throw new SyntaxError(`Expected an object at ${at}`);
  let i = at + 1;
  if (json[i] === 0x7d) return;
  for (;;) {
    const nameEnd = skipValue(json, i);
    if (json[i] !== QUOTE || json[nameEnd] !== COLON) {
      throw new SyntaxError(`Expected a member name at ${i}`);
    }
    const valueEnd = skipValue(json, nameEnd + 1);
    yield [[i, nameEnd], [nameEnd + 1, valueEnd]];
    if (json[valueEnd] === 0x7d) return;
    if (json[valueEnd] !== COMMA) throw new SyntaxError(`Expected , or } at ${valueEnd}`);
    i = valueEnd + 1;
  }
}

/** Where the JSON value starting at `at` ends. */
function skipValue(json: Uint8Array, at: number): number {
  const first = json[at];
  if (first === QUOTE) {
    for (let i = at + 1; i < json.length; i++) {
      const c = json[i];
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) return i + 1;
    }
    throw new SyntaxError("Unterminated string");
  }
  if (first === 0x7b || first === 0x5b) {
    let depth = 0;
    for (let i = at; i < json.length; i++) {
      const c = json[i];
      if (c === QUOTE) i = skipValue(json, i) - 1;
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--depth === 0) return i + 1;
      }
    }
    throw new SyntaxError("Unterminated object or array");
  }
  let i = at;
  while (i < json.length && json[i] !== COMMA && json[i] !== 0x7d && json[i] !== 0x5d) i++;
  if (i === at) throw new SyntaxError(`Expected a value at ${at}`);
  return i;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A string token's text, or another value's JSON, as a string of its own. */
function decode(json: Uint8Array, [start, end]: Span): string {
  const text = UTF8.decode(json.subarray(start, end));
  if (json[start] !== QUOTE) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new SyntaxError(`Not a JSON string at ${start}`);
  }
}

function sameBytes(a: Uint8Array, [as, ae]: Span, b: Uint8Array, [bs, be]: Span): boolean {
  if (ae - as !== be - bs) return false;
  for (let i = 0; i < ae - as; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/**
 * Orders two member names as their texts sort (UTF-16 units, as the keys were sorted):
 * byte by byte while both are plain ASCII, else decoded.
 */
function compareNames(a: Uint8Array, x: Span, b: Uint8Array, y: Span): number {
  const lx = x[1] - x[0] - 2;
  const ly = y[1] - y[0] - 2;
  for (let i = 0; i < Math.min(lx, ly); i++) {
    const c = a[x[0] + 1 + i];
    const d = b[y[0] + 1 + i];
    if (c >= 0x80 || d >= 0x80 || c === BACKSLASH || d === BACKSLASH) {
      return slowCompare(a, x, b, y);
    }
    if (c !== d) return c - d;
  }
  // Equal, or the shorter (plain ASCII) is where the longer begins: it sorts first.
  return lx - ly;
}

function slowCompare(a: Uint8Array, x: Span, b: Uint8Array, y: Span): number {
  const p = decode(a, x);
  const q = decode(b, y);
  return p < q ? -1 : p > q ? 1 : 0;
}
