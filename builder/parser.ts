/**
 * A Dockerfile parser that accepts what BuildKit's dockerfile frontend (1.x) accepts and reads
 * it the same way: parser directives, escape-character line continuations, comments, heredocs,
 * exec (JSON) versus shell form, per-instruction flags and argument splitting, and BuildKit's
 * instruction checks (argument counts, allowed flags, ONBUILD triggers, HEALTHCHECK options).
 *
 * @module
 */
import type {
  Directive,
  Instruction,
  InstructionBase,
  KeyValuePair,
  Keyword,
  ParsedDockerfile,
  ParseWarning,
} from "./dockerfile_types.ts";
import { DockerfileSyntaxError } from "./errors.ts";
import { canContainHeredoc, heredocsFromLine } from "./heredoc.ts";
import { copyFlags, healthcheckOptions, type RunFlags, runFlags } from "./instruction_flags.ts";
import { atLeastOne, checkInstructions, flagProblems, type UnknownLine } from "./parser_checks.ts";
import {
  LineProblem,
  NotStringArrayError,
  parseJsonArray,
  parseWords,
  splitCommand,
  splitWhitespace,
  UnknownInstruction,
} from "./_line_parsers.ts";
import { withSuggestion } from "./_suggest.ts";

export type {
  ArgDefinition,
  ArgInstruction,
  CopyInstruction,
  Directive,
  HealthcheckInstruction,
  Heredoc,
  Instruction,
  InstructionBase,
  KeyValueInstruction,
  KeyValuePair,
  Keyword,
  OnbuildInstruction,
  ParsedDockerfile,
  ParseWarning,
  PlainInstruction,
  RunInstruction,
} from "./dockerfile_types.ts";

/** Options of {@linkcode parseDockerfile}. */
export interface ParseOptions {
  /** The file name, recorded on errors as `file`. Default: none. */
  file?: string;
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
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
    case "copy": {
      const json = parseJsonArray(rest);
      const copy = { keyword, ...base(flags), copyFlags: copyFlags(flags) };
      return json ? { ...copy, json: true, args: json } : { ...copy, args: splitWhitespace(rest) };
    }
    case "volume": {
      const json = parseJsonArray(rest);
      return json
        ? { keyword, ...base(flags), json: true, args: json }
        : { keyword, ...base(flags), args: splitWhitespace(rest) };
    }
    case "run": {
      let read: RunFlags = { mounts: [] };
      let problem: string | undefined;
      try {
        read = runFlags(flags);
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        problem = error.message;
      }
      const json = rest === "" ? undefined : parseJsonArray(rest);
      const run: Instruction = json
        ? { keyword, ...base(flags), runFlags: read, json: true, args: json }
        : { keyword, ...base(flags), runFlags: read, args: rest === "" ? [] : [rest] };
      if (problem !== undefined) flagProblems.set(run, problem);
      return run;
    }
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
      const health = { keyword, ...base(flags), healthcheck: healthcheckOptions(flags) };
      const match = /[\t\n\v\f\r ]/.exec(rest);
      const type = match ? rest.slice(0, match.index) : rest;
      if (type === "") return { ...health, args: [] };
      const command = match ? rest.slice(match.index).trimStart() : "";
      const json = command === "" ? undefined : parseJsonArray(command);
      if (json) return { ...health, json: true, args: [type, ...json] };
      return { ...health, args: command === "" ? [type] : [type, command] };
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
