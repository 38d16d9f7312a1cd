/**
 * The per-instruction argument splitters of BuildKit's parser (line_parsers.go,
 * split_command.go), written for this module. Private to builder/.
 *
 * @module
 */

const WHITESPACE_RUN = /[\t\v\f\r ]+/;
const SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;

/** Go's unicode.IsSpace for one character. */
export function isSpace(ch: string): boolean {
  return SPACE.test(ch);
}

/** Splits a logical line into its keyword (as written), its `--flags` and the rest. */
export function splitCommand(line: string): { keyword: string; flags: string[]; rest: string } {
  const trimmed = line.trim();
  const match = WHITESPACE_RUN.exec(trimmed);
  if (!match) return { keyword: trimmed, flags: [], rest: "" };
  const { rest, flags } = extractFlags(trimmed.slice(match.index + match[0].length));
  return { keyword: trimmed.slice(0, match.index), flags, rest: rest.trim() };
}

const enum Phase {
  Spaces,
  Word,
  Quote,
}

/**
 * Takes leading words that start with `--` as flags, removing their quotes and `\` escapes;
 * a bare `--` ends the flags. BuildKit always uses `\` here, whatever `# escape=` says.
 */
function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let phase = Phase.Spaces;
  let word = "";
  let quote = "";
  let blankOk = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const ch = line[pos] ?? "";
    if (phase === Phase.Spaces) {
      if (pos === line.length) break;
      if (isSpace(ch)) continue;
      if (ch !== "-" || line[pos + 1] !== "-") return { rest: line.slice(pos), flags };
      phase = Phase.Word;
    }
    if (pos === line.length) {
      if (word !== "--" && (blankOk || word !== "")) flags.push(word);
      break;
    }
    if (phase === Phase.Word) {
      if (isSpace(ch)) {
        phase = Phase.Spaces;
        if (word === "--") return { rest: line.slice(pos), flags };
        if (blankOk || word !== "") flags.push(word);
        word = "";
        blankOk = false;
      } else if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = Phase.Quote;
      } else if (ch === "\\") {
        if (pos + 1 < line.length) word += line[++pos];
      } else {
        word += ch;
      }
      continue;
    }
    if (ch === quote) {
      phase = Phase.Word;
    } else if (ch === "\\") {
      if (pos + 1 === line.length) phase = Phase.Word;
      else word += line[++pos];
    } else {
      word += ch;
    }
  }
  return { rest: "", flags };
}

/**
 * Splits on unquoted whitespace but keeps quotes and escapes in the words (they are removed
 * later, by word expansion). Used by ENV, LABEL and ARG.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase = Phase.Spaces;
  let word = "";
  let quote = "";
  let blankOk = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos] ?? "";
    if (phase === Phase.Spaces) {
      if (pos === chars.length) break;
      if (isSpace(ch)) continue;
      phase = Phase.Word;
    }
    if (pos === chars.length) {
      if (blankOk || word !== "") words.push(word);
      break;
    }
    if (phase === Phase.Word) {
      if (isSpace(ch)) {
        phase = Phase.Spaces;
        if (blankOk || word !== "") words.push(word);
        word = "";
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = Phase.Quote;
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        ch = chars[++pos];
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = Phase.Word;
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = Phase.Word;
        continue;
      }
      word += ch;
      ch = chars[++pos];
    }
    word += ch;
  }
  return words;
}

/** Splits on runs of whitespace, ignoring quotes (FROM, EXPOSE, shell-form COPY/ADD/VOLUME). */
export function splitWhitespace(rest: string): string[] {
  return rest === "" ? [] : rest.split(WHITESPACE_RUN);
}

/** JSON form that is valid JSON but not an array of strings: an error, not shell form. */
export class NotStringArrayError extends Error {
  constructor() {
    super("when using JSON array syntax, arrays must be comprised of strings only");
  }
}

/**
 * Reads `rest` as a JSON array of strings, or returns `undefined` when it is not one (so it is
 * shell form). Like BuildKit's parseJSON (Go's json.Unmarshal into a slice), the whole text
 * must be the array: anything after the closing `]` makes it shell form (dockerfile/1.9.0 and
 * later; older frontends ignored the rest).
 *
 * @throws {NotStringArrayError} for a valid JSON array with non-string elements.
 */
export function parseJsonArray(rest: string): string[] | undefined {
  let start = 0;
  while (start < rest.length && isSpace(rest[start])) start++;
  const text = rest.slice(start);
  if (!text.startsWith("[")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((item) => typeof item === "string")) throw new NotStringArrayError();
  return value as string[];
}

/** A problem found while reading one logical line; the caller adds the line numbers. */
export class LineProblem extends Error {}

/**
 * An instruction keyword BuildKit does not know. Its parser keeps such lines and the
 * instruction checks reject them in file order, so an earlier line's error comes first.
 */
export class UnknownInstruction extends LineProblem {}
