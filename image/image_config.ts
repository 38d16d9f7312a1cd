import { type Digest, sha256 } from "../digest/mod.ts";
import {
  at,
  decodeObject,
  digest as checkDigest,
  type ErrorFactory,
  type JsonObject,
  kind,
  object,
  optionalString,
  optionalStringArray,
  optionalStringMap,
  string,
} from "./_check.ts";
import { encodeJson, ordered, sorted } from "./_encode.ts";
import { ConfigError } from "./errors.ts";

/** Docker's health check settings; durations are nanoseconds, as Go's `time.Duration`. */
export interface HealthConfig {
  /** `[]` inherits, `["NONE"]` disables, `["CMD", ...]` or `["CMD-SHELL", cmd]` runs. */
  Test?: string[];
  /** Time between checks, in nanoseconds. */
  Interval?: number;
  /** Time a check may take, in nanoseconds. */
  Timeout?: number;
  /** Grace period after start, in nanoseconds. */
  StartPeriod?: number;
  /** Time between checks during the start period, in nanoseconds. */
  StartInterval?: number;
  /** Consecutive failures that make the container unhealthy. */
  Retries?: number;
}

/** The execution parameters of an image (the `config` field of the image JSON). */
export interface ContainerConfig {
  /** `user`, `uid`, `user:group` or `uid:gid`. */
  User?: string;
  /** Ports to expose, as `"80/tcp"` keys with `{}` values. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** `NAME=value` entries. */
  Env?: string[];
  /** The command prefix. */
  Entrypoint?: string[];
  /** Default arguments (or command when there is no entrypoint). */
  Cmd?: string[];
  /** Paths of anonymous volumes, as keys with `{}` values. */
  Volumes?: Record<string, Record<string, never>>;
  /** The working directory of the process. */
  WorkingDir?: string;
  /** Arbitrary metadata. */
  Labels?: Record<string, string>;
  /** The signal that stops the container, e.g. `SIGTERM`. */
  StopSignal?: string;
  /** Windows-only: the command line is already escaped. */
  ArgsEscaped?: boolean;
  /** Docker: the health check. */
  Healthcheck?: HealthConfig;
  /** Docker: instructions run when the image is used as a base. */
  OnBuild?: string[];
  /** Docker: the shell for shell-form instructions. */
  Shell?: string[];
}

/** The layers' uncompressed digests, base first. */
export interface RootFS {
  /** Always `layers`. */
  type: "layers";
  /** sha256 of each uncompressed layer tar; empty for an image without layers. */
  diff_ids: Digest[];
}

/** One step of the image's history. */
export interface History {
  /** When the step ran (RFC 3339). */
  created?: string;
  /** The command of the step. */
  created_by?: string;
  /** Who made the step. */
  author?: string;
  /** A free-form comment. */
  comment?: string;
  /** True when the step made no layer (ENV, CMD...). */
  empty_layer?: boolean;
}

/** A history step with the layer it made. */
export interface LayerStep {
  /** The config's history entry. */
  history: History;
  /** Index of the layer it made (into `rootfs.diff_ids`), or null for an `empty_layer` step. */
  layer: number | null;
}

/**
 * Pairs `config.history` with the layers: steps without `empty_layer` made the layers, bottom
 * first, in order, as Docker counts them. Every view that shows a layer's command (history,
 * layers, inspect) goes through this, so they agree when a history is short or odd.
 */
export function layerHistory(config: ImageConfig): LayerStep[] {
  let next = 0;
  return (config.history ?? []).map((history) => ({
    history,
    layer: history.empty_layer ? null : next++,
  }));
}

/** The history step that made each layer, bottom first; undefined where history has none. */
export function historyOfLayers(config: ImageConfig): (History | undefined)[] {
  const out: (History | undefined)[] = config.rootfs.diff_ids.map(() => undefined);
  for (const { history, layer } of layerHistory(config)) {
    if (layer !== null && layer < out.length) out[layer] = history;
  }
  return out;
}

/** An image config (OCI image-spec config.md, Docker's image JSON). */
export interface ImageConfig {
  /** When the image was created (RFC 3339). */
  created?: string;
  /** Who created the image. */
  author?: string;
  /** CPU architecture (`GOARCH` spelling). */
  architecture: string;
  /** Operating system (`GOOS` spelling). */
  os: string;
  /** Operating system version. */
  "os.version"?: string;
  /** Required OS features. */
  "os.features"?: string[];
  /** CPU variant, e.g. `v8`. */
  variant?: string;
  /** How to run the image. */
  config?: ContainerConfig;
  /** The layers' uncompressed digests. */
  rootfs: RootFS;
  /** The build steps. */
  history?: History[];
}

/** What {@linkcode parseImageConfig} returns: the config, its exact bytes and their digest. */
export interface ParsedImageConfig {
  /** The validated config. Docker's `null` for unset fields is removed. */
  config: ImageConfig;
  /** The exact bytes parsed; hash and store these, never a re-serialization. */
  bytes: Uint8Array;
  /** sha256 of `bytes`: the image ID. */
  digest: Digest;
}

const fail: ErrorFactory = (field, problem, options) => new ConfigError(field, problem, options);

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;
const PORT = /^\d{1,5}(?:\/(?:tcp|udp|sctp))?$/;

// Go writes unset slices and maps as null unless omitempty is set; Docker's image JSON has
// `"Entrypoint": null` and similar. They mean "unset", so they are dropped.
function dropNulls(obj: JsonObject, keys: readonly string[]): void {
  for (const key of keys) if (obj[key] === null) delete obj[key];
}

function timestamp(value: unknown, path: string): void {
  if (value === undefined) return;
  const text = string(value, path, fail);
  if (!RFC3339.test(text)) {
    throw fail(path, `must be an RFC 3339 time, got ${JSON.stringify(text)}`);
  }
}

function emptyObjectMap(value: unknown, path: string, key?: RegExp): void {
  if (value === undefined) return;
  const map = object(value, path, fail);
  for (const [name, item] of Object.entries(map)) {
    const field = `${path}[${JSON.stringify(name)}]`;
    if (key && !key.test(name)) throw fail(field, `is not a port like "80/tcp"`);
    object(item, field, fail);
  }
}

function duration(value: unknown, path: string): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw fail(path, `must be a non-negative integer of nanoseconds, got ${kind(value)}`);
  }
}

function checkContainerConfig(value: unknown): void {
  const c = object(value, "config", fail);
  const nullable = ["ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "Labels", "OnBuild"];
  dropNulls(c, [...nullable, "Shell", "Healthcheck", "User", "WorkingDir", "StopSignal"]);
  optionalString(c.User, "config.User", fail);
  emptyObjectMap(c.ExposedPorts, "config.ExposedPorts", PORT);
  optionalStringArray(c.Env, "config.Env", fail);
  // The image-spec's validator: every entry is NAME=value with a non-empty NAME.
  (c.Env as string[] | undefined)?.forEach((entry, i) => {
    if (entry.indexOf("=") <= 0) {
      throw fail(`config.Env[${i}]`, `must be NAME=value, got ${JSON.stringify(entry)}`);
    }
  });
  optionalStringArray(c.Entrypoint, "config.Entrypoint", fail);
  optionalStringArray(c.Cmd, "config.Cmd", fail);
  emptyObjectMap(c.Volumes, "config.Volumes");
  optionalString(c.WorkingDir, "config.WorkingDir", fail);
  optionalStringMap(c.Labels, "config.Labels", fail);
  optionalString(c.StopSignal, "config.StopSignal", fail);
  if (c.ArgsEscaped !== undefined && typeof c.ArgsEscaped !== "boolean") {
    throw fail("config.ArgsEscaped", `must be a boolean, got ${kind(c.ArgsEscaped)}`);
  }
  optionalStringArray(c.OnBuild, "config.OnBuild", fail);
  optionalStringArray(c.Shell, "config.Shell", fail);
  if (c.Healthcheck !== undefined) {
    const h = object(c.Healthcheck, "config.Healthcheck", fail);
    dropNulls(h, ["Test"]);
    optionalStringArray(h.Test, "config.Healthcheck.Test", fail);
    for (const key of ["Interval", "Timeout", "StartPeriod", "StartInterval"]) {
      duration(h[key], `config.Healthcheck.${key}`);
    }
    if (
      h.Retries !== undefined && (!Number.isSafeInteger(h.Retries) || (h.Retries as number) < 0)
    ) {
      throw fail("config.Healthcheck.Retries", `must be a non-negative integer`);
    }
  }
}

function checkRootFS(value: unknown): void {
  const r = object(value, "rootfs", fail);
  if (r.type !== "layers") throw fail("rootfs.type", `must be "layers", got ${kind(r.type)}`);
  // Docker writes diff_ids with omitempty, so an image without layers has none.
  if (r.diff_ids === undefined || r.diff_ids === null) r.diff_ids = [];
  if (!Array.isArray(r.diff_ids)) {
    throw fail("rootfs.diff_ids", `must be an array of digests, got ${kind(r.diff_ids)}`);
  }
  r.diff_ids.forEach((d, i) => checkDigest(d, `rootfs.diff_ids[${i}]`, fail));
}

function checkHistory(value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw fail("history", `must be an array, got ${kind(value)}`);
  value.forEach((item, i) => {
    const path = `history[${i}]`;
    const h = object(item, path, fail);
    timestamp(h.created, at(path, "created"));
    for (const key of ["created_by", "author", "comment"]) {
      optionalString(h[key], at(path, key), fail);
    }
    if (h.empty_layer !== undefined && typeof h.empty_layer !== "boolean") {
      throw fail(at(path, "empty_layer"), `must be a boolean, got ${kind(h.empty_layer)}`);
    }
  });
}

/**
 * Validates an image config given as its exact bytes and returns it with those bytes and
 * their digest, which is the image ID.
 *
 * Throws {@linkcode ConfigError} naming the offending field for a non-JSON body, a missing
 * `architecture`, `os` or `rootfs`, malformed diff_ids, and fields of the wrong type.
 *
 * @example
 * ```ts
 * import { parseImageConfig } from "./image_config.ts";
 * const json = `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`;
 * const { config, digest } = await parseImageConfig(new TextEncoder().encode(json));
 * if (config.os !== "linux" || !digest.startsWith("sha256:")) throw new Error();
 * ```
 */
export async function parseImageConfig(bytes: Uint8Array): Promise<ParsedImageConfig> {
  const body = decodeObject(bytes, "image config", fail);
  dropNulls(body, ["config", "history", "os.features", "author", "variant", "os.version"]);
  string(body.architecture, "architecture", fail);
  string(body.os, "os", fail);
  timestamp(body.created, "created");
  optionalString(body.author, "author", fail);
  optionalString(body.variant, "variant", fail);
  optionalString(body["os.version"], "os.version", fail);
  optionalStringArray(body["os.features"], "os.features", fail);
  if (body.config !== undefined) checkContainerConfig(body.config);
  checkRootFS(body.rootfs);
  checkHistory(body.history);
  return { config: body as unknown as ImageConfig, bytes, digest: await sha256(bytes) };
}

const IMAGE_KEYS = [
  "created",
  "author",
  "architecture",
  "os",
  "os.version",
  "os.features",
  "variant",
  "config",
  "rootfs",
  "history",
];
const CONFIG_KEYS = [
  "User",
  "ExposedPorts",
  "Env",
  "Entrypoint",
  "Cmd",
  "Volumes",
  "WorkingDir",
  "Labels",
  "StopSignal",
  "ArgsEscaped",
  "Healthcheck",
  "OnBuild",
  "Shell",
];
const HEALTH_KEYS = ["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"];
const HISTORY_KEYS = ["created", "created_by", "author", "comment", "empty_layer"];

/**
 * Serializes an image config stratum creates into canonical bytes (compact JSON, keys in the
 * image-spec order, maps sorted), validates the result and returns it as
 * {@linkcode parseImageConfig} would; its digest is the new image's ID. Never use this on a
 * received config: keep and hash its bytes instead.
 *
 * @example
 * ```ts
 * import { serializeImageConfig } from "./image_config.ts";
 * const { bytes } = await serializeImageConfig({
 *   os: "linux",
 *   architecture: "amd64",
 *   rootfs: { type: "layers", diff_ids: [] },
 * });
 * const text = new TextDecoder().decode(bytes);
 * if (text !== `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`) {
 *   throw new Error(text);
 * }
 * ```
 */
export async function serializeImageConfig(config: ImageConfig): Promise<ParsedImageConfig> {
  const c = config.config;
  const canonical = ordered({
    ...config,
    config: c === undefined ? undefined : ordered({
      ...c,
      ExposedPorts: sorted(c.ExposedPorts),
      Volumes: sorted(c.Volumes),
      Labels: sorted(c.Labels),
      Healthcheck: c.Healthcheck === undefined ? undefined : ordered(c.Healthcheck, HEALTH_KEYS),
    }, CONFIG_KEYS),
    rootfs: config.rootfs === undefined ? undefined : ordered(config.rootfs, ["type", "diff_ids"]),
    history: config.history?.map((h) => ordered(h, HISTORY_KEYS)),
  }, IMAGE_KEYS);
  return await parseImageConfig(encodeJson(canonical));
}
