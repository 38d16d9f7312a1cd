/**
 * What each Dockerfile instruction does to the image config and its history, as Docker
 * BuildKit (the dockerfile frontend bundled with Docker 20.10) writes them: the
 * `created_by` strings (Go's `%v`/`%q` formatting included), `empty_layer` for
 * metadata-only steps, CMD reset when ENTRYPOINT changes, ARGs kept out of the config.
 * Pure functions over plain data; the filesystem side of WORKDIR, COPY, ADD and RUN lives
 * in the build engine.
 *
 * @module
 */
import type { HealthConfig, History, ImageConfig } from "../image/mod.ts";
import { DockerfileSyntaxError, WordExpansionError } from "./errors.ts";
import type { HealthcheckInstruction, Instruction } from "./parser.ts";
import { expandWord, expandWords } from "./word_expansion.ts";

/** The PATH BuildKit gives images that have none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** The history comment BuildKit's dockerfile frontend writes. */
export const HISTORY_COMMENT = "buildkit.dockerfile.v0";
/** The shell of shell-form instructions when no SHELL is set. */
export const DEFAULT_SHELL: readonly string[] = ["/bin/sh", "-c"];

/** An image config being built, plus the one bit of stage state the config does not hold. */
export interface StageConfig {
  /** The image config: `config`, `history` and `rootfs` as built so far. */
  image: ImageConfig;
  /** True once this stage set CMD: a later ENTRYPOINT then keeps it. */
  cmdSet: boolean;
}

/** What applying one metadata instruction gives. */
export interface MetadataResult {
  /** The new stage config (the input is not changed). */
  state: StageConfig;
  /** The history entry's `created_by`, or `null` when BuildKit writes none (ONBUILD). */
  createdBy: string | null;
}

/**
 * The config a stage starts from: the base image's config with its history, or for
 * `scratch` an empty one. Like BuildKit, an image without PATH gets the default one and a
 * scratch stage gets WorkingDir `/`; ONBUILD triggers are taken off (the caller runs them).
 */
export function initialStageConfig(
  base: ImageConfig | null,
  platform: { os: string; architecture: string; variant?: string },
): StageConfig {
  const image: ImageConfig = base === null
    ? {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { WorkingDir: "/" },
      rootfs: { type: "layers", diff_ids: [] },
      history: [],
    }
    : structuredClone(base);
  image.config ??= {};
  image.history ??= [];
  const env = image.config.Env ?? [];
  if (!env.some((e) => e.startsWith("PATH="))) image.config.Env = [...env, `PATH=${DEFAULT_PATH}`];
  delete image.config.OnBuild;
  return { image, cmdSet: false };
}

/** The ENV of a config as a record, later entries winning. */
export function envRecord(image: ImageConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of image.config?.Env ?? []) {
    const eq = entry.indexOf("=");
    if (eq < 0) out[entry] = "";
    else out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/**
 * Variables for word expansion and RUN in a step: ARG values, overridden by ENV, except the
 * ARGs named in `argsOverEnv`, declared after the ENV of the same name. BuildKit keeps both
 * in one environment where the later one wins (`ENV E=E` then `ARG E` with
 * `--build-arg E=cli` gives RUN `E=cli`).
 */
export function expansionEnv(
  image: ImageConfig,
  args: Readonly<Record<string, string>>,
  argsOverEnv: Iterable<string> = [],
): Record<string, string> {
  const env = { ...args, ...envRecord(image) };
  for (const name of argsOverEnv) if (Object.hasOwn(args, name)) env[name] = args[name];
  return env;
}

/** The shell for shell-form instructions. */
export function shellOf(image: ImageConfig): string[] {
  return image.config?.Shell?.length ? [...image.config.Shell] : [...DEFAULT_SHELL];
}

/**
 * Appends a history entry. `created` is the step's time as RFC 3339; `emptyLayer` marks
 * metadata-only steps.
 */
export function addHistory(
  image: ImageConfig,
  createdBy: string,
  created: string,
  emptyLayer: boolean,
): void {
  const entry: History = { created, created_by: createdBy, comment: HISTORY_COMMENT };
  if (emptyLayer) entry.empty_layer = true;
  (image.history ??= []).push(entry);
}

/** Instructions that change only the config (WORKDIR, COPY, ADD, RUN make layers). */
export function isMetadataInstruction(instruction: Instruction): boolean {
  return !["workdir", "copy", "add", "run", "from"].includes(instruction.keyword);
}

/**
 * Applies a metadata instruction (ENV, ARG, LABEL, EXPOSE, VOLUME, USER, SHELL, STOPSIGNAL,
 * HEALTHCHECK, CMD, ENTRYPOINT, ONBUILD, MAINTAINER) to a stage config.
 *
 * @param args ARG values in scope at this instruction (before it, for ARG itself).
 * @param escapeToken The Dockerfile's escape character.
 * @param argsOverEnv ARG names that win over ENV here; see {@linkcode expansionEnv}.
 * @throws {DockerfileSyntaxError} when a word cannot be expanded or a value is invalid,
 *   with the instruction's line.
 */
export function applyMetadata(
  state: StageConfig,
  instruction: Instruction,
  args: Readonly<Record<string, string>>,
  escapeToken: "\\" | "`" = "\\",
  argsOverEnv: Iterable<string> = [],
): MetadataResult {
  const next: StageConfig = { image: structuredClone(state.image), cmdSet: state.cmdSet };
  const config = next.image.config ??= {};
  const env = expansionEnv(state.image, args, argsOverEnv);
  const word = (w: string) => expandAt(instruction, () => expandWord(w, env, { escapeToken }));
  const words = (w: string) => expandAt(instruction, () => expandWords(w, env, { escapeToken }));
  switch (instruction.keyword) {
    case "env": {
      const pairs = instruction.args.map((p) => [word(p.key), word(p.value)] as const);
      const current = config.Env ?? [];
      for (const [key, value] of pairs) {
        const index = current.findIndex((e) => e === key || e.startsWith(`${key}=`));
        if (index >= 0) current[index] = `${key}=${value}`;
        else current.push(`${key}=${value}`);
      }
      config.Env = current;
      return { state: next, createdBy: `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}` };
    }
    case "label": {
      const pairs = instruction.args.map((p) => [word(p.key), word(p.value)] as const);
      config.Labels = { ...config.Labels };
      for (const [key, value] of pairs) config.Labels[key] = value;
      return { state: next, createdBy: `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}` };
    }
    case "arg": {
      // BuildKit records the default as written (expanded), not a --build-arg override.
      const parts = instruction.args.map((a) => {
        if (a.default === null) return a.name;
        return `${a.name}=${word(a.default)}`;
      });
      return { state: next, createdBy: `ARG ${parts.join(" ")}` };
    }
    case "expose": {
      const ports = new Set<string>();
      for (const spec of instruction.args.flatMap(words)) {
        for (const port of parsePortSpec(spec, instruction)) ports.add(port);
      }
      config.ExposedPorts = { ...config.ExposedPorts };
      for (const port of ports) config.ExposedPorts[port] = {};
      return { state: next, createdBy: `EXPOSE ${goMap([...ports])}` };
    }
    case "volume": {
      const volumes = instruction.args.map(word);
      for (const v of volumes) {
        if (v.trim() === "") {
          throw lineError(instruction, "VOLUME specified can not be an empty string");
        }
      }
      config.Volumes = { ...config.Volumes };
      for (const v of volumes) config.Volumes[v] = {};
      return { state: next, createdBy: `VOLUME [${volumes.join(" ")}]` };
    }
    case "user": {
      const user = word(instruction.args[0]);
      config.User = user;
      return { state: next, createdBy: `USER ${user}` };
    }
    case "shell": {
      config.Shell = [...instruction.args];
      return { state: next, createdBy: `SHELL [${instruction.args.join(" ")}]` };
    }
    case "stopsignal": {
      const signal = word(instruction.args[0]);
      if (!validSignal(signal)) throw lineError(instruction, `Invalid signal: ${signal}`);
      config.StopSignal = signal;
      return { state: next, createdBy: `STOPSIGNAL ${signal}` };
    }
    case "maintainer": {
      next.image.author = instruction.args[0];
      return { state: next, createdBy: `MAINTAINER ${instruction.args[0]}` };
    }
    case "cmd": {
      const cmd = commandLine(instruction, state.image);
      config.Cmd = cmd;
      config.ArgsEscaped = true;
      next.cmdSet = true;
      return { state: next, createdBy: `CMD ${goQuoteList(cmd)}` };
    }
    case "entrypoint": {
      const entrypoint = commandLine(instruction, state.image);
      config.Entrypoint = entrypoint;
      if (!state.cmdSet) delete config.Cmd;
      return { state: next, createdBy: `ENTRYPOINT ${goQuoteList(entrypoint)}` };
    }
    case "healthcheck": {
      const health = healthcheck(instruction);
      config.Healthcheck = health.config;
      return { state: next, createdBy: `HEALTHCHECK ${health.describe}` };
    }
    case "onbuild": {
      config.OnBuild = [...(config.OnBuild ?? []), instruction.args[0]];
      return { state: next, createdBy: null };
    }
    default:
      throw new TypeError(
        `applyMetadata() got ${instruction.keyword.toUpperCase()}, which is not metadata-only`,
      );
  }
}

/** CMD/ENTRYPOINT/RUN argv: exec form as written, shell form wrapped in the SHELL. */
export function commandLine(instruction: Instruction, image: ImageConfig): string[] {
  const args = instruction.args as string[];
  if (instruction.json) return [...args];
  if (args.length === 0) return [];
  return [...shellOf(image), args[0]];
}

function expandAt<T>(instruction: Instruction, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof WordExpansionError) {
      throw new DockerfileSyntaxError(error.message, instruction.startLine, {
        endLine: instruction.endLine,
        cause: error,
      });
    }
    throw error;
  }
}

function lineError(instruction: Instruction, reason: string): DockerfileSyntaxError {
  return new DockerfileSyntaxError(reason, instruction.startLine, {
    endLine: instruction.endLine,
  });
}

/** Docker's nat.ParsePortSpecs for one spec: `80`, `80/udp`, `8000-8002/tcp`, `ip:host:80`. */
function parsePortSpec(spec: string, instruction: Instruction): string[] {
  const colon = spec.lastIndexOf(":");
  const raw = colon >= 0 ? spec.slice(colon + 1) : spec;
  const slash = raw.indexOf("/");
  const ports = slash >= 0 ? raw.slice(0, slash) : raw;
  const proto = (slash >= 0 ? raw.slice(slash + 1) : "tcp").toLowerCase();
  const match = /^(\d+)(?:-(\d+))?$/.exec(ports);
  if (!match || !["tcp", "udp", "sctp"].includes(proto)) {
    throw lineError(instruction, `Invalid containerPort: ${spec}`);
  }
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  if (start > 65535 || end > 65535 || end < start) {
    throw lineError(instruction, `Invalid containerPort: ${spec}`);
  }
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

const SIGNALS = new Set(
  (
    "ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV " +
    "STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ"
  ).split(" "),
);

function validSignal(signal: string): boolean {
  if (/^\d+$/.test(signal)) return Number(signal) > 0;
  const name = signal.toUpperCase().replace(/^SIG/, "");
  if (SIGNALS.has(name)) return true;
  return /^RTMIN(\+\d+)?$|^RTMAX(-\d+)?$/.test(name);
}

/** Go's `fmt` of a `map[string]struct{}`: keys sorted, `map[a:{} b:{}]`. */
function goMap(keys: string[]): string {
  return `map[${[...keys].sort().map((k) => `${k}:{}`).join(" ")}]`;
}

/** Go's `%q` of a `[]string`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(" ")}]`;
}

/** Go's `strconv.Quote`. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) out += quoteChar(ch, '"');
  return out + '"';
}

/** Go's `%q` of an integer: a quoted rune literal, `'\x03'`. */
export function goQuoteRune(code: number): string {
  return `'${quoteChar(String.fromCodePoint(code), "'")}'`;
}

const ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  "\\": "\\\\",
};

function quoteChar(ch: string, quote: string): string {
  if (ch === quote) return `\\${quote}`;
  if (ESCAPES[ch]) return ESCAPES[ch];
  const code = ch.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, "0")}`;
  if (code >= 0x80 && code < 0xa0) return `\\u${code.toString(16).padStart(4, "0")}`;
  return ch;
}

/** Go's `time.Duration.String` for a count of nanoseconds. */
export function goDuration(nanos: number): string {
  if (nanos === 0) return "0s";
  const sign = nanos < 0 ? "-" : "";
  let n = Math.abs(nanos);
  if (n < 1e9) {
    const [unit, div] = n < 1e3 ? ["ns", 1] : n < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    return `${sign}${trimFraction(n / div)}${unit}`;
  }
  const hours = Math.floor(n / 3600e9);
  n -= hours * 3600e9;
  const minutes = Math.floor(n / 60e9);
  n -= minutes * 60e9;
  const seconds = `${trimFraction(n / 1e9)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

function trimFraction(value: number): string {
  return String(Number(value.toFixed(9)));
}

function healthcheck(
  instruction: HealthcheckInstruction,
): { config: HealthConfig; describe: string } {
  const args = instruction.args;
  let test: string[];
  if (args[0].toUpperCase() === "NONE") test = ["NONE"];
  else if (instruction.json) test = ["CMD", ...args.slice(1)];
  else test = ["CMD-SHELL", args[1]];
  const { interval, timeout, startPeriod, startInterval, retries } = instruction.healthcheck;
  const config: HealthConfig = { Test: test };
  if (interval) config.Interval = interval;
  if (timeout) config.Timeout = timeout;
  if (startPeriod) config.StartPeriod = startPeriod;
  if (startInterval) config.StartInterval = startInterval;
  if (retries) config.Retries = retries;
  // BuildKit prints the struct with %q: durations through String(), Retries as a rune.
  const describe = `&{${goQuoteList(test)} ${goQuote(goDuration(interval))} ${
    goQuote(goDuration(timeout))
  } ${goQuote(goDuration(startPeriod))} ${goQuoteRune(retries)}}`;
  return { config, describe };
}

/**
 * `created_by` of a RUN: `RUN |2 A=1 B=2 /bin/sh -c cmd # buildkit`; the `|N` part lists
 * the stage's ARGs with values, in declaration order, and is left out when there are none.
 * Each value is the one RUN sees when `env` (the step's environment) is given: an ENV set
 * after the ARG shows, as in BuildKit's runCommandString.
 */
export function runCreatedBy(
  argv: readonly string[],
  args: Readonly<Record<string, string>>,
  env?: Readonly<Record<string, string>>,
): string {
  const names = Object.keys(args);
  const value = (n: string) => env && Object.hasOwn(env, n) ? env[n] : args[n];
  const prefix = names.length === 0
    ? ""
    : `|${names.length} ${names.map((n) => `${n}=${value(n)}`).join(" ")} `;
  return `RUN ${prefix}${argv.join(" ")} # buildkit`;
}

/** `created_by` of COPY/ADD: the keyword, the sources and the destination, flags left out. */
export function copyCreatedBy(keyword: "COPY" | "ADD", sourcesAndDest: readonly string[]): string {
  return `${keyword} ${sourcesAndDest.join(" ")} # buildkit`;
}

/**
 * Resolves a WORKDIR argument against the current one as BuildKit's NormalizeWorkdir does:
 * a relative one is joined on and cleaned (Go's path.Join), an absolute one is kept as
 * written, so the config can say `/a/./b` while the filesystem gets `/a/b`.
 */
export function resolveWorkdir(current: string | undefined, dir: string): string {
  return dir.startsWith("/") ? dir : cleanAbsolute(`${current || "/"}/${dir}`);
}

/** An absolute path cleaned like Go's path.Clean: no `.`, `..` or doubled slashes. */
export function cleanAbsolute(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}
