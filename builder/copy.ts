/**
 * COPY and ADD as BuildKit does them: source wildcards, directory contents rather than the
 * directory, destination rules (a trailing slash or an existing directory means "into"),
 * symlinks copied as links except a source path that is itself one (followed), hardlinks
 * kept, fifos, devices and xattrs of an image or stage kept (as current BuildKit's fsutil
 * copies them), `--chown` names looked up in the image's /etc/passwd and /etc/group,
 * `--chmod`, `--parents`, `--exclude`, local tar archives unpacked by ADD (gzip, bzip2, xz
 * or plain, told by their bytes, not their names; every entry type and xattr kept; large
 * bodies spooled to disk), ADD of URLs with `--checksum`, and heredoc sources.
 *
 * The destination resolves inside the image root as BuildKit's does (unionfs's rooted
 * resolver, {@linkcode rootPath}): symlinks on the way are followed, absolute ones from the
 * root, dangling ones to where they point; directories the copy makes get 0755 (or the
 * `--chmod` bits) and existing ones keep their owner and mode. Archive entries resolve with
 * the destination as their root, as moby's chrootarchive unpacks them. The result is a
 * plan of layer entries at resolved paths; the engine writes it as a layer.
 *
 * bzip2 and xz are decompressed by the `bzip2` and `xz` commands: no maintained npm package
 * streams both, and the two commands are in every Debian base system.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { open } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import { join } from "node:path";
import { type Digest, sha256 } from "../digest/mod.ts";
import {
  buildMergedTree,
  fileStream,
  type LayerSource,
  type MergedTree,
  openLayer,
  PathError,
  pullThroughZlib,
  resolveInRoot,
  type RootedLookup,
  type TreeEntry,
  type WriteEntry,
} from "../unionfs/mod.ts";
import type { BlobStore } from "../storage/mod.ts";
import type { BuildContext, ContextStat } from "./build_context.ts";
import type { LayerRef } from "./build_cache.ts";
import { contextPath } from "./build_context.ts";
import { DockerignoreMatcher } from "./dockerignore.ts";
import { applyChmod, type ChmodMode } from "./chmod_mode.ts";

/** A path's metadata in a copy source or the image being built. */
export interface SourceStat {
  /**
   * What it is. Fifos and devices of an image or stage are copied as BuildKit copies them
   * (fsutil makes them anew); `other` (sockets, and whatever the context cannot send) is
   * skipped.
   */
  type: "file" | "directory" | "symlink" | "fifo" | "char" | "block" | "other";
  /** Permission bits. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Bytes of a regular file. */
  size: number;
  /** Modification time, seconds. */
  mtime: number;
  /** Symlink target. */
  linkTarget: string;
  /** Same number: hardlinks of one file. */
  ino: number;
  /** Device numbers of a char or block device. */
  devmajor?: number;
  /** Device numbers of a char or block device. */
  devminor?: number;
  /** Extended attributes, copied with the path as BuildKit does. */
  xattrs?: Record<string, Uint8Array>;
}

/** Where COPY reads from: the build context, or another stage's or image's root. */
export interface SourceFs {
  /** Names the source in errors: `build context`, `stage "builder"`. */
  readonly label: string;
  /** True for images and stages (owners kept), false for the context (owners 0:0). */
  readonly keepOwners: boolean;
  /** Metadata of a path (relative, no final symlink followed), or undefined. */
  lstat(path: string): Promise<SourceStat | undefined>;
  /** Names in a directory, sorted. */
  readdir(path: string): Promise<string[]>;
  /** A regular file's bytes. */
  body(path: string): Promise<ReadableStream<Uint8Array> | Uint8Array>;
  /** Loads many bodies at once before `body` is asked for them (layers are read once). */
  prefetch?(paths: string[]): Promise<void>;
}

/** The context as a copy source. */
export function contextFs(context: BuildContext): SourceFs {
  return {
    label: "build context",
    keepOwners: false,
    async lstat(path) {
      const st = await context.lstat(path);
      if (!st) return undefined;
      return { ...st, type: st.type, uid: 0, gid: 0 };
    },
    readdir: (path) => Promise.resolve(context.readdir(path)),
    body: (path) => {
      try {
        return Promise.resolve(context.body(path));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}

/**
 * An image root (a stack of layers in the store) read through its merged tree, for COPY
 * --from, for the destination checks of COPY and WORKDIR, and for --chown names.
 */
export class TreeFs implements SourceFs {
  /** Names the source in errors. */
  readonly label: string;
  /** Images keep their owners. */
  readonly keepOwners = true;
  #blobs: BlobStore;
  #layers: LayerRef[];
  #tree: Promise<MergedTree> | undefined;
  #bodies = new Map<string, () => Promise<ReadableStream<Uint8Array> | Uint8Array>>();
  #spool: string | undefined;
  #budget = { left: MEMORY_BUDGET };

  /**
   * A view of `layers` (bottom first), read from `blobs`. With `options.spool`, the large
   * bodies a copy reads are kept in files there rather than in memory (as ADD keeps what
   * it unpacks), so copying a large file from a stage does not hold it in memory.
   */
  constructor(
    blobs: BlobStore,
    layers: readonly LayerRef[],
    label: string,
    options: { spool?: string } = {},
  ) {
    this.#blobs = blobs;
    this.#layers = [...layers];
    this.label = label;
    this.#spool = options.spool;
  }

  /** The layer sources, bottom first. */
  get sources(): LayerSource[] {
    return this.#layers.map((l) => ({
      digest: l.descriptor.digest,
      mediaType: l.descriptor.mediaType,
      open: () => this.#blobs.get(l.descriptor.digest),
    }));
  }

  /** The merged tree, built once. */
  tree(): Promise<MergedTree> {
    return this.#tree ??= buildMergedTree(this.sources);
  }

  /** Metadata of a path. */
  async lstat(path: string): Promise<SourceStat | undefined> {
    const p = contextPath(path);
    const tree = await this.tree();
    const e = p === "" ? tree.root : tree.get(p);
    return e ? statOf(e) : undefined;
  }

  /** Names in a directory. */
  async readdir(path: string): Promise<string[]> {
    const tree = await this.tree();
    return tree.list(contextPath(path)).map((e) => e.path.slice(e.path.lastIndexOf("/") + 1));
  }

  /** Reads the bodies of `paths`, each layer once. */
  async prefetch(paths: string[]): Promise<void> {
    const tree = await this.tree();
    const wanted = new Map<number, Map<number, string[]>>();
    for (const path of paths) {
      const p = contextPath(path);
      if (this.#bodies.has(p)) continue;
      const e = tree.get(p);
      if (!e || e.type !== "file") continue;
      let byEntry = wanted.get(e.contentLayer);
      if (!byEntry) wanted.set(e.contentLayer, byEntry = new Map());
      byEntry.set(e.contentEntry, [...(byEntry.get(e.contentEntry) ?? []), p]);
    }
    const sources = this.sources;
    for (const [layer, byEntry] of wanted) {
      let index = 0;
      let left = byEntry.size;
      for await (const { body } of openLayer(sources[layer])) {
        const names = byEntry.get(index++);
        if (!names) {
          await body.cancel();
          continue;
        }
        const size = (await this.lstat(names[0]))?.size ?? 0;
        const keep = await keepBody(body, size, this.#spool, this.#budget);
        for (const n of names) this.#bodies.set(n, keep);
        if (--left === 0) break;
      }
    }
  }

  /** A regular file's bytes, all of them in memory. */
  async body(path: string): Promise<Uint8Array> {
    const body = await this.bodyStream(path);
    return body instanceof Uint8Array
      ? body
      : new Uint8Array(await new Response(body).arrayBuffer());
  }

  /** A regular file's bytes: a stream from the spool for a large one, else in memory. */
  async bodyStream(path: string): Promise<ReadableStream<Uint8Array> | Uint8Array> {
    const p = contextPath(path);
    if (!this.#bodies.has(p)) await this.prefetch([p]);
    const open = this.#bodies.get(p);
    if (!open) throw new Error(`Cannot read "/${p}" in ${this.label}: not a regular file`);
    return await open();
  }

  /** This tree as a copy source whose large bodies stream (with a spool, see above). */
  asSource(): SourceFs {
    return {
      label: this.label,
      keepOwners: true,
      lstat: (path) => this.lstat(path),
      readdir: (path) => this.readdir(path),
      body: (path) => this.bodyStream(path),
      prefetch: (paths) => this.prefetch(paths),
    };
  }

  /** Reads a small file following symlinks, or undefined when it is missing. */
  async readText(path: string): Promise<string | undefined> {
    const resolved = await resolvePath(this, path, true);
    if (!resolved || resolved.stat.type !== "file") return undefined;
    return new TextDecoder().decode(await this.body(resolved.path));
  }
}

const TREE_TYPES = new Set(["file", "directory", "symlink", "fifo", "char", "block"]);

function statOf(e: TreeEntry): SourceStat {
  return {
    type: TREE_TYPES.has(e.type) ? e.type as SourceStat["type"] : "other",
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtime: e.mtime,
    linkTarget: e.linkTarget,
    ino: e.inode,
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs: e.xattrs,
  };
}

/**
 * Resolves `path` inside the root of `fs`, following symlinks in its parents (and in its
 * last component when `followLast`), never leaving the root. Undefined when missing.
 */
export async function resolvePath(
  fs: SourceFs,
  path: string,
  followLast: boolean,
): Promise<{ path: string; stat: SourceStat } | undefined> {
  let resolved;
  try {
    resolved = await resolveInRoot(lookupOf(fs), contextPath(path), {
      followLast,
      missing: "fail",
    });
  } catch (e) {
    if (e instanceof PathError && e.code === "ELOOP") {
      throw new Error(`Too many symlinks resolving "${path}" in ${fs.label}`, { cause: e });
    }
    throw e;
  }
  if (!resolved) return undefined;
  const final = resolved.parts.join("/");
  const stat = resolved.node?.stat ?? await fs.lstat(final);
  return stat ? { path: final, stat } : undefined;
}

type SourceNode = { path: string; stat?: SourceStat };

/** A copy source or image as unionfs's rooted resolver walks it. */
function lookupOf(fs: SourceFs): RootedLookup<SourceNode> {
  return {
    root: { path: "" },
    child: async (_dir, _name, p) => {
      const stat = await fs.lstat(p);
      return stat ? { path: p, stat } : undefined;
    },
    linkTarget: (node) => (node.stat?.type === "symlink" ? node.stat.linkTarget : undefined),
    isDirectory: (node) => node.stat === undefined || node.stat.type === "directory",
  };
}

/**
 * Where `path` lands inside the root of `fs`, as BuildKit's COPY destination does
 * (continuity's `fs.RootPath`, unionfs's rooted resolver): every symlink on the way is
 * followed, the last one too (an absolute target taken from the root, a relative one from
 * its directory), `..` stops at the root, and from a missing component on the rest is taken
 * as written, so a dangling link leads to where it points. `stat` is what is there, if
 * anything.
 *
 * @throws {CopyError} when a path has too many symlinks, naming it.
 */
export async function rootPath(
  fs: SourceFs,
  path: string,
): Promise<{ path: string; stat: SourceStat | undefined }> {
  let resolved;
  try {
    resolved = await resolveInRoot(lookupOf(fs), path, { missing: "lexical" });
  } catch (e) {
    if (e instanceof PathError && e.code === "ELOOP") {
      throw new CopyError(`Cannot resolve "${path}" in the ${fs.label}: too many symlinks`, {
        cause: e,
      });
    }
    throw e;
  }
  const at = resolved!.parts.join("/");
  return { path: at, stat: resolved!.node ? resolved!.node.stat ?? await fs.lstat(at) : undefined };
}

/** One entry of a planned layer. */
export interface PlannedEntry {
  /** Path in the image, relative (`app/a.txt`). */
  path: string;
  /** Entry type. */
  type: "file" | "directory" | "symlink" | "hardlink" | "fifo" | "char" | "block";
  /** Permission bits. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Modification time, seconds. */
  mtime: number;
  /** File size. */
  size: number;
  /** Symlink target, or the image path a hardlink points to. */
  linkTarget: string;
  /** The path the bytes come from in the copy source, for prefetching. */
  source?: string;
  /** Device major number (char and block devices). */
  devmajor?: number;
  /** Device minor number (char and block devices). */
  devminor?: number;
  /** Extended attributes (`security.capability`, `user.*`, ...). */
  xattrs?: Record<string, Uint8Array>;
  /** Produces a file's bytes when the entry is written. */
  body?: () => Promise<ReadableStream<Uint8Array> | Uint8Array>;
}

/** A COPY/ADD source given inline (a heredoc) or fetched (a URL). */
export interface InlineSource {
  /** The name it is copied as (the heredoc name, the URL's last path part). */
  name: string;
  /** Its bytes. */
  bytes: Uint8Array;
  /** Permission bits. */
  mode: number;
  /** Modification time, seconds. */
  mtime: number;
}

/** Options of {@linkcode planCopy}. */
export interface CopyOptions {
  /** `COPY` or `ADD` (ADD unpacks local tar archives). */
  keyword: "COPY" | "ADD";
  /** Source paths or wildcards, expanded, relative to the source root. */
  sources: string[];
  /** Inline sources (heredocs, downloaded URLs), copied like files. */
  inline?: InlineSource[];
  /** The destination as written (expanded): a trailing `/` means a directory. */
  dest: string;
  /** The working directory a relative destination is resolved against. */
  workdir: string;
  /** `--chown`, resolved to ids. */
  chown?: { uid: number; gid: number };
  /** `--chmod`, parsed (octal or symbolic). */
  chmod?: ChmodMode;
  /** `--parents`: keep the source paths under the destination. */
  parents?: boolean;
  /** `--exclude` patterns. */
  exclude?: string[];
  /** The time for directories the copy creates, seconds. */
  now: number;
  /** SOURCE_DATE_EPOCH: times in the layer are clamped to it. */
  sourceDateEpoch?: number;
  /**
   * A directory where ADD puts the large files it unpacks from an archive until the layer
   * is written, so memory stays bounded whatever the archive inflates to. Without it,
   * every unpacked file is held in memory.
   */
  spool?: string;
}

/** What a COPY/ADD will write, and what its cache key depends on. */
export interface CopyPlan {
  /** Layer entries, sorted, parents first. */
  entries: PlannedEntry[];
  /** Source paths matched (relative to the source root), for cache inputs. */
  matched: string[];
}

/** A COPY/ADD that cannot be done: missing source, bad destination. */
export class CopyError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, with the path.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CopyError";
  }
}

const GLOB = /[*?[\\]/;

/** Go's filepath.Match for one path component. */
export function globToRegExp(pattern: string): RegExp {
  let out = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "*") out += "[^/]*";
    else if (ch === "?") out += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) out += escapeRegExp(pattern[++i]);
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new CopyError(`Invalid pattern "${pattern}": unterminated [`);
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("^") || body.startsWith("!")) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\(.)/g, "\\$1")}]`;
      i = end;
    } else out += escapeRegExp(ch);
  }
  return new RegExp(`${out}$`);
}

function componentPattern(part: string): RegExp | undefined {
  try {
    return globToRegExp(part);
  } catch (e) {
    if (e instanceof CopyError) return undefined;
    throw e;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Expands one source (a path or wildcard) into existing source paths, sorted. */
export async function matchSource(fs: SourceFs, source: string): Promise<string[]> {
  const clean = contextPath(source);
  if (!GLOB.test(clean)) return [clean];
  let current = [""];
  for (const part of clean.split("/")) {
    const next: string[] = [];
    for (const dir of current) {
      if (!GLOB.test(part)) {
        const p = dir ? `${dir}/${part}` : part;
        if (await fs.lstat(p)) next.push(p);
        continue;
      }
      const re = componentPattern(part);
      // A malformed pattern (`["a",`) matches nothing, as fsutil ignores filepath.Match's
      // ErrBadPattern; the empty-wildcard rule then skips the source.
      if (!re) continue;
      const resolved = dir === "" ? { path: "" } : await resolvePath(fs, dir, true);
      if (!resolved) continue;
      for (const name of await fs.readdir(resolved.path)) {
        if (re.test(name)) next.push(dir ? `${dir}/${name}` : name);
      }
    }
    current = next;
  }
  return current.sort();
}

/**
 * Plans a COPY or ADD: which entries the new layer gets. `dest` is checked against the
 * image being built (`target`): an existing directory there means "copy into it".
 *
 * @throws {CopyError} when a source is missing (naming it) or several sources go to a
 *   destination that is not a directory.
 */
export async function planCopy(
  from: SourceFs,
  target: SourceFs,
  options: CopyOptions,
): Promise<CopyPlan> {
  const clamp = (t: number) =>
    options.sourceDateEpoch !== undefined && t > options.sourceDateEpoch
      ? options.sourceDateEpoch
      : t;
  const plan = new Map<string, PlannedEntry>();
  const matched: string[] = [];
  const roots: { path: string; stat: SourceStat; match: string }[] = [];
  for (const source of options.sources) {
    // A wildcard that matches nothing is skipped (BuildKit's AllowEmptyWildcard).
    const matches = await matchSource(from, source);
    for (const m of matches) {
      const resolved = await resolvePath(from, m, true);
      if (!resolved) {
        throw new CopyError(`${options.keyword} failed: "/${m}" not found in the ${from.label}`);
      }
      roots.push({ ...resolved, match: m });
      matched.push(m);
    }
  }
  const count = roots.length + (options.inline?.length ?? 0);
  const destIsDir = /(^|\/)\.?$/.test(options.dest) || options.dest.endsWith("/.");
  if (options.sources.length + (options.inline?.length ?? 0) > 1 && !destIsDir) {
    throw new CopyError(
      `When using ${options.keyword} with more than one source file, the destination must be a directory and end with a /`,
    );
  }
  const destAbs = contextPath(
    options.dest.startsWith("/") ? options.dest : `${options.workdir}/${options.dest}`,
  );
  // BuildKit resolves the destination inside the image root (fsutil's Copy over
  // continuity's RootPath): symlinks on the way, the last one too, are followed, an
  // absolute target taken from the root, a dangling one leading to where it points.
  const resolved = await rootPath(target, destAbs);
  const dest = resolved.path;
  const destExistingDir = dest === "" || resolved.stat?.type === "directory";
  const into = destIsDir || destExistingDir || count > 1;
  if (into && resolved.stat && !destExistingDir) {
    throw new CopyError(
      `${options.keyword} failed: cannot copy into "/${destAbs}": "/${dest}" is not a directory`,
    );
  }
  const owner = (st: SourceStat) =>
    options.chown ?? (from.keepOwners ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
  const mode = (st: SourceStat) =>
    options.chmod && st.type !== "symlink"
      ? applyChmod(options.chmod, st.mode, st.type === "directory")
      : st.mode;
  // Directories the copy makes for its destination: 0755, or the bits of an octal --chmod in
  // current BuildKit (fsutil's MkdirAll gets the copy's Mode since BuildKit 0.13; a symbolic
  // --chmod is a ModeStr there and leaves them 0755; Docker 20.10's BuildKit made them 0755
  // whatever --chmod said); owned by --chown or root.
  const madeMode = options.chmod?.octal !== undefined ? options.chmod.octal & 0o777 : 0o755;
  const madeOwner = options.chown ?? { uid: 0, gid: 0 };
  const exclude = options.exclude?.length ? new DockerignoreMatcher(options.exclude) : undefined;
  const links = new Map<number, string>();

  /** Makes the parents of `path` (a path already resolved in the image) exist. */
  const addParents = async (path: string, made = madeMode, by = madeOwner) => {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (plan.has(p)) continue;
      await addDir(p, made, by);
    }
  };
  /** `path` as a directory: an existing one keeps its metadata, a new one is made. */
  const addDir = async (path: string, made = madeMode, by = madeOwner) => {
    const existing = await target.lstat(path);
    if (existing && existing.type !== "directory") {
      throw new CopyError(
        `${options.keyword} failed: cannot copy to "/${destAbs}": "/${path}" is not a directory`,
      );
    }
    plan.set(path, {
      path,
      type: "directory",
      mode: existing ? existing.mode : made,
      ...(existing ? { uid: existing.uid, gid: existing.gid } : by),
      mtime: clamp(options.now),
      size: 0,
      linkTarget: "",
    });
  };

  const copyEntry = async (srcPath: string, st: SourceStat, destPath: string, rel: string) => {
    if (exclude && rel !== "" && (exclude.matches(rel) || exclude.matches(srcPath))) return;
    if (st.type === "other") return;
    const id = owner(st);
    if (st.type === "directory") {
      if (rel === "") {
        // The top directory is made, not copied (fsutil copies a directory's contents
        // into it): an existing one is left as it is, --chown or not.
        if (!plan.has(destPath) && destPath !== "") await addDir(destPath);
      } else {
        plan.set(destPath, {
          path: destPath,
          type: "directory",
          mode: mode(st),
          ...id,
          mtime: clamp(st.mtime),
          size: 0,
          linkTarget: "",
          xattrs: st.xattrs,
        });
      }
      for (const name of await from.readdir(srcPath)) {
        const child = srcPath ? `${srcPath}/${name}` : name;
        const cst = await from.lstat(child);
        if (!cst) continue;
        // Names from readdir are clean: joined as they are (this runs once per file).
        const to = destPath === "" ? name : `${destPath}/${name}`;
        await copyEntry(child, cst, to, rel ? `${rel}/${name}` : name);
      }
      return;
    }
    const base = {
      path: destPath,
      mode: mode(st),
      ...id,
      mtime: clamp(st.mtime),
      xattrs: st.xattrs,
    };
    if (st.type === "symlink") {
      plan.set(destPath, { ...base, type: "symlink", size: 0, linkTarget: st.linkTarget });
      return;
    }
    if (st.type === "fifo" || st.type === "char" || st.type === "block") {
      plan.set(destPath, {
        ...base,
        type: st.type,
        size: 0,
        linkTarget: "",
        devmajor: st.devmajor ?? 0,
        devminor: st.devminor ?? 0,
      });
      return;
    }
    const first = links.get(st.ino);
    if (first !== undefined && st.ino !== 0) {
      plan.set(destPath, { ...base, type: "hardlink", size: 0, linkTarget: first });
      return;
    }
    links.set(st.ino, destPath);
    plan.set(destPath, {
      ...base,
      type: "file",
      size: st.size,
      linkTarget: "",
      source: srcPath,
      body: () => from.body(srcPath),
    });
  };

  for (const root of roots) {
    let destPath: string;
    if (options.parents) {
      destPath = joinPath(dest, root.match);
    } else if (root.stat.type === "directory") {
      destPath = dest;
    } else {
      destPath = into ? joinPath(dest, root.match.slice(root.match.lastIndexOf("/") + 1)) : dest;
    }
    if (options.keyword === "ADD" && root.stat.type === "file") {
      const archive = await archiveKind(() => from.body(root.path));
      if (archive) {
        const at = options.parents ? joinPath(dest, parentOf(root.match)) : dest;
        // BuildKit's unpack makes the destination 0755 (no --chmod), owned by --chown.
        if (at !== "") {
          await addParents(at, 0o755);
          if (!plan.has(at)) await addDir(at, 0o755);
        }
        await extractArchive(await from.body(root.path), archive, {
          name: root.path,
          dest: at,
          plan,
          target,
          options,
          clamp,
        });
        continue;
      }
    }
    if (destPath === "") {
      if (root.stat.type !== "directory") {
        throw new CopyError(`${options.keyword} failed: cannot copy a file to "/"`);
      }
    } else {
      await addParents(destPath);
    }
    await copyEntry(root.path, root.stat, destPath, "");
  }
  for (const inline of options.inline ?? []) {
    const destPath = into ? joinPath(dest, inline.name) : dest;
    await addParents(destPath);
    const id = options.chown ?? { uid: 0, gid: 0 };
    plan.set(destPath, {
      path: destPath,
      type: "file",
      mode: options.chmod ? applyChmod(options.chmod, inline.mode, false) : inline.mode,
      ...id,
      mtime: clamp(inline.mtime),
      size: inline.bytes.length,
      linkTarget: "",
      body: () => Promise.resolve(inline.bytes),
    });
  }
  plan.delete("");
  const entries = orderHardlinks(
    [...plan.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  );
  if (from.prefetch) {
    await from.prefetch(entries.flatMap((e) => (e.source === undefined ? [] : [e.source])));
  }
  return { entries, matched };
}

/**
 * A hardlink must come after the file it names: in each group of links, the first path in
 * archive order becomes the file and the others link to it.
 */
function orderHardlinks(entries: PlannedEntry[]): PlannedEntry[] {
  const byPath = new Map(entries.map((e, i) => [e.path, i]));
  const groups = new Map<string, number[]>();
  entries.forEach((e, i) => {
    if (e.type === "hardlink" && byPath.has(e.linkTarget)) {
      const list = groups.get(e.linkTarget) ?? [byPath.get(e.linkTarget)!];
      list.push(i);
      groups.set(e.linkTarget, list);
    }
  });
  for (const [target, members] of groups) {
    const fileIndex = byPath.get(target)!;
    const first = Math.min(...members);
    if (first === fileIndex) continue;
    const file = entries[fileIndex];
    const firstPath = entries[first].path;
    entries[first] = { ...file, path: firstPath };
    for (const i of members) {
      if (i === first) continue;
      entries[i] = {
        ...entries[i],
        ...(i === fileIndex ? { path: target } : {}),
        type: "hardlink",
        size: 0,
        linkTarget: firstPath,
        body: undefined,
        source: undefined,
      };
    }
  }
  return entries;
}

function joinPath(a: string, b: string): string {
  return contextPath(`${a}/${b}`);
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** What {@linkcode archiveKind} finds a source file to be: ADD unpacks all but plain files. */
export type Archive = "gzip" | "bzip2" | "xz" | "tar";

/** Tells a tar archive (plain or compressed) from its bytes; undefined when it is not one. */
export async function archiveKind(
  open: () => Promise<ReadableStream<Uint8Array> | Uint8Array>,
): Promise<Archive | undefined> {
  const head = await readHead(await open(), 512);
  let kind: Archive;
  if (head[0] === 0x1f && head[1] === 0x8b) kind = "gzip";
  else if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) kind = "bzip2";
  else if (
    head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 &&
    head[4] === 0x5a && head[5] === 0x00
  ) kind = "xz";
  else return isTarHeader(head) ? "tar" : undefined;
  try {
    const inner = await readHead(decompressStream(toStream(await open()), kind), 512);
    return isTarHeader(inner) ? kind : undefined;
  } catch {
    return undefined;
  }
}

function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const magic = new TextDecoder().decode(block.subarray(257, 262));
  if (magic === "ustar") return true;
  // A v7 tar has no magic: check the header checksum.
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  const written = parseInt(
    new TextDecoder().decode(block.subarray(148, 156)).replace(/\0.*$/s, "").trim(),
    8,
  );
  return block[0] !== 0 && written === sum;
}

function toStream(body: ReadableStream<Uint8Array> | Uint8Array): ReadableStream<Uint8Array> {
  if (!(body instanceof Uint8Array)) return body;
  return new ReadableStream({
    start(c) {
      c.enqueue(body);
      c.close();
    },
  });
}

async function readHead(
  body: ReadableStream<Uint8Array> | Uint8Array,
  n: number,
): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body.subarray(0, n);
  const reader = body.getReader();
  const out = new Uint8Array(n);
  let have = 0;
  try {
    while (have < n) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(n - have, value.length);
      out.set(value.subarray(0, take), have);
      have += take;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out.subarray(0, have);
}

/** Largest chunk the gzip decoder hands out. */
const GUNZIP_CHUNK = 256 * 1024;

/**
 * Gunzips an archive, pulled (unionfs's pullThroughZlib): the Web `DecompressionStream`
 * inflates each input chunk whole, and deflate reaches ~1000:1 on runs of zeros, so a
 * 64 KiB read of a small archive came out as 64 MiB at once.
 */
function gunzip(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return pullThroughZlib(input, createGunzip({ chunkSize: GUNZIP_CHUNK }), {
    what: "a gzip archive",
  });
}

/** Decompresses gzip with `node:zlib`, bzip2 and xz with their commands. */
function decompressStream(
  stream: ReadableStream<Uint8Array>,
  kind: Archive,
): ReadableStream<Uint8Array> {
  if (kind === "tar") return stream;
  if (kind === "gzip") return gunzip(stream);
  const command = kind === "bzip2" ? "bzip2" : "xz";
  const child = spawn(command, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const failed = new Promise<Error>((resolve) => {
    child.on(
      "error",
      (e) =>
        resolve(
          new Error(
            `Cannot decompress a ${kind} archive: "${command}" could not run (install it)`,
            { cause: e },
          ),
        ),
    );
    child.on("close", (code) => {
      if (code !== 0) resolve(new Error(`Cannot decompress a ${kind} archive: ${stderr.trim()}`));
    });
  });
  (async () => {
    try {
      for await (const chunk of stream) {
        if (!child.stdin.write(chunk)) {
          await new Promise<void>((r) => child.stdin.once("drain", () => r()));
        }
      }
    } catch { /* reported by the reader */ }
    child.stdin.end();
  })();
  child.stdin.on("error", () => {});
  let error: Error | undefined;
  failed.then((e) => (error = e));
  const closed = new Promise((r) => child.once("close", r).exitCode !== null && r(null));
  // Pulled, so the command is paused by its pipe while nobody reads.
  const chunks = child.stdout[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await chunks.next();
        if (!done) {
          controller.enqueue(new Uint8Array(value));
          return;
        }
        await closed;
        if (error) controller.error(error);
        else controller.close();
      } catch (e) {
        controller.error(e);
      }
    },
    cancel() {
      child.kill();
    },
  }, { highWaterMark: 0 });
}

/** Unpacked files at least this large go to the spool directory instead of memory. */
const SPOOL_FROM = 64 * 1024;
/** Bytes of smaller unpacked files one ADD keeps in memory before spooling them too. */
const MEMORY_BUDGET = 32 * 1024 * 1024;

/** What {@linkcode extractArchive} works on. */
interface Extraction {
  /** The archive's path in its source, for errors. */
  name: string;
  /** The resolved directory the archive is unpacked into, relative to the image root. */
  dest: string;
  plan: Map<string, PlannedEntry>;
  /** The image being built. */
  target: SourceFs;
  options: CopyOptions;
  clamp: (t: number) => number;
}

/**
 * The image being built with this copy's planned entries over it, seen from `dest`: the
 * view archive entries are resolved in. BuildKit unpacks in a chroot at the destination
 * (moby's chrootarchive), so a symlink met on the way, planted by an earlier layer or by
 * the archive itself, is followed with the destination as its root.
 */
function extractionView(x: Extraction): SourceFs {
  const full = (path: string) => joinPath(x.dest, path);
  return {
    label: x.target.label,
    keepOwners: true,
    lstat(path) {
      const e = x.plan.get(full(path));
      if (!e) return x.target.lstat(full(path));
      return Promise.resolve({
        type: e.type === "hardlink" ? "file" : e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: e.mtime,
        linkTarget: e.linkTarget,
        ino: 0,
      });
    },
    readdir: (path) => x.target.readdir(full(path)),
    body: (path) => x.target.body(full(path)),
  };
}

/**
 * Unpacks a tar archive into the plan as BuildKit's ADD does (moby's archive.Untar):
 * each entry's parent resolved inside the destination, missing parents made 0755 and
 * owned by root, every entry type kept (fifos and devices too) with its extended
 * attributes, owners from the archive unless --chown is given. File bodies stream: large
 * ones are spooled to disk, so memory does not grow with what the archive inflates to.
 */
async function extractArchive(
  body: ReadableStream<Uint8Array> | Uint8Array,
  kind: Archive,
  x: Extraction,
): Promise<void> {
  const { dest, plan, options, clamp } = x;
  const view = extractionView(x);
  const budget = { left: MEMORY_BUDGET };
  const stream = decompressStream(toStream(body), kind);
  const source: LayerSource = { digest: `/${x.name}`, open: () => Promise.resolve(stream) };
  /** Where `name` (an archive path) lands, its parent resolved, relative to the image. */
  const place = async (name: string): Promise<string> => {
    const rel = contextPath(name);
    const parent = (await rootPath(view, parentOf(rel))).path;
    return joinPath(dest, joinPath(parent, rel.slice(rel.lastIndexOf("/") + 1)));
  };
  for await (const { header, body: entryBody } of openLayer(source)) {
    // Current BuildKit gives the unpacked entries the --chown owner (Untar's ChownOpts);
    // Docker 20.10's BuildKit left the archive's owners.
    const id = options.chown ?? { uid: header.uid, gid: header.gid };
    const meta = {
      mode: header.mode & 0o7777,
      ...id,
      mtime: clamp(header.mtime),
      size: 0,
      xattrs: Object.keys(header.xattrs).length > 0 ? header.xattrs : undefined,
    };
    if (contextPath(header.name) === "") {
      // "./": the destination itself takes the entry's metadata.
      await entryBody.cancel();
      if (header.type === "directory" && dest !== "") {
        plan.set(dest, { ...meta, path: dest, type: "directory", linkTarget: "" });
      }
      continue;
    }
    const path = await place(header.name);
    for (let p = parentOf(path); p !== "" && !plan.has(p); p = parentOf(p)) {
      const existing = await x.target.lstat(p);
      plan.set(p, {
        path: p,
        type: "directory",
        mode: existing?.type === "directory" ? existing.mode : 0o755,
        ...(existing?.type === "directory"
          ? { uid: existing.uid, gid: existing.gid }
          : { uid: 0, gid: 0 }),
        mtime: clamp(options.now),
        size: 0,
        linkTarget: "",
      });
    }
    if (header.type !== "directory" && plan.get(path)?.type === "directory") {
      // A non-directory replaces a directory and what the archive put in it.
      for (const k of plan.keys()) if (k.startsWith(`${path}/`)) plan.delete(k);
    }
    const base = { ...meta, path };
    if (header.type === "file") {
      const keep = await keepBody(entryBody, header.size, options.spool, budget);
      plan.set(path, { ...base, type: "file", size: header.size, linkTarget: "", body: keep });
      continue;
    }
    await entryBody.cancel();
    if (header.type === "directory") {
      plan.set(path, { ...base, type: "directory", linkTarget: "" });
    } else if (header.type === "symlink") {
      plan.set(path, { ...base, type: "symlink", linkTarget: header.linkname });
    } else if (header.type === "hardlink") {
      const linkTo = await place(header.linkname);
      const to = plan.get(linkTo) ?? await x.target.lstat(linkTo);
      // Anything but a directory can be linked (link(2) does not follow a symlink).
      if (!to || to.type === "directory" || to.type === "other") {
        throw new CopyError(
          `${options.keyword} failed: "${header.name}" in the archive is a hardlink to "${header.linkname}", which ${
            to ? `is a ${to.type === "other" ? "socket" : to.type}` : "does not exist"
          }`,
        );
      }
      if (!plan.has(linkTo)) {
        // A link to a file of the image below: the file comes into the layer too, as
        // overlayfs copies it up when the unpacking links to it.
        const st = to as SourceStat;
        plan.set(linkTo, {
          path: linkTo,
          type: st.type as PlannedEntry["type"],
          mode: st.mode,
          uid: st.uid,
          gid: st.gid,
          mtime: st.mtime,
          size: st.type === "file" ? st.size : 0,
          linkTarget: st.type === "symlink" ? st.linkTarget : "",
          devmajor: st.devmajor,
          devminor: st.devminor,
          xattrs: st.xattrs,
          ...(st.type === "file" ? { body: () => x.target.body(linkTo) } : {}),
        });
      }
      plan.set(path, { ...base, type: "hardlink", linkTarget: linkTo });
    } else {
      plan.set(path, {
        ...base,
        type: header.type,
        linkTarget: "",
        devmajor: header.devmajor,
        devminor: header.devminor,
      });
    }
  }
}

/**
 * Keeps an unpacked file's bytes until the layer is written: small ones in memory while
 * the budget lasts, the rest in a file of their own under `spool`.
 */
async function keepBody(
  body: ReadableStream<Uint8Array>,
  size: number,
  spool: string | undefined,
  budget: { left: number },
): Promise<() => Promise<ReadableStream<Uint8Array> | Uint8Array>> {
  if (spool === undefined || (size < SPOOL_FROM && size <= budget.left)) {
    budget.left -= size;
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    return () => Promise.resolve(bytes);
  }
  const path = join(spool, `add-${crypto.randomUUID()}`);
  const fh = await open(path, "wx", 0o600);
  try {
    for await (const chunk of body) await fh.write(chunk);
  } finally {
    await fh.close();
  }
  return () => Promise.resolve(fileStream(path));
}

/** Turns a plan into tar entries, opening each body only when its entry is written. */
export async function* planEntries(entries: PlannedEntry[]): AsyncGenerator<WriteEntry> {
  for (const e of entries) {
    yield {
      header: {
        name: e.type === "directory" ? `${e.path}/` : e.path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.type === "file" ? e.size : 0,
        mtime: Math.floor(e.mtime),
        linkname: e.linkTarget,
        // Absent rather than undefined: readers of a header take its fields as given.
        ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
        ...(e.xattrs ? { xattrs: e.xattrs } : {}),
      },
      body: e.type === "file" && e.body ? await e.body() : undefined,
    };
  }
}

/**
 * The content digests a COPY's cache key depends on: every path the plan copies from the
 * context, with its type, mode and content digest (or link target).
 */
export async function contextInputs(
  context: BuildContext,
  matched: string[],
): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  const files: [key: string, path: string, mode: number][] = [];
  // Below a matched source nothing is followed, so the walk needs no awaits: on a warm
  // build of a large context, a promise per file costs as much as the stat.
  const walk = (path: string, st: ContextStat | undefined, real: string) => {
    if (!st) {
      inputs[`ctx:${path}`] = "missing";
    } else if (st.type === "directory") {
      inputs[`ctx:${path}`] = `dir:${st.mode.toString(8)}`;
      for (const name of context.readdir(real)) {
        const child = real ? `${real}/${name}` : name;
        walk(child, context.statSync(child), child);
      }
    } else if (st.type === "symlink") {
      inputs[`ctx:${path}`] = `link:${st.linkTarget}`;
    } else if (st.type === "file") {
      const known = context.knownDigest(real);
      if (known) inputs[`ctx:${path}`] = `${st.mode.toString(8)}:${known}`;
      else files.push([`ctx:${path}`, real, st.mode]);
    }
  };
  for (const m of matched) {
    const resolved = await resolvePath(contextFs(context), m, true);
    const real = resolved?.path ?? m;
    walk(m, context.statSync(real), real);
  }
  // Hashing is I/O bound: a bounded number of reads in flight keeps the disk busy
  // without running out of file descriptors.
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const [key, real, mode] = files[next++];
      inputs[key] = `${mode.toString(8)}:${await context.digest(real)}`;
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, files.length) }, worker));
  return inputs;
}

/** Context files read at once while hashing. */
const HASH_CONCURRENCY = 32;

/**
 * Resolves a `--chown` value (`user`, `user:group`, ids or names) against the image's
 * /etc/passwd and /etc/group, as BuildKit does: a user name without a group takes the
 * user's primary group; a uid without a group gets the same gid.
 *
 * @throws {CopyError} when a name is not in the files, naming it.
 */
export async function resolveChown(
  spec: string,
  image: TreeFs,
): Promise<{ uid: number; gid: number }> {
  const [user, group] = spec.split(":", 2) as [string, string | undefined];
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    gid = uid;
  } else {
    const passwd = await image.readText("etc/passwd");
    const line = passwd?.split("\n").map((l) => l.split(":")).find((f) => f[0] === user);
    if (!line || line.length < 4) {
      throw new CopyError(
        `Cannot use --chown=${spec}: no user "${user}" in the image's /etc/passwd`,
      );
    }
    uid = Number(line[2]);
    gid = Number(line[3]);
  }
  if (group !== undefined && group !== "") {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const groups = await image.readText("etc/group");
      const line = groups?.split("\n").map((l) => l.split(":")).find((f) => f[0] === group);
      if (!line || line.length < 3) {
        throw new CopyError(
          `Cannot use --chown=${spec}: no group "${group}" in the image's /etc/group`,
        );
      }
      gid = Number(line[2]);
    }
  }
  return { uid, gid };
}

/**
 * Downloads an ADD URL, checking `--checksum` when given.
 *
 * @throws {CopyError} on an HTTP error or a checksum mismatch, naming the URL.
 */
export async function fetchUrl(
  url: string,
  checksum: string | undefined,
  fetcher: typeof fetch = fetch,
): Promise<{ bytes: Uint8Array; digest: Digest; name: string; mtime: number | undefined }> {
  let response: Response;
  try {
    response = await fetcher(url);
  } catch (error) {
    throw new CopyError(`ADD failed: cannot fetch "${url}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!response.ok) {
    throw new CopyError(`ADD failed: cannot fetch "${url}": HTTP ${response.status}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = await sha256(bytes);
  if (checksum !== undefined && checksum !== digest) {
    throw new CopyError(
      `ADD failed: "${url}" has digest ${digest}, not the --checksum ${checksum}`,
    );
  }
  const lastModified = response.headers.get("last-modified");
  const parsed = lastModified ? Date.parse(lastModified) : NaN;
  const path = new URL(url).pathname;
  const name = path.slice(path.lastIndexOf("/") + 1) || "index.html";
  return { bytes, digest, name, mtime: Number.isNaN(parsed) ? undefined : parsed / 1000 };
}
