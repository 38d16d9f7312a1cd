import { parseReference } from "../image/mod.ts";
import { RegistryHttpError } from "./errors.ts";

// distribution-spec: <name> is path components of lower-case alphanumerics joined by
// separators; the whole store name (namespace + "/" + name) must stay under 255 characters.
const NAME_RE =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A store record name read back as a repository, with its tag or digest. */
export interface RepoName {
  repo: string;
  tag?: string;
  digest?: string;
}

/**
 * The mapping between registry repositories and store names: repository `NAME` is the
 * store's `<namespace>/NAME`, a tag `T` is the record `<namespace>/NAME:T`, and every pushed
 * manifest is also recorded as `<namespace>/NAME@<digest>` so it stays pullable by digest
 * (and safe from GC) when its tag moves. Records outside the namespace are not served.
 */
export class Namespace {
  readonly prefix: string;

  constructor(prefix: string) {
    let registry: string | undefined;
    try {
      registry = parseReference(`${prefix}/x:y`).registry;
    } catch { /* reported below */ }
    if (registry !== prefix) {
      throw new TypeError(
        `Invalid registry namespace "${prefix}": use a registry host such as "localhost" or ` +
          `"registry.local:5000", so store names are not read as Docker Hub names`,
      );
    }
    this.prefix = prefix;
  }

  /** Throws NAME_INVALID unless `name` is a valid repository name. */
  check(name: string): void {
    if (!NAME_RE.test(name) || this.prefix.length + 1 + name.length > 255) {
      throw new RegistryHttpError("NAME_INVALID", `invalid repository name "${name}"`, {
        detail: { name },
      });
    }
  }

  /** True for a valid tag. */
  static isTag(tag: string): boolean {
    return TAG_RE.test(tag);
  }

  /** The store name of `repo:tag`. */
  tag(repo: string, tag: string): string {
    return `${this.prefix}/${repo}:${tag}`;
  }

  /** The store name recording `repo@digest`. */
  digest(repo: string, digest: string): string {
    return `${this.prefix}/${repo}@${digest}`;
  }

  /** Reads a store record name, or undefined when it lies outside the namespace. */
  parse(name: string): RepoName | undefined {
    if (!name.startsWith(this.prefix + "/")) return undefined;
    const rest = name.slice(this.prefix.length + 1);
    const at = rest.indexOf("@");
    if (at >= 0) return { repo: rest.slice(0, at), digest: rest.slice(at + 1) };
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) {
      return { repo: rest.slice(0, colon), tag: rest.slice(colon + 1) };
    }
    return undefined;
  }
}
