/**
 * ARG scoping as BuildKit applies it. ARGs before the first FROM (meta args) are visible only
 * to FROM lines, unless a stage declares the name again (`ARG NAME` without a value then takes
 * the meta value); `--build-arg` values override defaults; the automatic platform args are in
 * the global scope and, like meta args, enter a stage only when declared there; a stage
 * built `FROM` another stage starts with that stage's ARG values; proxy args pass to RUN
 * without a declaration, in both spellings; build args no ARG declares are reported.
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
  /** The instruction as parsed, words not yet expanded. */
  instruction: Instruction;
  /** ARGs declared in the stage so far that have a value (unset ones are absent). */
  args: Record<string, string>;
  /**
   * Names in `args` whose ARG came after the last ENV of the same name, so the ARG value is
   * the one RUN and expansion see. BuildKit keeps ARG and ENV values in one environment
   * where the later one wins; ENV stays in the image config either way.
   */
  argsOverEnv: string[];
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
  /** Each stage's steps with the ARG values in effect, in Dockerfile order. */
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
  // Each named stage's ARG values at its end: a stage built FROM it starts with them.
  const finalScopes = new Map<string, { scope: Record<string, string>; over: Set<string> }>();
  let stage: StageArgs | undefined;
  let scope: Record<string, string> = {};
  let over = new Set<string>();

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
      // BuildKit's stage init copies the parent stage's state, ARG values included, so they
      // reach RUN and expansion in the child (dockerfile2llb dispatchState.init).
      const parent = finalScopes.get(baseName.toLowerCase());
      scope = { ...parent?.scope };
      over = new Set(parent?.over);
      if (stage.name !== null) finalScopes.set(stage.name, { scope, over });
      continue;
    }
    if (stage) {
      stage.steps.push({ instruction, args: { ...scope }, argsOverEnv: [...over] });
    }
    if (instruction.keyword === "env") {
      for (const { key } of instruction.args) over.delete(key);
      continue;
    }
    if (instruction.keyword !== "arg") continue;
    const target = stage ? scope : global;
    for (const { name, default: fallback } of instruction.args) {
      declared.add(name);
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, name)) value = buildArgs[name];
      else if (fallback !== null) value = expand(fallback, target, instruction);
      else if (stage && Object.hasOwn(global, name)) value = global[name];
      if (value !== undefined) {
        target[name] = value;
        if (stage) over.add(name);
      }
    }
  }

  const proxyArgs: Record<string, string> = {};
  const unusedBuildArgs: string[] = [];
  // BuildKit matches proxy names in any case and sets both spellings for RUN (its ProxyEnv);
  // in sorted order, so `http_proxy` wins over `HTTP_PROXY` when both are given.
  for (const name of Object.keys(buildArgs).sort()) {
    const proxy = PROXY_ARGS.find((p) => p.toLowerCase() === name.toLowerCase());
    if (proxy !== undefined) {
      proxyArgs[proxy.toUpperCase()] = buildArgs[name];
      proxyArgs[proxy.toLowerCase()] = buildArgs[name];
    }
  }
  // An empty value sets nothing (BuildKit's proxyEnvList).
  for (const [name, value] of Object.entries(proxyArgs)) if (value === "") delete proxyArgs[name];
  for (const name of Object.keys(buildArgs)) {
    if (PROXY_ARGS.some((p) => p.toLowerCase() === name.toLowerCase())) continue;
    if (!declared.has(name) && !name.startsWith("BUILDKIT_")) unusedBuildArgs.push(name);
  }
  const warnings = unusedBuildArgs.length === 0
    ? []
    : [`[Warning] One or more build-args [${unusedBuildArgs.join(" ")}] were not consumed`];
  return { metaArgs: global, stages, proxyArgs, unusedBuildArgs, warnings };
}
