/**
 * `.dockerignore` matching with Docker's rules (moby/patternmatcher and its ignorefile
 * reader): Go `filepath.Match` syntax plus `**`, `!` exceptions that re-include, the last
 * matching pattern wins, a pattern that matches a parent directory matches everything under
 * it, patterns are cleaned and a leading `/` is dropped, `#` comment lines are skipped.
 *
 * Written here rather than using `@balena/dockerignore@1.0.2`: checked against Docker's own
 * patternmatcher test cases, that package matches case-insensitively (`*[a-ζ]` matches `A`)
 * and throws on patterns with regular-expression characters Docker treats literally
 * (`a.|)$(}+{bc`), and it does not reject the malformed patterns Docker rejects.
 *
 * This file is pure (no filesystem access), so it also runs on edge runtimes; the directory
 * walk lives in `context_walk.ts`.
 *
 * @module
 */

/** Reads a `.dockerignore` file into cleaned patterns (`!` kept in front of exceptions). */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.split("\n");
  if (lines[0]?.startsWith("\uFEFF")) lines[0] = lines[0].slice(1);
  for (const line of lines) {
    // Only a '#' in the first column starts a comment, as in Docker.
    if (line.startsWith("#")) continue;
    let pattern = line.trim();
    if (pattern === "") continue;
    const invert = pattern.startsWith("!");
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern !== "") {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    patterns.push(invert ? "!" + pattern : pattern);
  }
  return patterns;
}

/** Go's path.Clean: collapses `//`, `.` and `..`; an empty path becomes `.`. */
export function cleanPath(path: string): string {
  if (path === "") return ".";
  if (!/(^|\/)\.{1,2}(\/|$)|\/\/|.\/$/.test(path)) return path;
  const rooted = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length > 0 && parts.at(-1) !== "..") parts.pop();
      else if (!rooted) parts.push("..");
    } else {
      parts.push(part);
    }
  }
  const joined = parts.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}

type MatchType = "exact" | "prefix" | "suffix" | "regexp";

interface Pattern {
  cleaned: string;
  exclusion: boolean;
  type: MatchType;
  regexp: RegExp | undefined;
}

/**
 * A compiled set of `.dockerignore` patterns.
 *
 * @example
 * ```ts
 * import { DockerignoreMatcher } from "./dockerignore.ts";
 * import assert from "node:assert/strict";
 * const m = new DockerignoreMatcher(["docs", "!docs/README.md", "**\/*.log"]);
 * assert.equal(m.matches("docs/api.md"), true);
 * assert.equal(m.matches("docs/README.md"), false);
 * assert.equal(m.matches("src/a/b.log"), true);
 * ```
 */
export class DockerignoreMatcher {
  #patterns: Pattern[] = [];
  #hasExclusions = false;

  /**
   * Compiles the patterns once; {@linkcode DockerignoreMatcher.matches} then tests paths.
   *
   * @param patterns Patterns as written or as {@linkcode parseDockerignore} returns them.
   * @throws {SyntaxError} for `!` alone or a malformed pattern (`[`, `a\`, `[x-]`, ...).
   */
  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      let pattern = raw.trim();
      if (pattern === "") continue;
      pattern = cleanPath(pattern);
      let exclusion = false;
      if (pattern.startsWith("!")) {
        if (pattern.length === 1) throw new SyntaxError('illegal exclusion pattern: "!"');
        exclusion = true;
        pattern = pattern.slice(1);
        this.#hasExclusions = true;
      }
      if (!isValidGlob(pattern)) {
        throw new SyntaxError(`Invalid .dockerignore pattern ${JSON.stringify(raw)}: syntax error`);
      }
      this.#patterns.push(compile(pattern, exclusion, raw));
    }
  }

  /** Whether any pattern is a `!` exception (so an ignored directory may not be skipped). */
  get hasExclusions(): boolean {
    return this.#hasExclusions;
  }

  /**
   * Whether `path` (relative to the context root, `/`-separated) is ignored: the last pattern
   * that matches it or one of its parent directories decides.
   */
  matches(path: string): boolean {
    const file = cleanPath(path);
    // Parent directories, shortest first: "a", "a/b" for "a/b/c".
    const parents: string[] = [];
    for (let slash = file.indexOf("/"); slash > 0; slash = file.indexOf("/", slash + 1)) {
      parents.push(file.slice(0, slash));
    }
    let matched = false;
    for (const pattern of this.#patterns) {
      // An inclusion cannot change a match, nor an exception a non-match.
      if (pattern.exclusion !== matched) continue;
      let match = matchOne(pattern, file);
      for (let i = 0; !match && i < parents.length; i++) match = matchOne(pattern, parents[i]);
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }
}

function matchOne(pattern: Pattern, path: string): boolean {
  switch (pattern.type) {
    case "exact":
      return path === pattern.cleaned;
    case "prefix":
      return path.startsWith(pattern.cleaned.slice(0, -2));
    case "suffix": {
      const suffix = pattern.cleaned.slice(2);
      return path.endsWith(suffix) || (suffix.startsWith("/") && path === suffix.slice(1));
    }
    case "regexp":
      return pattern.regexp!.test(path);
  }
}

const REGEXP_SPECIAL = ".+()|{}$";

/** patternmatcher's compile: cheap exact/prefix/suffix checks where no regexp is needed. */
function compile(cleaned: string, exclusion: boolean, raw: string): Pattern {
  const chars = Array.from(cleaned);
  let source = "^";
  let type: MatchType = "exact";
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        const first = i === 0;
        i++;
        if (chars[i + 1] === "/") i++;
        if (i + 1 >= chars.length) {
          if (type === "exact") {
            type = "prefix";
          } else {
            source += ".*";
            type = "regexp";
          }
        } else {
          source += "(.*/)?";
          type = "regexp";
        }
        if (first) type = "suffix";
      } else {
        source += "[^/]*";
        type = "regexp";
      }
    } else if (ch === "?") {
      source += "[^/]";
      type = "regexp";
    } else if (REGEXP_SPECIAL.includes(ch)) {
      source += "\\" + ch;
    } else if (ch === "\\") {
      const next = chars[++i];
      if (next === undefined) {
        source += "\\\\";
      } else {
        // Go's regexp reads \d, \w, \s... as classes and any other escaped punctuation as a
        // literal; JavaScript's unicode mode rejects escaping non-syntax punctuation.
        source += /[\p{L}\p{N}]/u.test(next) ? "\\" + next : escapeLiteral(next);
        type = "regexp";
      }
    } else if (ch === "[" || ch === "]") {
      source += ch;
      type = "regexp";
    } else {
      source += ch;
    }
  }
  let regexp: RegExp | undefined;
  if (type === "regexp") {
    try {
      regexp = new RegExp(source + "$", "u");
    } catch (error) {
      throw new SyntaxError(`Invalid .dockerignore pattern ${JSON.stringify(raw)}`, {
        cause: error,
      });
    }
  }
  return { cleaned, exclusion, type, regexp };
}

function escapeLiteral(ch: string): string {
  return "\\^$.*+?()[]{}|/".includes(ch) ? "\\" + ch : ch;
}

/** The syntax check Go's filepath.Match performs (ErrBadPattern cases). */
function isValidGlob(pattern: string): boolean {
  const chars = Array.from(pattern);
  let i = 0;
  // One character of a bracket class, possibly escaped; must not be the last one.
  const classChar = (): boolean => {
    const ch = chars[i];
    if (ch === undefined || ch === "-" || ch === "]") return false;
    if (ch === "\\") {
      i++;
      if (i >= chars.length) return false;
    }
    i++;
    return i < chars.length;
  };
  while (i < chars.length) {
    const ch = chars[i++];
    if (ch === "\\") {
      if (i >= chars.length) return false;
      i++;
    } else if (ch === "[") {
      if (chars[i] === "^") i++;
      for (let ranges = 0;; ranges++) {
        if (chars[i] === "]" && ranges > 0) {
          i++;
          break;
        }
        if (!classChar()) return false;
        if (chars[i] === "-") {
          i++;
          if (!classChar()) return false;
        }
      }
    }
  }
  return true;
}

/**
 * Which ignore file applies to a build: `<Dockerfile path>.dockerignore` when it exists (it
 * wins), else `.dockerignore` at the context root, else none.
 *
 * @param listing Paths in the context, relative to its root, `/`-separated.
 * @param dockerfilePath The Dockerfile's path relative to the context root.
 */
export function dockerignorePathFor(
  listing: Iterable<string>,
  dockerfilePath: string,
): string | null {
  const paths = listing instanceof Set ? listing as Set<string> : new Set(listing);
  const specific = cleanPath(dockerfilePath) + ".dockerignore";
  if (paths.has(specific)) return specific;
  return paths.has(".dockerignore") ? ".dockerignore" : null;
}

/** Options of {@linkcode createContextFilter}. */
export interface ContextFilterOptions {
  /** The Dockerfile's path relative to the context root; no longer treated specially. */
  dockerfilePath: string;
  /** The ignore file in use (see {@linkcode dockerignorePathFor}). Default none. */
  dockerignorePath?: string | null;
  /** Its text. Default: no patterns. */
  dockerignoreText?: string | null;
}

/**
 * Decides, for each path of the context, whether it is sent to the build: whether the
 * ignore file leaves it in. As with BuildKit, which reads the Dockerfile and the ignore file
 * on their own, an ignore file that matches them (`*`, or their names) keeps them out of
 * `COPY .`; the classic builder always sent them.
 *
 * @throws {SyntaxError} when the ignore file holds a malformed pattern.
 */
export function createContextFilter(options: ContextFilterOptions): (path: string) => boolean {
  const matcher = new DockerignoreMatcher(parseDockerignore(options.dockerignoreText ?? ""));
  return (path) => !matcher.matches(path);
}

/**
 * Filters a context listing: picks the ignore file (`Dockerfile.dockerignore` first), reads it
 * through `readText`, and returns the paths that are sent, in listing order.
 *
 * @param listing Paths relative to the context root, `/`-separated.
 * @param dockerfilePath The Dockerfile's path relative to the context root.
 * @param readText Returns the text of a listed file (only the ignore file is read).
 */
export function filterContext(
  listing: readonly string[],
  dockerfilePath: string,
  readText: (path: string) => string,
): string[] {
  const dockerignorePath = dockerignorePathFor(listing, dockerfilePath);
  const include = createContextFilter({
    dockerfilePath,
    dockerignorePath,
    dockerignoreText: dockerignorePath === null ? null : readText(dockerignorePath),
  });
  return listing.filter(include);
}
