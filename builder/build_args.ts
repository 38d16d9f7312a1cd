/**
 * ARG scoping as BuildKit applies it. ARGs before the first FROM (meta args) are visible only
 * to FROM lines, unless a stage declares the name again (`ARG NAME` without a value then takes
 * the meta value); `--build-arg` values override defaults; the automatic platform args are in
 * the global scope and, like meta args, enter a stage only when declared there; proxy args
 * pass to RUN without a declaration; build args no ARG declares are reported.
 *
 * @module
 */
import { DockerfileSyntaxError, WordExpansionError } from "./errors.ts";
import type { Instruction, ParsedDockerfile } from "./parser.ts";
import { expandWord } from "./word_expansion.ts";

/** Proxy build args: usable without an ARG, passed to RUN, never reported as unused. */
export const PROXY_ARGS: readonly string[] = [
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
];

/**
 * The automatic platform args for a target and a build platform (`os/arch[/variant]`):
 * `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT` and the `BUILD*` four.
 *
 * @throws {RangeError} when a platform is not `os/arch[/variant]`.
 */
export function platformArgs(
  targetPlatform: string,
  buildPlatform: string,
): Record<string, string> {
  return { ...platformSet("TARGET", targetPlatform), ...platformSet("BUILD", buildPlatform) };
}

function platformSet(prefix: string, platform: string): Record<string, string> {
  const parts = platform.toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new RangeError(
      `Invalid platform ${JSON.stringify(platform)}: expected os/arch[/variant]`,
    );
  }
  return {
    [`${prefix}PLATFORM`]: parts.join("/"),
    [`${prefix}OS`]: parts[0],
    [`${prefix}ARCH`]: parts[1],
    [`${prefix}VARIANT`]: parts[2] ?? "",
  };
}

/** Options of {@linkcode scopeBuildArgs}. */
export interface ScopeBuildArgsOptions {
  /** `--build-arg` values. Default none. */
  buildArgs?: Readonly<Record<string, string>>;
  /** The platform being built for. Default `"linux/amd64"`. */
  targetPlatform?: string;
  /** The platform doing the build. Default: the target platform. */
  buildPlatform?: string;
}

/** One instruction of a stage with the ARG values set when it runs. */
export interface ScopedStep {
  instruction: Instruction;
  /** ARGs declared in the stage so far that have a value (unset ones are absent). */
  args: Record<string, string>;
}

/** One build stage with its FROM expanded. */
export interface StageArgs {
  /** 0-based position among the stages. */
  index: number;
  /** The `AS` name, lower-cased, or `null`. */
  name: string | null;
  /** The FROM image reference after expansion with the meta args. */
  baseName: string;
  /** `--platform` after expansion, or `null` when not given. */
  platform: string | null;
  /** 1-based line of the FROM. */
  line: number;
  /** The stage's instructions after FROM, in order. */
  steps: ScopedStep[];
}

/** The result of {@linkcode scopeBuildArgs}. */
export interface ScopedBuildArgs {
  /** The global scope used for FROM lines: platform args and meta args that have values. */
  metaArgs: Record<string, string>;
  stages: StageArgs[];
  /** Proxy build args given with `--build-arg`; they go to RUN without an ARG. */
  proxyArgs: Record<string, string>;
  /** Build args that no ARG declares (proxy and `BUILDKIT_*` args excepted). */
  unusedBuildArgs: string[];
  /** Human-readable warnings, e.g. about unused build args. */
  warnings: string[];
}

/**
 * Resolves every ARG of a parsed Dockerfile and expands each FROM line.
 *
 * @example
 * ```ts
 * import { parseDockerfile } from "./parser.ts";
 * import { scopeBuildArgs } from "./build_args.ts";
 * import assert from "node:assert/strict";
 * const parsed = parseDockerfile("ARG V=3.19\nFROM alpine:$V\nARG V\nRUN echo $V\n");
 * const scoped = scopeBuildArgs(parsed, { buildArgs: { V: "3.20" } });
 * assert.equal(scoped.stages[0].baseName, "alpine:3.20");
 * assert.deepEqual(scoped.stages[0].steps[1].args, { V: "3.20" });
 * ```
 * @throws {DockerfileSyntaxError} when an ARG default or a FROM line cannot be expanded, or
 *   FROM expands to an empty name; the error has the line.
 */
export function scopeBuildArgs(
  parsed: ParsedDockerfile,
  options: ScopeBuildArgsOptions = {},
): ScopedBuildArgs {
  const buildArgs = options.buildArgs ?? {};
  const target = options.targetPlatform ?? "linux/amd64";
  const global: Record<string, string> = platformArgs(target, options.buildPlatform ?? target);
  const escapeToken = parsed.escapeToken;
  const declared = new Set<string>();
  const stages: StageArgs[] = [];
  let stage: StageArgs | undefined;
  let scope: Record<string, string> = {};

  const expand = (word: string, env: Record<string, string>, instruction: Instruction) => {
    try {
      return expandWord(word, env, { escapeToken });
    } catch (error) {
      if (!(error instanceof WordExpansionError)) throw error;
      throw new DockerfileSyntaxError(error.message, instruction.startLine, {
        endLine: instruction.endLine,
        cause: error,
      });
    }
  };

  for (const instruction of parsed.instructions) {
    if (instruction.keyword === "from") {
      const [image, , name] = instruction.args;
      const baseName = expand(image, global, instruction);
      if (baseName === "") {
        throw new DockerfileSyntaxError(
          `base name (${image}) should not be blank`,
          instruction.startLine,
        );
      }
      const platformFlag = instruction.flags.find((f) => f.startsWith("--platform="));
      stage = {
        index: stages.length,
        name: name === undefined ? null : name.toLowerCase(),
        baseName,
        platform: platformFlag === undefined
          ? null
          : expand(platformFlag.slice("--platform=".length), global, instruction),
        line: instruction.startLine,
        steps: [],
      };
      stages.push(stage);
      scope = {};
      continue;
    }
    if (stage) stage.steps.push({ instruction, args: { ...scope } });
    if (instruction.keyword !== "arg") continue;
    const target = stage ? scope : global;
    for (const { name, default: fallback } of instruction.args) {
      declared.add(name);
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, name)) value = buildArgs[name];
      else if (fallback !== null) value = expand(fallback, target, instruction);
      else if (stage && Object.hasOwn(global, name)) value = global[name];
      if (value !== undefined) target[name] = value;
    }
  }

  const proxyArgs: Record<string, string> = {};
  const unusedBuildArgs: string[] = [];
  for (const name of Object.keys(buildArgs)) {
    if (PROXY_ARGS.includes(name)) proxyArgs[name] = buildArgs[name];
    else if (!declared.has(name) && !name.startsWith("BUILDKIT_")) unusedBuildArgs.push(name);
  }
  const warnings = unusedBuildArgs.length === 0
    ? []
    : [`[Warning] One or more build-args [${unusedBuildArgs.join(" ")}] were not consumed`];
  return { metaArgs: global, stages, proxyArgs, unusedBuildArgs, warnings };
}
