/**
 * `stratum fmt`: prints a parsed Dockerfile in one canonical layout that parses back to the
 * same instructions. Keywords upper-case, one space between words, flags first, JSON form as
 * `["a", "b"]`, heredoc bodies kept byte for byte, comments kept above their instruction,
 * one blank line before each FROM after the first. Comment lines inside a continuation are
 * dropped, as BuildKit drops them. {@linkcode toParseJson} prints the same parse as JSON
 * (`stratum parse --json`).
 *
 * @module
 */
import type { Instruction, ParsedDockerfile } from "./parser.ts";

const DIRECTIVE_LIKE = /^#\s*[a-zA-Z][a-zA-Z0-9]*\s*=/;

/**
 * Formats a parsed Dockerfile.
 *
 * @example
 * ```ts
 * import { formatDockerfile } from "./format.ts";
 * import { parseDockerfile } from "./parser.ts";
 * import assert from "node:assert/strict";
 * const text = formatDockerfile(parseDockerfile("from alpine\nrun   echo \\\n  hi\n"));
 * assert.equal(text, "FROM alpine\nRUN echo   hi\n");
 * ```
 */
export function formatDockerfile(parsed: ParsedDockerfile): string {
  const out: string[] = parsed.directives.map((d) => `# ${d.name}=${d.value}`);
  if (out.length > 0) out.push("");
  parsed.instructions.forEach((instruction, index) => {
    if (index > 0 && instruction.keyword === "from") out.push("");
    for (const comment of instruction.comments) out.push(comment === "" ? "#" : `# ${comment}`);
    out.push(formatInstruction(instruction));
  });
  for (const comment of parsed.trailingComments) out.push(comment === "" ? "#" : `# ${comment}`);
  // Without directives, a leading comment that looks like one would become one.
  if (parsed.directives.length === 0 && DIRECTIVE_LIKE.test(out[0] ?? "")) out.unshift("");
  return out.join("\n") + "\n";
}

/** One instruction, its heredoc bodies after it. */
function formatInstruction(instruction: Instruction): string {
  let text = formatLine(instruction);
  const heredocs = instruction.keyword === "onbuild"
    ? instruction.instruction?.heredocs ?? []
    : instruction.heredocs;
  for (const heredoc of heredocs) text += "\n" + heredoc.content + heredoc.name;
  return text;
}

function formatLine(instruction: Instruction): string {
  const words = [instruction.keyword.toUpperCase(), ...instruction.flags.map(formatFlag)];
  let body: string;
  switch (instruction.keyword) {
    case "env":
    case "label":
      body = instruction.args
        .map((pair) => pair.equals ? `${pair.key}=${pair.value}` : `${pair.key} ${pair.value}`)
        .join(" ");
      break;
    case "arg":
      body = instruction.args
        .map((arg) => arg.default === null ? arg.name : `${arg.name}=${arg.default}`)
        .join(" ");
      break;
    case "onbuild":
      // The trigger text is stored verbatim in the image config, so it is kept as written.
      body = instruction.args[0];
      break;
    case "healthcheck": {
      const [type, ...command] = instruction.args;
      body = [type, instruction.json ? jsonArray(command) : command.join(" ")]
        .filter((part) => part !== "" && part !== undefined)
        .join(" ");
      break;
    }
    default:
      body = instruction.json ? jsonArray(instruction.args) : instruction.args.join(" ");
  }
  // Arguments that start with "--" were separated from the flags by a bare "--".
  if (body.startsWith("--")) words.push("--");
  if (body !== "") words.push(body);
  return words.join(" ");
}

function jsonArray(items: string[]): string {
  return `[${items.map((item) => JSON.stringify(item)).join(", ")}]`;
}

/** Re-quotes a flag whose value holds whitespace, quotes or backslashes. */
function formatFlag(flag: string): string {
  if (!/[\s"'\\]/.test(flag)) return flag;
  return `--"${flag.slice(2).replace(/["\\]/g, "\\$&")}"`;
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
