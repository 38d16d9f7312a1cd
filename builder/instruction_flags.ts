/**
 * The flags of COPY/ADD, RUN and HEALTHCHECK, read once by the parser into typed values,
 * so the build never reads `--name=value` strings again. Values that word expansion
 * applies to (COPY's `--from`, `--chown`, ...) stay as written: they are expanded when
 * the step runs, in its environment. Pure: the parser runs on edge runtimes too.
 *
 * @module
 */

/** COPY and ADD flags, values as written (not yet expanded). */
export interface CopyFlags {
  /** `--from`: a stage name or index, or an image reference. */
  from?: string;
  /** `--chown`: `user`, `user:group`, names or ids. */
  chown?: string;
  /** `--chmod`: octal or symbolic. */
  chmod?: string;
  /** `--parents`: keep the source paths under the destination. */
  parents: boolean;
  /** `--exclude` patterns, in order. */
  exclude: string[];
  /** ADD `--checksum`: the digest a URL's bytes must have. */
  checksum?: string;
  /** `--link`. */
  link: boolean;
}

/**
 * A `RUN --mount`. The parser fills what the flag says; the build resolves a relative
 * `target` against the working directory, a secret's `id` and `secretPath`, and turns a
 * bind's (or a seeded cache's) `source` into a host path before the executor sees it.
 */
export interface RunMount {
  /** What to mount. */
  type: "cache" | "bind" | "secret" | "tmpfs";
  /** Where, inside the container. Secrets default to `/run/secrets/<id>`. */
  target: string;
  /**
   * bind: the host file or directory (a context dir or a stage rootfs); cache: a host
   * directory, written out for this step alone, that becomes the cache when the cache is
   * new (`from=STAGE`), moved into place. Unused otherwise. As parsed: the path in the
   * context, stage or image.
   */
  source?: string;
  /** cache: the cache's key (default: the target); secret: the secret's id. */
  id?: string;
  /** Read-only. binds default to true, as in BuildKit; caches to false. */
  readonly?: boolean;
  /** cache: the mode of a new cache dir (default 0755); secret: the file's (default 0400). */
  mode?: number;
  /** Owner of a new cache dir or of a secret file. @default {0} */
  uid?: number;
  /** Group of a new cache dir or of a secret file. @default {0} */
  gid?: number;
  /**
   * cache: `shared` (default) lets steps use it at once; `locked` waits for the one using
   * it; `private` takes a fresh empty cache while another step holds it.
   */
  sharing?: "shared" | "private" | "locked";
  /** secret: fail when the secret is missing, instead of skipping the mount. */
  required?: boolean;
  /** secret: the host file holding the secret's bytes. */
  secretPath?: string;
  /**
   * bind and cache: the stage or image `source` is in (`from=`). The build resolves it;
   * the executor never sees it.
   */
  from?: string;
}

/** RUN flags. */
export interface RunFlags {
  /** `--mount`s, in order. */
  mounts: RunMount[];
  /** `--network`: `none`, or `host` for any other value; absent: the build's choice. */
  network?: "host" | "none";
}

/** HEALTHCHECK flags, durations in nanoseconds (0 when not given). */
export interface HealthcheckOptions {
  /** `--interval`. */
  interval: number;
  /** `--timeout`. */
  timeout: number;
  /** `--start-period`. */
  startPeriod: number;
  /** `--start-interval`. */
  startInterval: number;
  /** `--retries`; 0 when not given. */
  retries: number;
}

/** Splits `--name=value` (a bare `--name` has no value). */
function splitFlag(flag: string): { name: string; value: string | undefined } {
  const eq = flag.indexOf("=");
  return {
    name: flag.slice(2, eq < 0 ? undefined : eq),
    value: eq < 0 ? undefined : flag.slice(eq + 1),
  };
}

/** Reads COPY/ADD flags; unknown names are left to the parser's checks. */
export function copyFlags(flags: readonly string[]): CopyFlags {
  const out: CopyFlags = { parents: false, exclude: [], link: false };
  for (const flag of flags) {
    const { name, value: given } = splitFlag(flag);
    const value = given ?? "true";
    switch (name) {
      case "from":
        out.from = value;
        break;
      case "chown":
        out.chown = value;
        break;
      case "chmod":
        out.chmod = value;
        break;
      case "parents":
        out.parents = value.toLowerCase() !== "false";
        break;
      case "link":
        out.link = value.toLowerCase() !== "false";
        break;
      case "exclude":
        out.exclude.push(value);
        break;
      case "checksum":
        out.checksum = value;
        break;
    }
  }
  return out;
}

/**
 * Reads RUN flags.
 *
 * @throws {SyntaxError} for a mount of an unknown type or without a target, quoting it.
 */
export function runFlags(flags: readonly string[]): RunFlags {
  const out: RunFlags = { mounts: [] };
  for (const flag of flags) {
    if (flag.startsWith("--network=")) out.network = flag.slice(10) === "none" ? "none" : "host";
    if (flag.startsWith("--mount=")) out.mounts.push(parseMount(flag.slice(8)));
  }
  return out;
}

/** BuildKit's `--mount` CSV: `type=cache,target=/x,...`; a bare key means `key=true`. */
function parseMount(spec: string): RunMount {
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    fields.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? "true" : part.slice(eq + 1));
  }
  const type = (fields.get("type") ?? "bind") as RunMount["type"];
  if (!["cache", "bind", "secret", "tmpfs"].includes(type)) {
    throw new SyntaxError(`Invalid --mount=${spec}: unknown type "${type}"`);
  }
  const id = fields.get("id");
  let target = fields.get("target") ?? fields.get("dst") ?? fields.get("destination");
  if (type === "secret" && !target) target = `/run/secrets/${id ?? ""}`;
  if (!target) throw new SyntaxError(`Invalid --mount=${spec}: target= is required`);
  const num = (
    k: string,
  ) => (fields.has(k) ? parseInt(fields.get(k)!, k === "mode" ? 8 : 10) : undefined);
  return {
    type,
    target,
    source: fields.get("source") ?? fields.get("src"),
    id,
    readonly: ["ro", "readonly"].some((k) => fields.get(k) === "true") ||
      (type === "bind" && fields.get("rw") !== "true" && fields.get("readwrite") !== "true"),
    mode: num("mode"),
    uid: num("uid"),
    gid: num("gid"),
    sharing: fields.get("sharing") as RunMount["sharing"],
    required: fields.get("required") === "true",
    from: fields.get("from"),
  };
}

/** Reads HEALTHCHECK flags; the parser's checks have rejected malformed values. */
export function healthcheckOptions(flags: readonly string[]): HealthcheckOptions {
  const values = new Map<string, string>();
  for (const flag of flags) {
    const { name, value } = splitFlag(flag);
    values.set(name, value ?? "");
  }
  const duration = (name: string) => Math.round(parseGoDuration(values.get(name) ?? "") ?? 0);
  return {
    interval: duration("interval"),
    timeout: duration("timeout"),
    startPeriod: duration("start-period"),
    startInterval: duration("start-interval"),
    retries: Number(values.get("retries") || 0),
  };
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds, or `undefined` when the text is not a duration. */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest[0] === "-" || rest[0] === "+") {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  const part = /^(\d*(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== "") {
    const match = part.exec(rest);
    if (!match || match[1] === "" || match[1] === ".") return undefined;
    total += Number(match[1]) * DURATION_UNITS[match[2]];
    rest = rest.slice(match[0].length);
  }
  return sign * total;
}
