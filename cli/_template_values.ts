/**
 * What `_template.ts` computes with: Go's values over JSON-shaped data (a missing key, a
 * typed nil slice or map), how `fmt` prints them, truth and comparison as `text/template`
 * has them, and the functions a template may call (docker's and Go's builtins).
 *
 * @module
 */

/** A template that failed to parse or to execute, in Go's words (`template: :1: ...`). */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

export type Value = unknown;

/** A missing map key: Go prints it as `<no value>`. */
export const NO_VALUE = Symbol("no value");

/** Marks a Go nil slice or map of a typed struct field: `[]`/`map[]` in print, `null` in json. */
const TYPED_NIL = Symbol("typed nil");

/**
 * A nil slice of a typed Go struct (docker's `Config.Cmd` when unset): it prints as `[]`,
 * ranges over nothing, and `json` gives `null`, as docker's typed inspect data does.
 */
export function nilSlice(): unknown[] {
  return Object.freeze(Object.assign([], { [TYPED_NIL]: true })) as unknown[];
}

/** A nil map of a typed Go struct (`Config.Volumes` when unset): `map[]`, `null` in json. */
export function nilMap(): Record<string, unknown> {
  return Object.freeze({ [TYPED_NIL]: true }) as Record<string, unknown>;
}

function isTypedNil(v: unknown): boolean {
  return v !== null && typeof v === "object" && TYPED_NIL in (v as object);
}

/** The functions a template may call: docker's and Go's builtins. */
export const FUNCS = new Set([
  "json",
  "join",
  "split",
  "lower",
  "upper",
  "title",
  "truncate",
  "pad",
  "index",
  "len",
  "print",
  "printf",
  "println",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "and",
  "or",
  "not",
]);

export function goType(v: Value): string {
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "[]interface {}";
  return "interface {}";
}

export function truth(v: Value): boolean {
  if (v === NO_VALUE || v === null || v === undefined || v === false || v === 0 || v === "") {
    return false;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

/** Go's `%v` of a float64: shortest digits, exponent form below 1e-4 or from 1e21. */
function goFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  if (!Number.isFinite(n)) return Number.isNaN(n) ? "NaN" : n > 0 ? "+Inf" : "-Inf";
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 21) {
    const [m, e] = n.toExponential().split("e");
    const sign = e.startsWith("-") ? "-" : "+";
    return `${m}e${sign}${e.replace(/^[+-]/, "").padStart(2, "0")}`;
  }
  return String(n);
}

/** A value as Go's `fmt.Sprint` prints it. */
export function goPrint(v: Value): string {
  if (v === NO_VALUE || v === undefined) return "<no value>";
  return inner(v);
  function inner(x: Value): string {
    if (x === null || x === undefined || x === NO_VALUE) return "<nil>";
    if (typeof x === "string") return x;
    if (typeof x === "number") return goFloat(x);
    if (typeof x === "boolean") return String(x);
    if (Array.isArray(x)) return `[${x.map(inner).join(" ")}]`;
    if (typeof x === "object") {
      const keys = Object.keys(x as object).sort();
      return `map[${keys.map((k) => `${k}:${inner((x as Record<string, Value>)[k])}`).join(" ")}]`;
    }
    return String(x);
  }
}

/** Go's `json.Marshal`: HTML characters escaped, as docker's `json` function prints. */
function goJson(v: Value): string {
  const text = JSON.stringify(
    v === NO_VALUE || v === undefined ? null : v,
    (_, x) => isTypedNil(x) ? null : x,
  ) ?? "null";
  return text.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function compare(a: Value, b: Value, line: number): number {
  if (typeof a !== typeof b || (typeof a !== "number" && typeof a !== "string")) {
    throw new TemplateError(`template: :${line}: incompatible types for comparison`);
  }
  return a < b! ? -1 : a === b ? 0 : 1;
}

/** Go's `printf` for the verbs docker templates use: %s %v %d %q %x %%. */
function printf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(/%(-?)(\d*)([svdqx%])/g, (_, left: string, width: string, verb: string) => {
    if (verb === "%") return "%";
    const a = args[i++];
    let s = a === undefined && i > args.length
      ? `%!${verb}(MISSING)`
      : verb === "q"
      ? JSON.stringify(goPrint(a))
      : verb === "x"
      ? typeof a === "number"
        ? a.toString(16)
        : [...new TextEncoder().encode(goPrint(a))].map((b) => b.toString(16).padStart(2, "0"))
          .join("")
      : goPrint(a);
    if (width) s = left ? s.padEnd(Number(width)) : s.padStart(Number(width));
    return s;
  });
}

export function call(name: string, args: Value[], line: number): Value {
  const fail = (why: string): never => {
    throw new TemplateError(`template: :${line}: error calling ${name}: ${why}`);
  };
  const want = (n: number) => {
    if (args.length !== n) {
      throw new TemplateError(
        `template: :${line}: wrong number of args for ${name}: want ${n} got ${args.length}`,
      );
    }
  };
  switch (name) {
    case "json":
      want(1);
      return goJson(args[0]);
    case "join":
      want(2);
      if (!Array.isArray(args[0])) fail("join needs a slice");
      return (args[0] as Value[]).map(goPrint).join(String(args[1]));
    case "split":
      want(2);
      return String(args[0]).split(String(args[1]));
    case "lower":
      want(1);
      return goPrint(args[0]).toLowerCase();
    case "upper":
      want(1);
      return goPrint(args[0]).toUpperCase();
    case "title":
      want(1);
      return goPrint(args[0]).replace(/(^|\s)(\S)/g, (_, s, c) => s + c.toUpperCase());
    case "truncate": {
      want(2);
      const s = goPrint(args[0]);
      const n = Number(args[1]);
      return [...s].length > n ? [...s].slice(0, n).join("") : s;
    }
    case "pad":
      want(3);
      return " ".repeat(Number(args[1])) + goPrint(args[0]) + " ".repeat(Number(args[2]));
    case "index": {
      if (!args.length) fail("index of untyped nil");
      let v = args[0];
      for (const k of args.slice(1)) {
        if (Array.isArray(v)) {
          if (typeof k !== "number" || !Number.isInteger(k)) {
            fail(`cannot index slice/array with type ${goType(k)}`);
          }
          if ((k as number) < 0 || (k as number) >= v.length) fail(`index out of range: ${k}`);
          v = v[k as number];
        } else if (v !== null && typeof v === "object") {
          v = Object.hasOwn(v, String(k)) ? (v as Record<string, Value>)[String(k)] : null;
        } else if (v === null || v === NO_VALUE || v === undefined) {
          fail("index of untyped nil");
        } else fail(`can't index item of type ${goType(v)}`);
      }
      return v;
    }
    case "len": {
      want(1);
      const v = args[0];
      if (typeof v === "string") return new TextEncoder().encode(v).length;
      if (Array.isArray(v)) return v.length;
      if (v !== null && typeof v === "object") return Object.keys(v).length;
      return fail(`len of type ${goType(v)}`);
    }
    case "print":
      // Go's Sprint puts spaces between operands when neither is a string.
      return args.reduce<string>(
        (s, a, i) =>
          s + (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string" ? " " : "") +
          goPrint(a),
        "",
      );
    case "println":
      return args.map(goPrint).join(" ") + "\n";
    case "printf":
      if (!args.length) fail("printf needs a format");
      return printf(String(args[0]), args.slice(1));
    case "eq":
      if (args.length < 2) fail("missing argument for comparison");
      return args.slice(1).some((b) => compare(args[0], b, line) === 0);
    case "ne":
      want(2);
      return compare(args[0], args[1], line) !== 0;
    case "lt":
      want(2);
      return compare(args[0], args[1], line) < 0;
    case "le":
      want(2);
      return compare(args[0], args[1], line) <= 0;
    case "gt":
      want(2);
      return compare(args[0], args[1], line) > 0;
    case "ge":
      want(2);
      return compare(args[0], args[1], line) >= 0;
    case "not":
      want(1);
      return !truth(args[0]);
    case "and": {
      let v: Value = true;
      for (const a of args) if (!truth(v = a)) return a;
      return v;
    }
    case "or": {
      let v: Value = false;
      for (const a of args) if (truth(v = a)) return a;
      return v;
    }
  }
  return fail("not defined");
}
