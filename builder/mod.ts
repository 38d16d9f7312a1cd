/**
 * The Dockerfile front end of stratum's builder: everything between a Dockerfile plus a
 * context directory and the build graph.
 *
 * - {@linkcode parseDockerfile} reads a Dockerfile the way BuildKit does (directives,
 *   continuations, heredocs, exec/shell form, flags, per-instruction checks) and
 *   {@linkcode toParseJson} prints it for `stratum parse --json`; {@linkcode formatDockerfile}
 *   prints it back canonically for `stratum fmt`.
 * - {@linkcode expandWord} / {@linkcode expandWords} are BuildKit's word expansion;
 *   {@linkcode scopeBuildArgs} applies ARG scoping and expands FROM lines.
 * - {@linkcode DockerignoreMatcher} and {@linkcode filterContext} decide which context paths
 *   are sent; {@linkcode walkBuildContext} does the same over a real directory (the one part
 *   that needs a filesystem).
 *
 * @module
 */
export { DockerfileSyntaxError, WordExpansionError } from "./errors.ts";
export {
  type ArgDefinition,
  type ArgInstruction,
  type Directive,
  type Heredoc,
  type Instruction,
  type InstructionBase,
  type KeyValueInstruction,
  type KeyValuePair,
  type Keyword,
  type OnbuildInstruction,
  type ParsedDockerfile,
  parseDockerfile,
  type ParseOptions,
  type ParseWarning,
  type PlainInstruction,
  toParseJson,
} from "./parser.ts";
export { formatDockerfile } from "./format.ts";
export {
  type ExpandOptions,
  expandWord,
  expandWords,
  type ExpansionEnv,
} from "./word_expansion.ts";
export {
  platformArgs,
  PROXY_ARGS,
  scopeBuildArgs,
  type ScopeBuildArgsOptions,
  type ScopedBuildArgs,
  type ScopedStep,
  type StageArgs,
} from "./build_args.ts";
export {
  cleanPath,
  type ContextFilterOptions,
  createContextFilter,
  DockerignoreMatcher,
  dockerignorePathFor,
  filterContext,
  parseDockerignore,
} from "./dockerignore.ts";
export {
  type BuildContextListing,
  type ContextEntry,
  walkBuildContext,
  type WalkBuildContextOptions,
} from "./context_walk.ts";
