/**
 * A Dockerfile parser that accepts what BuildKit's dockerfile frontend (1.x) accepts and reads
 * it the same way: parser directives, escape-character line continuations, comments, heredocs,
 * exec (JSON) versus shell form, per-instruction flags and argument splitting, and BuildKit's
 * instruction checks (argument counts, allowed flags, ONBUILD triggers, HEALTHCHECK options).
 *
 * @module
 */
import { DockerfileSyntaxError } from "./errors.ts";
import {
  NotStringArrayError,
  parseJsonArray,
  parseWords,
  splitCommand,
  splitWhitespace,
} from "./_line_parsers.ts";
import { expandWords } from "./word_expansion.ts";
import { withSuggestion } from "./_suggest.ts";

/** A lower-case instruction keyword. */
export type Keyword =
  | "add"
  | "arg"
  | "cmd"
  | "copy"
  | "entrypoint"
  | "env"
  | "expose"
  | "from"
  | "healthcheck"
  | "label"
  | "maintainer"
  | "onbuild"
  | "run"
  | "shell"
  | "stopsignal"
  | "user"
  | "volume"
  | "workdir";

/** A parser directive from the top of the file (`# syntax=...`, `# escape=...`, `# check=...`). */
export interface Directive {
  /** `syntax`, `escape` or `check`, lower-case. */
  name: "syntax" | "escape" | "check";
  /** The value, trimmed. */
  value: string;
  /** 1-based line. */
  line: number;
}

/** A heredoc attached to RUN, COPY or ADD (or to their ONBUILD form). */
export interface Heredoc {
  /** The delimiter word with its quotes removed (`EOF`). */
  name: string;
  /** The body exactly as written, each line with its line ending; leading tabs not yet removed. */
  content: string;
  /** False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no expansion in the body. */
  expand: boolean;
  /** True for `<<-EOF`: leading tabs are stripped from the body lines. */
  chomp: boolean;
}

/** One ENV or LABEL pair, the value raw (quotes and escapes still in it). */
export interface KeyValuePair {
  /** The key as written (quotes and escapes still in it). */
  key: string;
  /** The value as written (quotes and escapes still in it). */
  value: string;
  /** True for `key=value`, false for the legacy `KEY key value` form. */
  equals: boolean;
}

/** One name declared by ARG, the default raw or `null` when none is given. */
export interface ArgDefinition {
  /** The ARG's name, as written. */
  name: string;
  /** The default after `=`, raw; `null` without `=`. */
  default: string | null;
}

/** Fields every instruction has. */
export interface InstructionBase {
  /** Flags as BuildKit extracts them: `--name=value`, quotes removed. */
  flags: string[];
  /** True when the arguments were written as a JSON array (exec form). */
  json: boolean;
  /** Heredoc bodies read after the instruction line, in order. */
  heredocs: Heredoc[];
  /** 1-based first line. */
  startLine: number;
  /** 1-based last line, heredoc bodies and terminators included. */
  endLine: number;
  /** Comment lines just before the instruction, `#` and surrounding spaces removed. */
  comments: string[];
}

/** ENV or LABEL: key/value pairs. */
export interface KeyValueInstruction extends InstructionBase {
  /** The instruction, lower-case. */
  keyword: "env" | "label";
  /** The pairs in the order written. */
  args: KeyValuePair[];
}

/** ARG: one or more names with optional defaults. */
export interface ArgInstruction extends InstructionBase {
  /** Always `arg`. */
  keyword: "arg";
  /** The names in the order written. */
  args: ArgDefinition[];
}

/**
 * ONBUILD: `args` holds the trigger text, `instruction` the parsed trigger. A trigger
 * whose keyword is unknown (`ONBUILD FOO bar`) has no `instruction`: BuildKit keeps its
 * text in the image and fails only when a child build runs it.
 */
export interface OnbuildInstruction extends InstructionBase {
  /** Always `onbuild`. */
  keyword: "onbuild";
  /** The trigger instruction's text, one string. */
  args: string[];
  /** The trigger, parsed as if it stood on its own line; undefined for an unknown keyword. */
  instruction?: Instruction;
}

/**
 * Every other instruction, with `args` split the BuildKit way:
 * - FROM, EXPOSE and shell-form COPY/ADD/VOLUME: whitespace-separated words, quotes kept;
 * - shell-form RUN/CMD/ENTRYPOINT/SHELL, USER, WORKDIR, STOPSIGNAL, MAINTAINER: one string;
 * - JSON form: the array's strings;
 * - HEALTHCHECK: the type word (`CMD` or `NONE`) then the command as above.
 */
export interface PlainInstruction extends InstructionBase {
  /** The instruction, lower-case. */
  keyword: Exclude<Keyword, "env" | "label" | "arg" | "onbuild">;
  /** The arguments, split as described above. */
  args: string[];
}

/** One parsed instruction. */
export type Instruction =
  | KeyValueInstruction
  | ArgInstruction
  | OnbuildInstruction
  | PlainInstruction;

/** A warning BuildKit would print without failing the build. */
export interface ParseWarning {
  /** The 1-based line the warning is about. */
  line: number;
  /** BuildKit's text for it. */
  message: string;
}

/** The result of {@linkcode parseDockerfile}; plain data, so `JSON.stringify` prints it. */
export interface ParsedDockerfile {
  /** The parser directives at the top of the file, in order. */
  directives: Directive[];
  /** `\` unless `# escape=` set a backtick. */
  escapeToken: "\\" | "`";
  /** The instructions in file order. */
  instructions: Instruction[];
  /** What BuildKit would warn about (empty continuation lines, ...). */
  warnings: ParseWarning[];
  /** Comment lines after the last instruction. */
  trailingComments: string[];
}

/** Options of {@linkcode parseDockerfile}. */
export interface ParseOptions {
  /** The file name, recorded on errors as `file`. Default: none. */
  file?: string;
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
// Blanks may follow `<<` (dockerfile/1.16.0); Go's `\s` is these five characters.
const HEREDOC = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const KEYWORDS = new Set<string>([
  "add",
  "arg",
  "cmd",
  "copy",
  "entrypoint",
  "env",
  "expose",
  "from",
  "healthcheck",
  "label",
  "maintainer",
  "onbuild",
  "run",
  "shell",
  "stopsignal",
  "user",
  "volume",
  "workdir",
]);

type FlagKind = "bool" | "string" | "strings";
const HEALTHCHECK_FLAGS: Record<string, FlagKind> = {
  interval: "string",
  timeout: "string",
  "start-period": "string",
  "start-interval": "string",
  retries: "string",
};
/** Flags each instruction accepts; instructions absent here accept none. */
const ALLOWED_FLAGS: Partial<Record<Keyword, Record<string, FlagKind>>> = {
  from: { platform: "string" },
  run: { mount: "strings", network: "string", security: "string" },
  copy: {
    from: "string",
    chown: "string",
    chmod: "string",
    link: "bool",
    parents: "bool",
    exclude: "strings",
  },
  add: {
    chown: "string",
    chmod: "string",
    link: "bool",
    "keep-git-dir": "bool",
    checksum: "string",
    exclude: "strings",
    unpack: "bool",
  },
};

/** A problem found while reading one logical line; the caller adds the line numbers. */
class LineProblem extends Error {}

/**
 * An instruction keyword BuildKit does not know. Its parser keeps such lines and the
 * instruction checks reject them in file order, so an earlier line's error comes first.
 */
class UnknownInstruction extends LineProblem {}

/**
 * Parses a Dockerfile.
 *
 * @example
 * ```ts
 * import { parseDockerfile } from "./parser.ts";
 * import assert from "node:assert/strict";
 * const parsed = parseDockerfile("FROM alpine AS base\nRUN echo hi\n");
 * assert.deepEqual(parsed.instructions.map((i) => i.keyword), ["from", "run"]);
 * ```
 * @param text The file's text, or its bytes (UTF-8; a BOM is skipped).
 * @throws {DockerfileSyntaxError} where BuildKit would reject the file, with the line.
 */
export function parseDockerfile(
  text: string | Uint8Array,
  options: ParseOptions = {},
): ParsedDockerfile {
  try {
    return parse(typeof text === "string" ? text : new TextDecoder().decode(text));
  } catch (error) {
    if (error instanceof DockerfileSyntaxError && options.file !== undefined) {
      throw new DockerfileSyntaxError(error.reason, error.line, {
        endLine: error.endLine,
        file: options.file,
        cause: error.cause,
      });
    }
    throw error;
  }
}

function trimNewline(line: string): string {
  let end = line.length;
  while (end > 0 && (line[end - 1] === "\r" || line[end - 1] === "\n")) end--;
  return end === line.length ? line : line.slice(0, end);
}

function continuationRegExp(escapeToken: string): RegExp {
  const e = escapeToken === "`" ? "`" : "\\\\";
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

function parse(source: string): ParsedDockerfile {
  const lines = source.split("\n");
  const endsWithNewline = lines.at(-1) === "";
  if (endsWithNewline) lines.pop();
  if (lines.length > 0 && lines[0].startsWith("\uFEFF")) lines[0] = lines[0].slice(1);

  const directives: Directive[] = [];
  const instructions: Instruction[] = [];
  const warnings: ParseWarning[] = [];
  const unknown: UnknownLine[] = [];
  let escapeToken: "\\" | "`" = "\\";
  let continuation = continuationRegExp(escapeToken);
  let lookingForDirectives = true;
  let comments: string[] = [];
  let i = 0;

  const rawLine = (index: number): string =>
    lines[index] + (index < lines.length - 1 || endsWithNewline ? "\n" : "");
  const trimContinuation = (line: string): [string, boolean] => {
    if (!continuation.test(line)) return [line, true];
    return [line.replace(continuation, "$1"), false];
  };

  while (i < lines.length) {
    const lineNumber = i + 1;
    const line = trimNewline(lines[i++]).trimStart();

    if (lookingForDirectives) {
      const match = DIRECTIVE.exec(line);
      const name = match?.[1].toLowerCase();
      if (match && (name === "syntax" || name === "escape" || name === "check")) {
        if (directives.some((d) => d.name === name)) {
          throw new DockerfileSyntaxError(
            `only one ${name} parser directive can be used`,
            lineNumber,
          );
        }
        if (name === "escape") {
          if (match[2] !== "\\" && match[2] !== "`") {
            throw new DockerfileSyntaxError(
              `invalid escape token '${match[2]}' does not match \` or \\`,
              lineNumber,
            );
          }
          escapeToken = match[2];
          continuation = continuationRegExp(escapeToken);
        }
        directives.push({ name, value: match[2], line: lineNumber });
        continue;
      }
      lookingForDirectives = false;
    }

    if (line.startsWith("#")) {
      comments.push(line.slice(1).trim());
      continue;
    }
    let [logical, complete] = trimContinuation(line);
    if (complete && logical === "") continue;

    const startLine = lineNumber;
    let hasEmptyContinuation = false;
    while (!complete && i < lines.length) {
      const next = trimNewline(lines[i++]);
      const leading = next.trimStart();
      // Comment lines inside a continuation are dropped, blank ones only warned about.
      if (leading.startsWith("#")) continue;
      if (leading === "") {
        hasEmptyContinuation = true;
        continue;
      }
      let part: string;
      [part, complete] = trimContinuation(next);
      logical += part;
    }
    let endLine = i;
    if (hasEmptyContinuation) {
      warnings.push({ line: startLine, message: `Empty continuation line found in: ${logical}` });
    }

    let instruction: Instruction;
    try {
      try {
        instruction = parseLine(logical, escapeToken);
      } catch (error) {
        if (!(error instanceof UnknownInstruction)) throw error;
        unknown.push({ before: instructions.length, startLine, endLine, message: error.message });
        comments = [];
        continue;
      }
      const target = instruction.keyword === "onbuild" ? instruction.instruction : instruction;
      if (target && canContainHeredoc(target)) {
        for (const heredoc of heredocsFromLine(logical)) {
          let terminated = false;
          while (i < lines.length) {
            let candidate = trimNewline(lines[i]);
            if (heredoc.chomp) candidate = candidate.replace(/^\t+/, "");
            endLine = ++i;
            if (candidate === heredoc.name) {
              terminated = true;
              break;
            }
            heredoc.content += rawLine(i - 1);
          }
          if (!terminated) throw new LineProblem("unterminated heredoc");
          target.heredocs.push(heredoc);
        }
      }
    } catch (error) {
      if (error instanceof LineProblem) {
        throw new DockerfileSyntaxError(error.message, startLine, { endLine });
      }
      throw error;
    }
    setLines(instruction, startLine, endLine);
    instruction.comments = comments;
    comments = [];
    instructions.push(instruction);
  }

  if (instructions.length === 0 && unknown.length === 0) {
    throw new DockerfileSyntaxError("file with no instructions", Math.max(1, lines.length));
  }
  checkInstructions(instructions, unknown);
  return { directives, escapeToken, instructions, warnings, trailingComments: comments };
}

function setLines(instruction: Instruction, startLine: number, endLine: number): void {
  instruction.startLine = startLine;
  instruction.endLine = endLine;
  if (instruction.keyword === "onbuild" && instruction.instruction) {
    setLines(instruction.instruction, startLine, endLine);
  }
}

function canContainHeredoc(instruction: Instruction): boolean {
  const k = instruction.keyword;
  return (k === "run" || k === "copy" || k === "add") && !instruction.json;
}

/** Finds `<<EOF`-style words on a line, the way BuildKit's heredocsFromLine does. */
function heredocsFromLine(line: string): Heredoc[] {
  let words: string[];
  try {
    words = expandWords(line, {}, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  } catch {
    return [];
  }
  const heredocs: Heredoc[] = [];
  for (const word of words) {
    const heredoc = parseHeredocWord(word);
    if (heredoc) heredocs.push(heredoc);
  }
  return heredocs;
}

/**
 * Reads a `<<EOF`, `<<-EOF`, `<<"EOF"` word. The delimiter counts as quoted (so the body is not
 * expanded) when removing quotes changes it.
 */
export function parseHeredocWord(word: string): Heredoc | undefined {
  const match = HEREDOC.exec(word);
  if (!match || match[3] === "") return undefined;
  let names: string[];
  let raw: string[];
  try {
    names = expandWords(match[3], {}, { skipUnsetEnv: true });
    raw = expandWords(match[3], {}, { skipUnsetEnv: true, rawQuotes: true });
  } catch (error) {
    throw new LineProblem((error as Error).message);
  }
  if (names.length !== 1) return undefined;
  const quotes = (s: string): number => s.replace(/[^'"]/g, "").length;
  return {
    name: names[0],
    content: "",
    expand: quotes(names[0]) === quotes(raw[0]),
    chomp: match[2] === "-",
  };
}

function base(flags: string[]): InstructionBase {
  return { flags, json: false, heredocs: [], startLine: 0, endLine: 0, comments: [] };
}

/** Parses one logical line into an instruction (line numbers are set by the caller). */
function parseLine(line: string, escapeToken: string): Instruction {
  const { keyword: written, flags, rest } = splitCommand(line);
  const keyword = written.toLowerCase();
  if (!KEYWORDS.has(keyword)) {
    const names = [...KEYWORDS].map((k) => k.toUpperCase());
    throw new UnknownInstruction(
      withSuggestion(`unknown instruction: ${written}`, written, names, false),
    );
  }
  try {
    return parseArguments(keyword as Keyword, flags, rest, escapeToken);
  } catch (error) {
    if (error instanceof NotStringArrayError) throw new LineProblem(error.message);
    throw error;
  }
}

function parseArguments(
  keyword: Keyword,
  flags: string[],
  rest: string,
  escapeToken: string,
): Instruction {
  switch (keyword) {
    case "env":
    case "label":
      return { keyword, ...base(flags), args: parseKeyValues(keyword, rest, escapeToken) };
    case "arg":
      return {
        keyword,
        ...base(flags),
        args: parseWords(rest, escapeToken).map((word) => {
          const eq = word.indexOf("=");
          return eq < 0
            ? { name: word, default: null }
            : { name: word.slice(0, eq), default: word.slice(eq + 1) };
        }),
      };
    case "onbuild": {
      if (rest === "") throw atLeastOne("ONBUILD");
      let trigger: Instruction | undefined;
      try {
        trigger = parseLine(rest, escapeToken);
      } catch (error) {
        // BuildKit parses an unknown trigger keyword as an ignored node, so the parent
        // builds; the child's build reports "unknown instruction" when it runs it.
        if (!(error instanceof UnknownInstruction)) throw error;
      }
      return { keyword, ...base(flags), args: [rest], instruction: trigger };
    }
    case "add":
    case "copy":
    case "volume": {
      const json = parseJsonArray(rest);
      return json
        ? { keyword, ...base(flags), json: true, args: json }
        : { keyword, ...base(flags), args: splitWhitespace(rest) };
    }
    case "run":
    case "cmd":
    case "entrypoint":
    case "shell": {
      const json = rest === "" ? undefined : parseJsonArray(rest);
      return json
        ? { keyword, ...base(flags), json: true, args: json }
        : { keyword, ...base(flags), args: rest === "" ? [] : [rest] };
    }
    case "expose":
    case "from":
      return { keyword, ...base(flags), args: splitWhitespace(rest) };
    case "healthcheck": {
      const match = /[\t\n\v\f\r ]/.exec(rest);
      const type = match ? rest.slice(0, match.index) : rest;
      if (type === "") return { keyword, ...base(flags), args: [] };
      const command = match ? rest.slice(match.index).trimStart() : "";
      const json = command === "" ? undefined : parseJsonArray(command);
      if (json) return { keyword, ...base(flags), json: true, args: [type, ...json] };
      return { keyword, ...base(flags), args: command === "" ? [type] : [type, command] };
    }
    default:
      return { keyword, ...base(flags), args: rest === "" ? [] : [rest] };
  }
}

function parseKeyValues(keyword: string, rest: string, escapeToken: string): KeyValuePair[] {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return [];
  const upper = keyword.toUpperCase();
  if (!words[0].includes("=")) {
    const match = /[\t\v\f\r ]+/.exec(rest);
    if (!match) throw new LineProblem(`${upper} must have two arguments`);
    return [{
      key: rest.slice(0, match.index),
      value: rest.slice(match.index + match[0].length),
      equals: false,
    }];
  }
  return words.map((word) => {
    const eq = word.indexOf("=");
    if (eq < 0) {
      throw new LineProblem(
        `Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`,
      );
    }
    return { key: word.slice(0, eq), value: word.slice(eq + 1), equals: true };
  });
}

/** A line with an unknown keyword, kept to be reported in file order. */
interface UnknownLine {
  /** How many instructions came before it. */
  before: number;
  startLine: number;
  endLine: number;
  message: string;
}

/** BuildKit's instruction-level checks (instructions/parse.go), in file order. */
function checkInstructions(instructions: Instruction[], unknown: UnknownLine[]): void {
  const stageNames = new Set<string>();
  let seenFrom = false;
  for (const [index, instruction] of [...instructions, undefined].entries()) {
    const bad = unknown.find((u) => u.before === index);
    if (bad) {
      throw new DockerfileSyntaxError(bad.message, bad.startLine, { endLine: bad.endLine });
    }
    if (instruction === undefined) return;
    try {
      checkInstruction(instruction, stageNames);
      if (instruction.keyword === "from") seenFrom = true;
      else if (!seenFrom && instruction.keyword !== "arg") {
        throw new LineProblem("no build stage in current context");
      }
    } catch (error) {
      if (error instanceof LineProblem) {
        throw new DockerfileSyntaxError(error.message, instruction.startLine, {
          endLine: instruction.endLine,
        });
      }
      throw error;
    }
  }
}

function checkInstruction(instruction: Instruction, stageNames: Set<string>): void {
  const upper = instruction.keyword.toUpperCase();
  switch (instruction.keyword) {
    case "env":
    case "label":
      checkFlags(instruction);
      if (instruction.args.length === 0) throw atLeastOne(upper);
      if (instruction.args.some((pair) => pair.key === "")) {
        throw new LineProblem(`${upper} names can not be blank`);
      }
      return;
    case "arg":
      if (instruction.args.length === 0) throw atLeastOne(upper);
      if (instruction.args.some((arg) => arg.name === "")) {
        throw new LineProblem("ARG names can not be blank");
      }
      return;
    case "add":
    case "copy": {
      if (instruction.args.length < 2) {
        throw new LineProblem(
          `${upper} requires at least two arguments, but only one was provided. Destination could not be determined`,
        );
      }
      checkFlags(instruction);
      if (parseHeredocWord(instruction.args.at(-1)!)) {
        throw new LineProblem(`${upper} cannot accept a heredoc as a destination`);
      }
      return;
    }
    case "from": {
      const args = instruction.args;
      if (args.length === 3 && args[1].toLowerCase() === "as") {
        const name = args[2].toLowerCase();
        if (!STAGE_NAME.test(name)) {
          throw new LineProblem(
            `invalid name for build stage: ${
              JSON.stringify(args[2])
            }, name can't start with a number or contain symbols`,
          );
        }
        if (stageNames.has(name)) {
          throw new LineProblem(`duplicate stage name ${JSON.stringify(name)}`);
        }
        stageNames.add(name);
      } else if (args.length !== 1) {
        throw new LineProblem("FROM requires either one or three arguments");
      }
      checkFlags(instruction);
      return;
    }
    case "onbuild": {
      if (instruction.args.length === 0) throw atLeastOne(upper);
      checkFlags(instruction);
      const trigger = instruction.instruction?.keyword.toUpperCase();
      if (trigger === "ONBUILD") {
        throw new LineProblem("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      }
      if (trigger === "MAINTAINER" || trigger === "FROM") {
        throw new LineProblem(`${trigger} isn't allowed as an ONBUILD trigger`);
      }
      return;
    }
    case "maintainer":
    case "workdir":
    case "user":
      if (instruction.args.length !== 1) throw exactlyOne(upper);
      checkFlags(instruction);
      return;
    case "stopsignal":
      // BuildKit never parses STOPSIGNAL's flags, so it accepts any.
      if (instruction.args.length !== 1) throw exactlyOne(upper);
      return;
    case "run":
    case "cmd":
    case "entrypoint":
      checkFlags(instruction);
      return;
    case "shell":
      checkFlags(instruction);
      if (instruction.args.length === 0) throw atLeastOne(upper);
      if (!instruction.json) {
        throw new LineProblem("SHELL requires the arguments to be in JSON form");
      }
      return;
    case "expose":
      if (instruction.args.length === 0) throw atLeastOne(upper);
      checkFlags(instruction);
      return;
    case "volume":
      if (instruction.args.length === 0) throw atLeastOne(upper);
      checkFlags(instruction);
      if (instruction.args.some((v) => v.trim() === "")) {
        throw new LineProblem("VOLUME specified can not be an empty string");
      }
      return;
    case "healthcheck":
      checkHealthcheck(instruction);
      return;
  }
}

function atLeastOne(keyword: string): LineProblem {
  return new LineProblem(`${keyword} requires at least one argument`);
}

function exactlyOne(keyword: string): LineProblem {
  return new LineProblem(`${keyword} requires exactly one argument`);
}

/** BuildKit's BFlags.Parse: known names only, values where needed, no repeats. */
function checkFlags(
  instruction: Instruction,
  allowed: Record<string, FlagKind> = ALLOWED_FLAGS[instruction.keyword] ?? {},
): Map<string, string> {
  const values = new Map<string, string>();
  for (const flag of instruction.flags) {
    const eq = flag.indexOf("=");
    // Messages name the flag as written, dashes included (`unknown flag: --boo`).
    const written = flag.slice(0, eq < 0 ? undefined : eq);
    const name = written.slice(2);
    const value = eq < 0 ? "" : flag.slice(eq + 1);
    const kind = Object.hasOwn(allowed, name) ? allowed[name] : undefined;
    if (kind === undefined) {
      throw new LineProblem(
        withSuggestion(`unknown flag: ${written}`, name, Object.keys(allowed), true),
      );
    }
    if (values.has(name) && kind !== "strings") {
      throw new LineProblem(`duplicate flag specified: ${written}`);
    }
    if (kind === "bool") {
      if (eq >= 0 && value === "") throw new LineProblem(`missing a value on flag: ${written}`);
      const lower = value.toLowerCase();
      if (lower !== "" && lower !== "true" && lower !== "false") {
        throw new LineProblem(`expecting boolean value for flag ${written}, not: ${value}`);
      }
    } else if (eq < 0) {
      throw new LineProblem(`missing a value on flag: ${written}`);
    }
    values.set(name, value);
  }
  return values;
}

function checkHealthcheck(instruction: Instruction): void {
  const args = instruction.args as string[];
  if (args.length === 0) throw atLeastOne("HEALTHCHECK");
  const type = args[0].toUpperCase();
  if (type === "NONE") {
    if (args.length !== 1) throw new LineProblem("HEALTHCHECK NONE takes no arguments");
    return;
  }
  const values = checkFlags(instruction, HEALTHCHECK_FLAGS);
  if (type !== "CMD") {
    throw new LineProblem(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  }
  if (args.length < 2) throw new LineProblem("Missing command after HEALTHCHECK CMD");
  for (const name of ["interval", "timeout", "start-period", "start-interval"]) {
    const value = values.get(name);
    if (value === undefined || value === "") continue;
    const nanos = parseGoDuration(value);
    if (nanos === undefined) {
      throw new LineProblem(`time: invalid duration ${JSON.stringify(value)}`);
    }
    if (nanos !== 0 && nanos < 1e6) {
      throw new LineProblem(`Interval ${JSON.stringify(name)} cannot be less than 1ms`);
    }
  }
  const retries = values.get("retries");
  if (retries !== undefined && retries !== "") {
    if (!/^[+-]?\d+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31) {
      throw new LineProblem(`strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
    }
    if (Number(retries) < 0) {
      throw new LineProblem(`--retries cannot be negative (${Number(retries)})`);
    }
  }
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds, or `undefined` when the text is not a duration. */
function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest[0] === "-" || rest[0] === "+") {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  const part = /^(\d*(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== "") {
    const match = part.exec(rest);
    if (!match || match[1] === "" || match[1] === ".") return undefined;
    total += Number(match[1]) * DURATION_UNITS[match[2]];
    rest = rest.slice(match[0].length);
  }
  return sign * total;
}

/**
 * The JSON that `stratum parse --json` prints: directives, then each instruction with its
 * lower-case keyword, flags, JSON-form flag, arguments, nested ONBUILD trigger, heredocs,
 * lines and comments, then warnings.
 *
 * @param indent Spaces per level for `JSON.stringify`. Default 2.
 */
export function toParseJson(parsed: ParsedDockerfile, indent = 2): string {
  return JSON.stringify(
    {
      directives: parsed.directives,
      escapeToken: parsed.escapeToken,
      instructions: parsed.instructions.map(orderedInstruction),
      warnings: parsed.warnings,
      trailingComments: parsed.trailingComments,
    },
    null,
    indent,
  );
}

/** The same fields in reading order: what it is, its arguments, then where it is. */
function orderedInstruction(instruction: Instruction): Record<string, unknown> {
  return {
    keyword: instruction.keyword,
    flags: instruction.flags,
    json: instruction.json,
    args: instruction.args,
    ...(instruction.keyword === "onbuild" && instruction.instruction
      ? { instruction: orderedInstruction(instruction.instruction) }
      : {}),
    heredocs: instruction.heredocs,
    startLine: instruction.startLine,
    endLine: instruction.endLine,
    comments: instruction.comments,
  };
}
