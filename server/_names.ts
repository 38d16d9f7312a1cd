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
 * The mapping between registry repositories and store names. Pushes write repository
 * `NAME` as the store's `<namespace>/NAME`: a tag `T` is the record `<namespace>/NAME:T`,
 * and every pushed manifest is also recorded as `<namespace>/NAME@<digest>` so it stays
 * pullable by digest (and safe from GC) when its tag moves.
 *
 * Every other name in the store is served too, so that serving your own store just works:
 * a Docker Hub name by its Hub path (`app:1`, stored as `docker.io/library/app:1`, as
 * `library/app:1`; `user/app:1` as `user/app:1`), and a name of
 * another registry without a port with its host as the first component
 * (`ghcr.io/org/app:1` as `ghcr.io/org/app:1`). Where two store names map to the same
 * repository and tag, the namespace's wins.
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

  /**
   * The store names a read of `repo:tag` (or `repo@digest`) looks up, in order: the
   * namespace's, then the name it has when it came from Docker Hub or another registry.
   */
  candidates(repo: string, reference: string): string[] {
    const sep = reference.includes(":") ? "@" : ":";
    const out = [`${this.prefix}/${repo}${sep}${reference}`];
    if (!repo.includes("/")) return out;
    const first = repo.split("/")[0];
    out.push(
      first.includes(".") ? `${repo}${sep}${reference}` : `docker.io/${repo}${sep}${reference}`,
    );
    return out;
  }

  /**
   * Reads a store record name as the repository it is served as, or undefined when it
   * cannot be served (a name of a registry with a port outside the namespace, an
   * unnamed record).
   */
  parse(name: string): RepoName | undefined {
    if (!name.startsWith(this.prefix + "/")) {
      if (name.startsWith("@")) return undefined;
      let ref;
      try {
        ref = parseReference(name);
      } catch {
        return undefined;
      }
      if (ref.registry.includes(":")) return undefined;
      const repo = ref.registry === "docker.io"
        ? ref.repository
        : `${ref.registry}/${ref.repository}`;
      if (!NAME_RE.test(repo)) return undefined;
      return ref.digest ? { repo, digest: ref.digest } : { repo, tag: ref.tag };
    }
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
