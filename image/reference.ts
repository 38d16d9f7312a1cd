import { type Digest, parseDigest } from "../digest/mod.ts";
import { InvalidReferenceError } from "./errors.ts";

// The grammar of github.com/distribution/reference (regexp.go), built the same way so the two
// stay comparable line by line. JavaScript's backtracking matcher picks the same leftmost
// alternatives as Go's FindStringSubmatch for these patterns.
const ALPHANUMERIC = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN_AND_PORT = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";

const REFERENCE_RE = new RegExp(
  `^((?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN_AND_PORT}$`);
const REMOTE_RE = new RegExp(`^${REMOTE_NAME}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

const DEFAULT_REGISTRY = "docker.io";
const LEGACY_REGISTRY = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
const DEFAULT_TAG = "latest";
const NAME_MAX = 255;

/** The parts of a {@linkcode Reference}. */
export interface ReferenceParts {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  repository: string;
  /** Tag, e.g. `latest`. */
  tag?: string;
  /** Manifest digest. */
  digest?: Digest;
}

/** A fully qualified image reference: `registry/repository[:tag][@digest]`. */
export class Reference {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly repository: string;
  /** Tag, if any. */
  readonly tag?: string;
  /** Manifest digest, if any. */
  readonly digest?: Digest;

  /**
   * Builds a reference from parts that are already normalized (no `docker.io` or `library/`
   * defaults are applied here; use {@linkcode parseReference} for user input). Throws
   * {@linkcode InvalidReferenceError} when a part breaks the reference grammar.
   */
  constructor(parts: ReferenceParts) {
    const text = format(parts.registry, parts.repository, parts.tag, parts.digest);
    if (!DOMAIN_RE.test(parts.registry)) {
      throw new InvalidReferenceError(text, `invalid registry "${parts.registry}"`);
    }
    if (!REMOTE_RE.test(parts.repository)) {
      throw new InvalidReferenceError(text, `invalid repository "${parts.repository}"`);
    }
    if (parts.tag !== undefined && !TAG_RE.test(parts.tag)) {
      throw new InvalidReferenceError(text, `invalid tag "${parts.tag}"`);
    }
    if (parts.digest !== undefined) checkDigest(text, parts.digest);
    if (parts.registry.length + 1 + parts.repository.length > NAME_MAX) {
      throw new InvalidReferenceError(
        text,
        `repository name must not be more than ${NAME_MAX} characters`,
      );
    }
    this.registry = parts.registry;
    this.repository = parts.repository;
    if (parts.tag !== undefined) this.tag = parts.tag;
    if (parts.digest !== undefined) this.digest = parts.digest;
  }

  /** `registry/repository`, e.g. `docker.io/library/busybox`. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /**
   * The name as Docker shows it: `busybox`, `user/app`, `localhost:5000/x`. Docker Hub's
   * registry is dropped, and `library/` too for a single-component official image.
   */
  get familiarName(): string {
    if (this.registry !== DEFAULT_REGISTRY) return this.name;
    const rest = this.repository.startsWith(OFFICIAL_PREFIX)
      ? this.repository.slice(OFFICIAL_PREFIX.length)
      : undefined;
    return rest !== undefined && !rest.includes("/") ? rest : this.repository;
  }

  /** The fully qualified form, e.g. `docker.io/library/busybox:latest`. */
  toString(): string {
    return format(this.registry, this.repository, this.tag, this.digest);
  }

  /** The familiar form with tag and digest, e.g. `busybox:latest`, as `docker images` shows. */
  toFamiliarString(): string {
    return format("", this.familiarName, this.tag, this.digest);
  }
}

function format(registry: string, repository: string, tag?: string, digest?: string): string {
  return (registry === "" ? "" : `${registry}/`) + repository +
    (tag === undefined ? "" : `:${tag}`) +
    (digest === undefined ? "" : `@${digest}`);
}

function checkDigest(input: string, digest: string): Digest {
  try {
    parseDigest(digest);
  } catch (cause) {
    throw new InvalidReferenceError(input, (cause as Error).message, { cause });
  }
  return digest as Digest;
}

/** Splits off the registry as Docker's `splitDockerDomain` does and applies its defaults. */
function splitRegistry(input: string): [string, string] {
  const slash = input.indexOf("/");
  if (slash === -1) return [DEFAULT_REGISTRY, OFFICIAL_PREFIX + input];
  const first = input.slice(0, slash);
  let registry = DEFAULT_REGISTRY;
  let rest = input;
  if (first === LEGACY_REGISTRY) {
    rest = input.slice(slash + 1);
  } else if (
    first === "localhost" || first.includes(".") || first.includes(":") ||
    // Upper case is never valid in a repository, so Docker reads it as a host name.
    first.toLowerCase() !== first
  ) {
    registry = first;
    rest = input.slice(slash + 1);
  }
  if (registry === DEFAULT_REGISTRY && !rest.includes("/")) rest = OFFICIAL_PREFIX + rest;
  return [registry, rest];
}

/**
 * Parses an image reference exactly as Docker does (distribution/reference's
 * `ParseNormalizedNamed`): the registry defaults to `docker.io`, single-component names on
 * Docker Hub get `library/`, `index.docker.io` becomes `docker.io`, and a first component is a
 * registry when it contains `.` or `:` or is `localhost`. The tag defaults to `latest` only
 * when there is neither a tag nor a digest.
 *
 * Throws {@linkcode InvalidReferenceError} quoting the input. Digests other than sha256 are
 * refused, since stratum cannot verify them.
 *
 * @example
 * ```ts
 * import { parseReference } from "./reference.ts";
 * const ref = parseReference("busybox");
 * if (ref.toString() !== "docker.io/library/busybox:latest") throw new Error();
 * if (ref.familiarName !== "busybox") throw new Error();
 * ```
 */
export function parseReference(input: string): Reference {
  if (typeof input !== "string") {
    throw new TypeError(`A reference must be a string, got ${typeof input}`);
  }
  if (input === "") {
    throw new InvalidReferenceError(input, "repository name must have at least one component");
  }
  if (IDENTIFIER_RE.test(input)) {
    throw new InvalidReferenceError(
      input,
      "a 64-character hexadecimal string is an image ID, not a repository name",
    );
  }
  const [registry, rest] = splitRegistry(input);
  const colon = rest.indexOf(":");
  const remote = colon === -1 ? rest : rest.slice(0, colon);
  if (remote.toLowerCase() !== remote) {
    throw new InvalidReferenceError(input, `repository name must be lowercase ("${remote}")`);
  }
  const match = REFERENCE_RE.exec(`${registry}/${rest}`);
  if (match === null) throw new InvalidReferenceError(input, "invalid reference format");
  const [, name, tag, digest] = match;
  if (name.length > NAME_MAX) {
    throw new InvalidReferenceError(
      input,
      `repository name must not be more than ${NAME_MAX} characters`,
    );
  }
  const [, host, repository] = NAME_RE.exec(name)!;
  return new Reference({
    registry: host,
    repository,
    tag: tag ?? (digest === undefined ? DEFAULT_TAG : undefined),
    digest: digest === undefined ? undefined : checkDigest(input, digest),
  });
}
