/**
 * What the Dockerfile parser (`parser.ts`) gives: directives, instructions with their
 * arguments split the BuildKit way and their flags read into typed values, heredocs,
 * warnings. Plain data, so `JSON.stringify` prints it.
 *
 * @module
 */
import type { CopyFlags, HealthcheckOptions, RunFlags } from "./instruction_flags.ts";

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

/** COPY or ADD: `args` as for {@linkcode PlainInstruction}, the flags read. */
export interface CopyInstruction extends InstructionBase {
  /** `copy` or `add`. */
  keyword: "copy" | "add";
  /** Sources then the destination: whitespace-separated words (quotes kept) or JSON. */
  args: string[];
  /** The flags, values as written (expanded when the step runs). */
  copyFlags: CopyFlags;
}

/** RUN: `args` as for {@linkcode PlainInstruction}, the flags read. */
export interface RunInstruction extends InstructionBase {
  /** Always `run`. */
  keyword: "run";
  /** The command: one string in shell form, the array's strings in JSON form. */
  args: string[];
  /** The flags: mounts and network. */
  runFlags: RunFlags;
}

/** HEALTHCHECK: the type word (`CMD` or `NONE`) then the command, and the flags read. */
export interface HealthcheckInstruction extends InstructionBase {
  /** Always `healthcheck`. */
  keyword: "healthcheck";
  /** The type word, then the command (one string, or the JSON array's strings). */
  args: string[];
  /** The flags, durations already parsed. */
  healthcheck: HealthcheckOptions;
}

/**
 * Every other instruction, with `args` split the BuildKit way:
 * - FROM, EXPOSE and shell-form VOLUME: whitespace-separated words, quotes kept;
 * - shell-form CMD/ENTRYPOINT/SHELL, USER, WORKDIR, STOPSIGNAL, MAINTAINER: one string;
 * - JSON form: the array's strings.
 */
export interface PlainInstruction extends InstructionBase {
  /** The instruction, lower-case. */
  keyword: Exclude<
    Keyword,
    "env" | "label" | "arg" | "onbuild" | "copy" | "add" | "run" | "healthcheck"
  >;
  /** The arguments, split as described above. */
  args: string[];
}

/** One parsed instruction. */
export type Instruction =
  | KeyValueInstruction
  | ArgInstruction
  | OnbuildInstruction
  | CopyInstruction
  | RunInstruction
  | HealthcheckInstruction
  | PlainInstruction;

/** A warning BuildKit would print without failing the build. */
export interface ParseWarning {
  /** The 1-based line the warning is about. */
  line: number;
  /** BuildKit's text for it. */
  message: string;
}

/** The result of `parseDockerfile`; plain data, so `JSON.stringify` prints it. */
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
