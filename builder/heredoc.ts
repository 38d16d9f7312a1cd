/**
 * Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) as BuildKit's parser finds them on an
 * instruction line; the parser reads their bodies from the lines that follow.
 *
 * @module
 */
import type { Heredoc, Instruction } from "./dockerfile_types.ts";
import { LineProblem } from "./_line_parsers.ts";
import { expandWords } from "./word_expansion.ts";

// Blanks may follow `<<` (dockerfile/1.16.0); Go's `\s` is these five characters.
const HEREDOC = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

/** True for the instructions a heredoc can follow: RUN, COPY and ADD in shell form. */
export function canContainHeredoc(instruction: Instruction): boolean {
  const k = instruction.keyword;
  return (k === "run" || k === "copy" || k === "add") && !instruction.json;
}

/** Finds `<<EOF`-style words on a line, the way BuildKit's heredocsFromLine does. */
export function heredocsFromLine(line: string): Heredoc[] {
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
