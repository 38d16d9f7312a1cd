/**
 * BuildKit's instruction-level checks (instructions/parse.go), run after the whole file
 * is read so problems are reported in file order: argument counts, allowed flags and
 * their values, stage names, ONBUILD triggers, HEALTHCHECK options, RUN mounts.
 *
 * @module
 */
import type { Instruction } from "./dockerfile_types.ts";
import { DockerfileSyntaxError } from "./errors.ts";
import { parseHeredocWord } from "./heredoc.ts";
import { parseGoDuration } from "./instruction_flags.ts";
import { LineProblem } from "./_line_parsers.ts";
import { withSuggestion } from "./_suggest.ts";

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
type FlagKind = "bool" | "string" | "strings";
const HEALTHCHECK_FLAGS: Record<string, FlagKind> = {
  interval: "string",
  timeout: "string",
  "start-period": "string",
  "start-interval": "string",
  retries: "string",
};
/** Flags each instruction accepts; instructions absent here accept none. */
const ALLOWED_FLAGS: Partial<Record<Instruction["keyword"], Record<string, FlagKind>>> = {
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

/**
 * Flag values the parser could not read (a RUN mount of an unknown type), reported by the
 * checks in file order. A trigger inside ONBUILD is not checked: as in BuildKit, it is
 * parsed again, and checked, when a child build runs it.
 */
export const flagProblems: WeakMap<Instruction, string> = new WeakMap();

/** A line with an unknown keyword, kept to be reported in file order. */
export interface UnknownLine {
  /** How many instructions came before it. */
  before: number;
  startLine: number;
  endLine: number;
  message: string;
}

/** BuildKit's instruction-level checks (instructions/parse.go), in file order. */
export function checkInstructions(instructions: Instruction[], unknown: UnknownLine[]): void {
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
    case "run": {
      checkFlags(instruction);
      const problem = flagProblems.get(instruction);
      if (problem !== undefined) throw new LineProblem(problem);
      return;
    }
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

/** BuildKit's "requires at least one argument". */
export function atLeastOne(keyword: string): LineProblem {
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
