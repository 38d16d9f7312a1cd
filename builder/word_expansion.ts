/**
 * BuildKit's shell-like word expansion for Dockerfile instructions (ADD, COPY, ENV, EXPOSE,
 * FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD): quotes, escapes and `$var`
 * substitution with the `${...}` operators BuildKit supports. RUN, CMD and ENTRYPOINT are not
 * expanded here; their text goes to the shell as written.
 *
 * @module
 */
import { WordExpansionError } from "./errors.ts";

/** Variables visible to an expansion: a plain record or a map, name to value. */
export type ExpansionEnv = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

/** Options of {@linkcode expandWord} and {@linkcode expandWords}. */
export interface ExpandOptions {
  /** The escape character, `\` (default) or `` ` `` (set by `# escape=`). */
  escapeToken?: string;
  /** Keep quote characters in the output. Default `false`. */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. Default `false`. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written instead of expanding them. Default `false`. */
  skipUnsetEnv?: boolean;
}

/**
 * Expands one word the way BuildKit's `ProcessWord` does: quotes are removed, escapes applied,
 * variables substituted; whitespace between words is kept.
 *
 * @example
 * ```ts
 * import { expandWord } from "./word_expansion.ts";
 * import assert from "node:assert/strict";
 * assert.equal(expandWord("${NAME:-app}-'$HOME'", { NAME: "" }), "app-$HOME");
 * ```
 * @throws {WordExpansionError} on unterminated quotes or braces, a bad substitution, or
 *   `${var?msg}` / `${var:?msg}` with the variable unset (or empty).
 */
export function expandWord(word: string, env: ExpansionEnv, options: ExpandOptions = {}): string {
  return run(word, env, options).text;
}

/**
 * Expands and splits into words like BuildKit's `ProcessWords`: split on unquoted whitespace,
 * including whitespace that a variable's value brings in; quoted text stays one word.
 *
 * @throws {WordExpansionError} as {@linkcode expandWord} does.
 */
export function expandWords(
  word: string,
  env: ExpansionEnv,
  options: ExpandOptions = {},
): string[] {
  return run(word, env, options).words;
}

function run(word: string, env: ExpansionEnv, options: ExpandOptions): Processed {
  try {
    return new Lexer(word, env, options).processStopOn("", false);
  } catch (error) {
    if (error instanceof Reason) throw new WordExpansionError(word, error.message);
    throw error;
  }
}

/** A failure inside the lexer, wrapped with the input word at the top. */
class Reason extends Error {}

interface Processed {
  text: string;
  words: string[];
  stop: string | undefined;
}

const SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;
const DIGIT = /^\p{Nd}$/u;

function isSpace(ch: string): boolean {
  return SPACE.test(ch);
}

/** Accumulates ProcessWords' output: unquoted whitespace splits, quoted text does not. */
class Words {
  #word = "";
  #inWord = false;
  #words: string[] = [];

  addChar(ch: string): void {
    if (!isSpace(ch)) {
      this.addRaw(ch);
    } else if (this.#inWord && this.#word !== "") {
      this.#words.push(this.#word);
      this.#word = "";
      this.#inWord = false;
    }
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  addRaw(text: string): void {
    this.#word += text;
    this.#inWord = true;
  }

  finish(): string[] {
    if (this.#word !== "") {
      this.#words.push(this.#word);
      this.#word = "";
      this.#inWord = false;
    }
    return this.#words;
  }
}

class Lexer {
  #chars: string[];
  #pos = 0;
  #env: ExpansionEnv;
  #escape: string;
  #rawQuotes: boolean;
  #rawEscapes: boolean;
  #skipUnset: boolean;

  constructor(word: string, env: ExpansionEnv, options: ExpandOptions) {
    this.#chars = Array.from(word);
    this.#env = env;
    this.#escape = options.escapeToken ?? "\\";
    this.#rawQuotes = options.rawQuotes ?? false;
    this.#rawEscapes = options.rawEscapes ?? false;
    this.#skipUnset = options.skipUnsetEnv ?? false;
  }

  #peek(): string | undefined {
    return this.#chars[this.#pos];
  }

  #next(): string | undefined {
    const ch = this.#chars[this.#pos];
    if (ch !== undefined) this.#pos++;
    return ch;
  }

  #lookup(name: string): string | undefined {
    const env = this.#env;
    if (env instanceof Map) return env.get(name);
    const record = env as Readonly<Record<string, string>>;
    return Object.hasOwn(record, name) ? record[name] : undefined;
  }

  /** Processes up to one of `stops` (consumed) or, when `stops` is empty, to the end. */
  processStopOn(stops: string, keepEscapes: boolean): Processed {
    let text = "";
    const words = new Words();
    for (let ch = this.#peek(); ch !== undefined; ch = this.#peek()) {
      if (stops.includes(ch)) {
        this.#next();
        return { text, words: words.finish(), stop: ch };
      }
      if (ch === "$") {
        const value = this.#dollar();
        text += value;
        words.addString(value);
        continue;
      }
      if (ch === "<") {
        const value = this.#possibleHeredoc();
        text += value;
        words.addRaw(value);
        continue;
      }
      if (ch === "'" || ch === '"') {
        const value = ch === "'" ? this.#singleQuoted() : this.#doubleQuoted();
        text += value;
        words.addRaw(value);
        continue;
      }
      this.#next();
      if (ch === this.#escape) {
        if (this.#rawEscapes || keepEscapes) {
          words.addRaw(ch);
          text += ch;
        }
        // An escape at the very end is dropped, like BuildKit does.
        const escaped = this.#next();
        if (escaped === undefined) break;
        words.addRaw(escaped);
        text += escaped;
      } else {
        words.addChar(ch);
        text += ch;
      }
    }
    if (stops !== "") {
      throw new Reason(`unexpected end of statement while looking for matching ${stops.at(-1)}`);
    }
    return { text, words: words.finish(), stop: undefined };
  }

  /**
   * `<<` and the blanks after it stay glued to the next word, as in BuildKit since
   * dockerfile/1.16.0, so `<< EOF` is one heredoc word.
   */
  #possibleHeredoc(): string {
    this.#next();
    if (this.#peek() !== "<") return "<";
    this.#next();
    let text = "<<";
    for (let ch = this.#peek(); ch === " " || ch === "\t" || ch === "\r"; ch = this.#peek()) {
      text += this.#next();
    }
    return text;
  }

  #singleQuoted(): string {
    const quote = this.#next()!;
    let text = this.#rawQuotes ? quote : "";
    for (;;) {
      const ch = this.#next();
      if (ch === undefined) {
        throw new Reason("unexpected end of statement while looking for matching single-quote");
      }
      if (ch === "'") return this.#rawQuotes ? text + ch : text;
      text += ch;
    }
  }

  #doubleQuoted(): string {
    const quote = this.#next()!;
    let text = this.#rawQuotes ? quote : "";
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined) {
        throw new Reason("unexpected end of statement while looking for matching double-quote");
      }
      if (ch === '"') {
        this.#next();
        return this.#rawQuotes ? text + ch : text;
      }
      if (ch === "$") {
        text += this.#dollar();
        continue;
      }
      this.#next();
      if (ch === this.#escape) {
        const following = this.#peek();
        if (following === undefined) continue;
        // Inside double quotes only these can be escaped; other escapes stay literal.
        if (following === '"' || following === "$" || following === this.#escape) {
          if (this.#rawEscapes) text += ch;
          text += this.#next();
          continue;
        }
      }
      text += ch;
    }
  }

  #name(): string {
    let name = "";
    for (let ch = this.#peek(); ch !== undefined; ch = this.#peek()) {
      if (name === "" && DIGIT.test(ch)) {
        while (this.#peek() !== undefined && DIGIT.test(this.#peek()!)) name += this.#next();
        return name;
      }
      if (name === "" && "@*#?-$!0".includes(ch)) return this.#next()!;
      if (!NAME_CHAR.test(ch)) break;
      name += this.#next();
    }
    return name;
  }

  /** Reads the operand of a `${name<op>...}` up to `stops`, mapping EOF to BuildKit's error. */
  #operand(stops: string, keepEscapes: boolean): Processed {
    try {
      return this.processStopOn(stops, keepEscapes);
    } catch (error) {
      if (error instanceof Reason && this.#peek() === undefined) {
        throw new Reason("syntax error: missing '}'");
      }
      throw error;
    }
  }

  #dollar(): string {
    this.#next();
    if (this.#peek() !== "{") {
      const name = this.#name();
      if (name === "") return "$";
      const value = this.#lookup(name);
      if (value === undefined && this.#skipUnset) return "$" + name;
      return value ?? "";
    }
    this.#next();
    const first = this.#peek();
    if (first === undefined) throw new Reason("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") {
      throw new Reason("syntax error: bad substitution");
    }
    const name = this.#name();
    let op = this.#next();
    if (op === undefined) throw new Reason("syntax error: missing '}'");
    if (op === "}") {
      const value = this.#lookup(name);
      if (value === undefined && this.#skipUnset) return `\${${name}}`;
      return value ?? "";
    }
    let modifier = op;
    const nullIsUnset = op === ":";
    if (nullIsUnset) {
      op = this.#next();
      if (op === undefined) throw new Reason("syntax error: missing '}'");
      modifier += op;
    }
    if ("+-?#%".includes(op)) {
      const isPattern = op === "#" || op === "%";
      if (nullIsUnset && isPattern) {
        throw new Reason(`unsupported modifier (${modifier}) in substitution`);
      }
      const word = this.#operand("}", isPattern).text;
      const value = this.#lookup(name);
      if (value === undefined && this.#skipUnset) return `\${${name}${modifier}${word}}`;
      const missing = value === undefined || (nullIsUnset && value === "");
      switch (op) {
        case "-":
          return missing ? word : value!;
        case "+":
          return missing ? "" : word;
        case "?":
          if (!missing) return value!;
          throw new Reason(
            `${name}: ${
              word !== ""
                ? word
                : value === undefined
                ? "is not allowed to be unset"
                : "is not allowed to be empty"
            }`,
          );
        default: {
          // A doubled operator (## or %%) removes the longest match, a single one the shortest.
          const greedy = word.startsWith(op);
          const pattern = greedy ? word.slice(1) : word;
          return op === "#"
            ? trimPrefix(pattern, value ?? "", greedy)
            : trimSuffix(pattern, value ?? "", greedy);
        }
      }
    }
    if (op === "/" && !nullIsUnset) {
      const all = this.#peek() === "/";
      if (all) this.#next();
      // The pattern ends only at `/`, as in BuildKit: `${x/a}` lacks it and is an error.
      let pattern: string;
      try {
        pattern = this.processStopOn("/", true).text;
      } catch (error) {
        if (error instanceof Reason && this.#peek() === undefined) {
          throw new Reason("syntax error: missing '/' in ${}");
        }
        throw error;
      }
      const replacement = this.#operand("}", true).text;
      const value = this.#lookup(name);
      // BuildKit writes an unset variable back with one slash, even for `//`.
      if (value === undefined && this.#skipUnset) return `\${${name}/${pattern}/${replacement}}`;
      return replace(value ?? "", pattern, replacement, all);
    }
    throw new Reason(`unsupported modifier (${modifier}) in substitution`);
  }
}

/**
 * Converts a `${var#pattern}`-style shell pattern to a regular expression: `*` and `?` are
 * wildcards, `\` escapes `*`, `?` and `\`, and `\}` / `\/` stand for the plain characters.
 * Bracket ranges are literal, as in BuildKit.
 */
function patternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let source = anchored ? "^" : "";
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "*") {
      source += greedy ? "[^\\n]*" : "[^\\n]*?";
    } else if (ch === "?") {
      source += "[^\\n]";
    } else if (ch === "\\") {
      const next = chars[i + 1];
      if (next === "}" || next === "/") continue;
      if (next !== "*" && next !== "?" && next !== "\\") {
        throw new Reason(
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${next ?? ""}'`,
        );
      }
      source += "\\" + next;
      i++;
    } else {
      source += escapeRegExp(ch);
    }
  }
  return new RegExp(source, "u");
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const match = patternToRegExp(pattern, greedy, true).exec(value);
  return match ? value.slice(match[0].length) : value;
}

/** Finds the rightmost match by matching the reversed pattern against the reversed value. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = trimPrefix(reversePattern(pattern), reverse(value), greedy);
  return reverse(reversed);
}

function reverse(text: string): string {
  return Array.from(text).reverse().join("");
}

/** Reverses a pattern but keeps each escape in front of the character it escapes. */
function reversePattern(pattern: string): string {
  const units: string[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === "\\" && i + 1 < chars.length) {
      units.push(chars[i] + chars[i + 1]);
      i++;
    } else {
      units.push(chars[i]);
    }
  }
  return units.reverse().join("");
}

/** Go's ReplaceAllString semantics: an empty match right after a previous match is skipped. */
function replace(value: string, pattern: string, replacement: string, all: boolean): string {
  const regexp = patternToRegExp(pattern, true, false);
  if (!all) {
    const match = regexp.exec(value);
    if (!match) return value;
    return value.slice(0, match.index) + replacement + value.slice(match.index + match[0].length);
  }
  const global = new RegExp(regexp.source, "gu");
  let out = "";
  let last = 0;
  let previousEnd = -1;
  while (global.lastIndex <= value.length) {
    const match = global.exec(value);
    if (!match) break;
    const end = match.index + match[0].length;
    if (match[0] === "") {
      global.lastIndex = match.index + 1;
      if (match.index === previousEnd) continue;
    }
    out += value.slice(last, match.index) + replacement;
    last = end;
    previousEnd = end;
  }
  return out + value.slice(last);
}
