/**
 * Walks a build context directory and applies its `.dockerignore` (or
 * `<Dockerfile>.dockerignore`). The only file of the front end that touches the filesystem.
 *
 * @module
 */
import { lstatSync, readdirSync } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import {
  cleanPath,
  createContextFilter,
  DockerignoreMatcher,
  dockerignorePathFor,
  parseDockerignore,
} from "./dockerignore.ts";

/** One entry of the build context. */
export interface ContextEntry {
  /** Relative to the context root, `/`-separated. */
  path: string;
  /** What the entry is; `other` covers devices, sockets and FIFOs. */
  type: "file" | "directory" | "symlink" | "other";
}

/** An entry of a context directory, as listed. */
export interface ContextDirent {
  /** The entry's name. */
  name: string;
  /** What the entry is. */
  type: ContextEntry["type"];
}

/** What the context reads of an lstat. */
export interface ContextLstatResult {
  /** The path's type. */
  type: ContextEntry["type"];
  /** `st_mode` (type and permission bits). */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Modification time in milliseconds since the epoch. */
  mtimeMs: number;
  /** Inode number. */
  ino: number;
  /** Hard links to the inode; undefined when not known (taken as possibly more than one). */
  nlink?: number;
}

/**
 * How a build reads its context directory: synchronous calls, since a context is tens of
 * thousands of them on cached inodes. A runtime's own calls can be much cheaper than
 * `node:fs`'s: Deno's `node:fs` turns each lstat into a Node `Stats` and each directory
 * entry into a `Dirent`, which was half of a warm build of 30,000 files, so the CLI passes
 * Deno's own.
 */
export interface ContextFs {
  /** Like `lstat(2)`. */
  lstat(path: string): ContextLstatResult;
  /** The entries of a directory, in any order. */
  readdir(path: string): ContextDirent[];
}

function typeOf(st: { isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean }) {
  return st.isDirectory()
    ? "directory"
    : st.isSymbolicLink()
    ? "symlink"
    : st.isFile()
    ? "file"
    : "other";
}

/** {@linkcode ContextFs} by `node:fs`, for every runtime. */
export const nodeContextFs: ContextFs = {
  lstat(path) {
    const st = lstatSync(path);
    return {
      type: typeOf(st),
      mode: st.mode,
      size: st.size,
      mtimeMs: st.mtimeMs,
      ino: st.ino,
      nlink: st.nlink,
    };
  },
  readdir(path) {
    return readdirSync(path, { withFileTypes: true }).map((d) => ({
      name: d.name,
      type: typeOf(d),
    }));
  },
};

/** What {@linkcode walkBuildContext} found. */
export interface BuildContextListing {
  /** Entries sent to the build, sorted by path; directories holding a sent entry included. */
  entries: ContextEntry[];
  /** The ignore file that applied, or `null`. */
  dockerignorePath: string | null;
}

/** Options of {@linkcode walkBuildContext}. */
export interface WalkBuildContextOptions {
  /**
   * The Dockerfile: a path relative to the context root, or an absolute path (which may lie
   * outside the context). Default `"Dockerfile"`.
   */
  dockerfilePath?: string;
  /** How the directory is read. @default {nodeContextFs} */
  fs?: ContextFs;
}

/**
 * Lists a build context: every entry that the ignore file does not exclude (the Dockerfile
 * and the ignore file too, as BuildKit sends them). The ignore file is
 * `<Dockerfile>.dockerignore` beside the Dockerfile, wherever that is, else `.dockerignore`
 * at the context root. Symbolic links are listed, not followed. Ignored directories are not
 * descended into unless an exception (`!pattern`) could re-include something inside them.
 *
 * @throws {SyntaxError} when the ignore file holds a malformed pattern.
 */
export async function walkBuildContext(
  root: string,
  options: WalkBuildContextOptions = {},
): Promise<BuildContextListing> {
  const entries: ContextEntry[] = [];
  const { dockerignorePath } = await walkContextSorted(
    root,
    options,
    (path, type) => entries.push({ path, type }),
  );
  return { entries, dockerignorePath };
}

/**
 * {@linkcode walkBuildContext}'s entries handed to `emit` one by one in sorted order, with
 * nothing gathered (a build of a large context held an object and a string per file until
 * a global sort was done). Each directory's entries are ordered so that a subtree comes
 * where its name and a slash sort among its siblings (after `a-b`, before `a0`), which is
 * the order of the whole paths. An ignored directory walked for exceptions below it is
 * sent when something below it is, which is looked for first.
 *
 * @throws {SyntaxError} when the ignore file holds a malformed pattern.
 */
export async function walkContextSorted(
  root: string,
  options: WalkBuildContextOptions,
  emit: (path: string, type: ContextEntry["type"]) => void,
): Promise<{ dockerignorePath: string | null }> {
  const given = options.dockerfilePath ?? "Dockerfile";
  const fs = options.fs ?? nodeContextFs;
  const dockerfilePath = cleanPath(given);
  const onDisk = (path: string) => isAbsolute(path) ? path : join(root, path);
  const present: string[] = [];
  for (const candidate of [dockerfilePath + ".dockerignore", ".dockerignore"]) {
    try {
      await access(onDisk(candidate));
      present.push(candidate);
    } catch {
      // Absent: the next candidate, or no ignore file at all.
    }
  }
  const dockerignorePath = dockerignorePathFor(present, dockerfilePath);
  const dockerignoreText = dockerignorePath === null
    ? null
    : await readFile(onDisk(dockerignorePath), "utf8");
  const include = createContextFilter({ dockerfilePath, dockerignorePath, dockerignoreText });
  const matcher = new DockerignoreMatcher(parseDockerignore(dockerignoreText ?? ""));

  const descends = (path: string, type: ContextEntry["type"]) =>
    type === "directory" && (matcher.hasExclusions || !matcher.matches(path));
  // Whether an ignored directory holds anything sent; asked again on the way down.
  const holdsSent = new Map<string, boolean>();
  const sendsBelow = (dir: string): boolean => {
    let found = holdsSent.get(dir);
    if (found !== undefined) return found;
    found = fs.readdir(join(root, dir)).some(({ name, type }) => {
      const path = `${dir}/${name}`;
      return include(path) || (descends(path, type) && sendsBelow(path));
    });
    holdsSent.set(dir, found);
    return found;
  };
  // Sync: one call per directory of a large tree; async costs several times more here.
  const walk = (relative: string): void => {
    const events: [key: string, name: string, type: ContextEntry["type"], below: boolean][] = [];
    for (const { name, type } of fs.readdir(join(root, relative))) {
      const path = relative === "" ? name : `${relative}/${name}`;
      events.push([name, name, type, false]);
      if (descends(path, type)) events.push([`${name}/`, name, type, true]);
    }
    events.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [, name, type, below] of events) {
      const path = relative === "" ? name : `${relative}/${name}`;
      if (below) walk(path);
      else if (include(path) || (descends(path, type) && sendsBelow(path))) emit(path, type);
    }
  };
  walk("");
  return { dockerignorePath };
}
