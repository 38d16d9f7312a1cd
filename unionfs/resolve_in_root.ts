import { lstatSync } from "node:fs";
import { lstat, mkdir, readlink, unlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";
import { PathError } from "./errors.ts";

/**
 * Symlinks followed in one resolution before it fails with ELOOP: filepath-securejoin's
 * and continuity's `maxSymlinkLimit` (BuildKit's COPY uses the latter), looser than
 * Linux's 40 so that any image the kernel can read resolves here too.
 */
export const MAX_SYMLINK_HOPS = 255;

/**
 * How {@linkcode resolveInRoot} looks at a tree: a disk directory, an in-memory merged
 * tree, a build context. `N` is whatever the tree calls a node; each call may answer
 * synchronously or with a promise ({@linkcode resolveInRootSync} needs synchronous ones).
 */
export interface RootedLookup<N> {
  /** The root directory's node. */
  readonly root: N;
  /** The child `name` of directory node `dir` (`path` is its path inside the root). */
  child(dir: N, name: string, path: string): N | undefined | Promise<N | undefined>;
  /** The target of `node` when it is a symlink, else undefined. */
  linkTarget(node: N, path: string): string | undefined | Promise<string | undefined>;
  /** True when `node` is a directory. */
  isDirectory(node: N): boolean;
  /**
   * Makes directory `name` in `dir`, first removing `existing` (a non-directory) when
   * given. Needed only for `missing: "create"`.
   */
  mkdir?(dir: N, name: string, path: string, existing: N | undefined): N | Promise<N>;
}

/** Options of {@linkcode resolveInRoot}. */
export interface ResolveInRootOptions {
  /** Follow a symlink in the last component too. @default {true} */
  followLast?: boolean;
  /**
   * What a missing component (or a non-directory with more components after it) does:
   * `"lexical"` takes the rest as written, the way securejoin does (nothing below a
   * missing name can be a link); `"fail"` makes the result undefined; `"create"` makes
   * directories (replacing non-directories in the way), as `mkdir -p` inside the root.
   * @default {"lexical"}
   */
  missing?: "lexical" | "fail" | "create";
  /**
   * The path names a directory: a last component that is not one counts as missing.
   * Always so with `missing: "create"`. @default {false}
   */
  directory?: boolean;
}

/** Where a path led inside a root. */
export interface ResolvedPath<N> {
  /** The path's components inside the root, every symlink resolved ([] is the root). */
  parts: string[];
  /** The node of every existing prefix: `nodes[0]` is the root, `nodes[i]` is `parts[i-1]`. */
  nodes: N[];
  /** The node at `parts`, or undefined when it does not exist (`missing: "lexical"`). */
  node: N | undefined;
}

type Step<N> = Generator<unknown, ResolvedPath<N> | undefined, unknown>;

/**
 * The one walk. Yields what a lookup returned (a value or a promise) and is resumed with
 * the settled value, so the same steps serve synchronous and asynchronous trees.
 */
function* walk<N>(
  lookup: RootedLookup<N>,
  path: string,
  options: ResolveInRootOptions,
): Step<N> {
  const followLast = options.followLast ?? true;
  const missing = options.missing ?? "lexical";
  const parts: string[] = [];
  const nodes: N[] = [lookup.root];
  // Components still to walk, last first (pop is cheap).
  const todo = path.split("/").reverse();
  let hops = 0;
  let lexical = false;
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      // Clamped at the root; the prefix holds no symlinks, so popping it is exact.
      if (parts.length > 0) {
        parts.pop();
        if (nodes.length > parts.length + 1) nodes.length = parts.length + 1;
      }
      if (lexical && nodes.length === parts.length + 1) lexical = false;
      continue;
    }
    const here = parts.length === 0 ? name : `${parts.join("/")}/${name}`;
    if (lexical) {
      parts.push(name);
      continue;
    }
    const dir = nodes[nodes.length - 1];
    let node = (yield lookup.child(dir, name, here)) as N | undefined;
    const last = !todo.some((t) => t !== "" && t !== ".");
    if (node !== undefined && (!last || followLast)) {
      const target = (yield lookup.linkTarget(node, here)) as string | undefined;
      if (target !== undefined) {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new PathError("ELOOP", "resolve", path, "too many levels of symbolic links");
        }
        if (target.startsWith("/")) {
          parts.length = 0;
          nodes.length = 1;
        }
        todo.push(...target.split("/").reverse());
        continue;
      }
    }
    const wantDir = !last || missing === "create" || options.directory === true;
    if (node === undefined || (wantDir && !lookup.isDirectory(node))) {
      if (missing === "fail") return undefined;
      if (missing === "create") {
        if (!lookup.mkdir) throw new TypeError('resolveInRoot: missing "create" needs mkdir');
        node = (yield lookup.mkdir(dir, name, here, node)) as N;
      } else {
        parts.push(name);
        lexical = true;
        continue;
      }
    }
    parts.push(name);
    nodes.push(node);
  }
  return { parts, nodes, node: lexical ? undefined : nodes[parts.length] };
}

/**
 * Resolves `path` inside a root the way securejoin does: every component is looked up
 * inside the root, symlinks are followed with absolute targets taken from the root, `..`
 * never climbs above the root, and at most {@linkcode MAX_SYMLINK_HOPS} links are followed
 * (then a {@linkcode PathError} with code `ELOOP`). The one walk behind every path
 * stratum writes or reads in an image root: layer application, the merged tree, COPY
 * sources and destinations, WORKDIR, RUN's working directory and mounts.
 *
 * @example
 * ```ts
 * import { resolveInRootSync } from "./resolve_in_root.ts";
 * // A tiny tree: /lib -> usr/lib, /usr/lib/x.
 * type N = { link?: string; kids?: Record<string, N> };
 * const root: N = { kids: { lib: { link: "/usr/lib" }, usr: { kids: { lib: { kids: {} } } } } };
 * const r = resolveInRootSync({
 *   root,
 *   child: (d, name) => d.kids?.[name],
 *   linkTarget: (n) => n.link,
 *   isDirectory: (n) => n.kids !== undefined,
 * }, "lib/../../lib/x");
 * if (r?.parts.join("/") !== "usr/lib/x") throw new Error("not resolved inside the root");
 * ```
 */
export async function resolveInRoot<N>(
  lookup: RootedLookup<N>,
  path: string,
  options: ResolveInRootOptions = {},
): Promise<ResolvedPath<N> | undefined> {
  const steps = walk(lookup, path, options);
  let r = steps.next();
  while (!r.done) r = steps.next(await r.value);
  return r.value;
}

/**
 * {@linkcode resolveInRoot} over a tree whose lookups answer synchronously (an in-memory
 * tree). Throws a `TypeError` if a lookup returns a promise.
 */
export function resolveInRootSync<N>(
  lookup: RootedLookup<N>,
  path: string,
  options: ResolveInRootOptions = {},
): ResolvedPath<N> | undefined {
  const steps = walk(lookup, path, options);
  let r = steps.next();
  while (!r.done) {
    if (r.value instanceof Promise) {
      throw new TypeError("resolveInRootSync: a lookup returned a promise");
    }
    r = steps.next(r.value);
  }
  return r.value;
}

/** A node of a disk directory: its path inside the root and what lstat said of it. */
export interface DiskNode {
  /** Path inside the root ("" for the root). */
  path: string;
  /** True for a directory. */
  directory: boolean;
  /** True for a symlink. */
  symlink: boolean;
}

function errno(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/**
 * A {@linkcode RootedLookup} over the directory `root` on disk (lstat, readlink, mkdir).
 * `onMkdir` hears of every directory made (for `missing: "create"`), before it is made,
 * with the path of its parent, so a writer can keep the parent's time.
 */
export function diskLookup(
  root: string,
  onMkdir?: (path: string, parent: string, replaced: boolean) => void | Promise<void>,
): RootedLookup<DiskNode> {
  const abs = (p: string) => (p === "" ? root : join(root, p));
  return {
    root: { path: "", directory: true, symlink: false },
    child(_dir, _name, path) {
      try {
        // Synchronous: one call per path component, cheaper than a thread-pool trip.
        const st = lstatSync(abs(path), { throwIfNoEntry: false });
        if (!st) return undefined;
        return { path, directory: st.isDirectory(), symlink: st.isSymbolicLink() };
      } catch (e) {
        // ENOTDIR: a parent is a file; the name cannot exist below it.
        if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return undefined;
        throw e;
      }
    },
    linkTarget: (node, path) => (node.symlink ? readlink(abs(path)) : undefined),
    isDirectory: (node) => node.directory,
    async mkdir(dir, _name, path, existing) {
      await onMkdir?.(path, dir.path, existing !== undefined);
      if (existing) await unlink(abs(path));
      await mkdir(abs(path), { mode: 0o755 });
      return { path, directory: true, symlink: false };
    },
  };
}

/**
 * The host path of `path` inside the disk directory `root`, every symlink on the way
 * (the last one too) resolved inside `root`; from a missing component on, the rest is
 * taken as written. What reading or making one path in a container's rootfs needs.
 */
export async function resolveOnDisk(root: string, path: string): Promise<string> {
  const r = await resolveInRoot(diskLookup(root), path);
  return join(root, ...r!.parts);
}

/**
 * `lstat` of a path, or null when it is missing (or a parent on the way is not a
 * directory), as the resolver's callers check what is there before they write.
 */
export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw e;
  }
}
