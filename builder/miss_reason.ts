/**
 * Why a step missed the cache, told from the canonical JSON of its components and of the
 * same step in the last build. The two are compared as text, member by member in their
 * sorted order: a COPY's components name every context file it copies, and parsing both
 * into objects to compare them cost a 100,000-file build 60 MB at once.
 *
 * @module
 */
import type { RunStep } from "./build_cache.ts";

/**
 * Says why a step missed the cache, given the canonical JSON of what made its key, the same
 * step of the last build (if any), and the label of the first earlier step that missed.
 */
export function explainMiss(
  components: string,
  previous: RunStep | undefined,
  earlierMiss: string | undefined,
  key: string,
): string {
  if (!previous) return "no earlier build of this step";
  if (previous.key === key) return "its cache entry is gone (pruned, or its layers were removed)";
  try {
    // A copy: pieces sliced from the records' text would keep all of it alive with the
    // reason, through the rest of the build.
    return copyOf(compareComponents(components, previous.components, earlierMiss));
  } catch (error) {
    // A damaged record of the last build costs the explanation, never the build.
    if (error instanceof SyntaxError) return "the last build's record of this step is unreadable";
    throw error;
  }
}

function compareComponents(
  components: string,
  previousComponents: string,
  earlierMiss: string | undefined,
): string {
  const after = topMembers(components);
  const before = topMembers(previousComponents);
  const instruction = (m: Map<string, string>) => decode(m.get('"instruction"') ?? '""');
  if (instruction(before) !== instruction(after)) {
    return `the instruction changed (was: ${instruction(before)})`;
  }
  const reasons: string[] = [];
  const changes = (name: string) => diffMembers(before.get(name) ?? "{}", after.get(name) ?? "{}");
  for (const [name, change] of changes('"args"')) reasons.push(`ARG ${name} ${change}`);
  for (const [name, change] of changes('"inputs"')) {
    reasons.push(`${describeInput(name)} ${change}`);
  }
  if (reasons.length > 0) return reasons.join("; ");
  if (before.get('"parent"') !== after.get('"parent"')) {
    return earlierMiss ? `an earlier step changed: ${earlierMiss}` : "an earlier step changed";
  }
  return "no cache entry";
}

function copyOf(text: string): string {
  return new TextDecoder().decode(new TextEncoder().encode(text));
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
 * What changed between two objects of string members (as JSON text, names sorted), sorted
 * by name: a merge of the two, with no object made of either.
 */
function diffMembers(before: string, after: string): [string, string][] {
  const out: [string, string][] = [];
  const a = members(before, 0);
  const b = members(after, 0);
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : compare(x.value[0], y.value[0]);
    if (order < 0) {
      out.push([decode(x.value[0]), "removed"]);
      x = a.next();
    } else if (order > 0) {
      out.push([decode(y.value[0]), "added"]);
      y = b.next();
    } else {
      const [rawName, was] = x.value;
      const now = y.value[1];
      if (was !== now) {
        const name = decode(rawName);
        out.push([
          name,
          name.includes(":") ? "changed" : `changed (was "${decode(was)}", now "${decode(now)}")`,
        ]);
      }
      x = a.next();
      y = b.next();
    }
  }
  return out;
}

/** The members of the top-level object: quoted name → its value's JSON text. */
function topMembers(json: string): Map<string, string> {
  return new Map(members(json, 0));
}

/**
 * The members of the object at `at` in `json` as [name, value] JSON texts. Values may be
 * strings, objects or arrays of them, numbers or literals (what canonical JSON holds).
 *
 * @throws {SyntaxError} when the text there is not such an object.
 */
function* members(json: string, at: number): Generator<[string, string]> {
  if (json[at] !== "{") throw new SyntaxError(`Expected an object at ${at}`);
  let i = at + 1;
  if (json[i] === "}") return;
  for (;;) {
    const nameEnd = skipValue(json, i);
    if (json[i] !== '"' || json[nameEnd] !== ":") {
      throw new SyntaxError(`Expected a member name at ${i}`);
    }
    const valueEnd = skipValue(json, nameEnd + 1);
    yield [json.slice(i, nameEnd), json.slice(nameEnd + 1, valueEnd)];
    if (json[valueEnd] === "}") return;
    if (json[valueEnd] !== ",") throw new SyntaxError(`Expected , or } at ${valueEnd}`);
    i = valueEnd + 1;
  }
}

/** Where the JSON value starting at `at` ends (canonical JSON: no blanks between tokens). */
function skipValue(json: string, at: number): number {
  const first = json[at];
  if (first === '"') {
    for (let i = at + 1; i < json.length; i++) {
      const c = json.charCodeAt(i);
      if (c === 0x5c) i++;
      else if (c === 0x22) return i + 1;
    }
    throw new SyntaxError("Unterminated string");
  }
  if (first === "{" || first === "[") {
    let depth = 0;
    for (let i = at; i < json.length; i++) {
      const c = json[i];
      if (c === '"') i = skipValue(json, i) - 1;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        if (--depth === 0) return i + 1;
      }
    }
    throw new SyntaxError("Unterminated object or array");
  }
  let i = at;
  while (i < json.length && !",}]".includes(json[i])) i++;
  if (i === at) throw new SyntaxError(`Expected a value at ${at}`);
  return i;
}

/** A JSON string token's text (a value of another kind as its JSON). */
function decode(token: string): string {
  if (token[0] !== '"') return token;
  return token.includes("\\") ? JSON.parse(token) : token.slice(1, -1);
}

/** Orders two member names (JSON string tokens) as their texts sort. */
function compare(a: string, b: string): number {
  const x = decode(a);
  const y = decode(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
