/**
 * COPY and ADD as BuildKit does them: source wildcards, directory contents rather than the
 * directory, destination rules (a trailing slash or an existing directory means "into"),
 * symlinks copied as links except a source path that is itself one (followed), hardlinks
 * kept, fifos and devices skipped, `--chown` names looked up in the image's /etc/passwd and
 * /etc/group, `--chmod`, `--parents`, `--exclude`, local tar archives unpacked by ADD
 * (gzip, bzip2, xz or plain, told by their bytes, not their names), ADD of URLs with
 * `--checksum`, and heredoc sources. The result is a plan of layer entries; the engine
 * writes it as a layer.
 *
 * bzip2 and xz are decompressed by the `bzip2` and `xz` commands: no maintained npm package
 * streams both, and the two commands are in every Debian base system.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { type Digest, sha256 } from "../digest/mod.ts";
import {
  buildMergedTree,
  type LayerSource,
  type MergedTree,
  openLayer,
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
  /** What it is; `other` covers fifos and devices, which COPY skips. */
  type: "file" | "directory" | "symlink" | "other";
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
  #bodies = new Map<string, Uint8Array>();

  /** A view of `layers` (bottom first), read from `blobs`. */
  constructor(blobs: BlobStore, layers: readonly LayerRef[], label: string) {
    this.#blobs = blobs;
    this.#layers = [...layers];
    this.label = label;
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
        const bytes = new Uint8Array(await new Response(body).arrayBuffer());
        for (const n of names) this.#bodies.set(n, bytes);
        if (--left === 0) break;
      }
    }
  }

  /** A regular file's bytes. */
  async body(path: string): Promise<Uint8Array> {
    const p = contextPath(path);
    if (!this.#bodies.has(p)) await this.prefetch([p]);
    const bytes = this.#bodies.get(p);
    if (!bytes) throw new Error(`Cannot read "/${p}" in ${this.label}: not a regular file`);
    return bytes;
  }

  /** Reads a small file following symlinks, or undefined when it is missing. */
  async readText(path: string): Promise<string | undefined> {
    const resolved = await resolvePath(this, path, true);
    if (!resolved || resolved.stat.type !== "file") return undefined;
    return new TextDecoder().decode(await this.body(resolved.path));
  }
}

function statOf(e: TreeEntry): SourceStat {
  return {
    type: e.type === "file" || e.type === "directory" || e.type === "symlink" ? e.type : "other",
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtime: e.mtime,
    linkTarget: e.linkTarget,
    ino: e.inode,
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
  let pending = contextPath(path).split("/").filter((p) => p !== "");
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const [name, ...rest] = pending;
    const candidate = [...done, name].join("/");
    const st = await fs.lstat(candidate);
    if (!st) return undefined;
    if (st.type === "symlink" && (rest.length > 0 || followLast)) {
      if (++hops > 40) throw new Error(`Too many symlinks resolving "${path}" in ${fs.label}`);
      const target = st.linkTarget.startsWith("/")
        ? st.linkTarget
        : `${done.join("/")}/${st.linkTarget}`;
      pending = [...contextPath(target).split("/").filter((p) => p !== ""), ...rest];
      done.length = 0;
      continue;
    }
    done.push(name);
    pending = rest;
  }
  const final = done.join("/");
  const stat = await fs.lstat(final);
  return stat ? { path: final, stat } : undefined;
}

/** One entry of a planned layer. */
export interface PlannedEntry {
  /** Path in the image, relative (`app/a.txt`). */
  path: string;
  /** Entry type. */
  type: "file" | "directory" | "symlink" | "hardlink";
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
      const re = globToRegExp(part);
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
  const destResolved = destAbs === "" ? undefined : await resolvePath(target, destAbs, true);
  const dest = destResolved?.path ?? (await resolveParent(target, destAbs));
  const destExistingDir = destAbs === "" || destResolved?.stat.type === "directory";
  const into = destIsDir || destExistingDir || count > 1;
  const owner = (st: SourceStat) =>
    options.chown ?? (from.keepOwners ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
  const mode = (st: SourceStat) =>
    options.chmod && st.type !== "symlink"
      ? applyChmod(options.chmod, st.mode, st.type === "directory")
      : st.mode;
  const exclude = options.exclude?.length ? new DockerignoreMatcher(options.exclude) : undefined;
  const links = new Map<number, string>();

  const addParents = async (path: string) => {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (plan.has(p)) continue;
      const existing = await target.lstat(p);
      if (existing?.type === "directory") {
        plan.set(p, {
          path: p,
          type: "directory",
          mode: existing.mode,
          uid: existing.uid,
          gid: existing.gid,
          mtime: clamp(options.now),
          size: 0,
          linkTarget: "",
        });
      } else {
        const id = options.chown ?? { uid: 0, gid: 0 };
        plan.set(p, {
          path: p,
          type: "directory",
          mode: 0o755,
          ...id,
          mtime: clamp(options.now),
          size: 0,
          linkTarget: "",
        });
      }
    }
  };

  const copyEntry = async (srcPath: string, st: SourceStat, destPath: string, rel: string) => {
    if (exclude && rel !== "" && (exclude.matches(rel) || exclude.matches(srcPath))) return;
    if (st.type === "other") return;
    const id = owner(st);
    if (st.type === "directory") {
      const existing = plan.get(destPath) ?? await target.lstat(destPath);
      plan.set(destPath, {
        path: destPath,
        type: "directory",
        mode: existing?.type === "directory" && rel === "" ? existing.mode : mode(st),
        // The top directory is made, not copied: BuildKit gives it root (or --chown).
        ...(rel !== ""
          ? id
          : existing?.type === "directory" && !options.chown
          ? { uid: existing.uid, gid: existing.gid }
          : options.chown ?? { uid: 0, gid: 0 }),
        mtime: clamp(st.mtime),
        size: 0,
        linkTarget: "",
      });
      for (const name of await from.readdir(srcPath)) {
        const child = srcPath ? `${srcPath}/${name}` : name;
        const cst = await from.lstat(child);
        if (!cst) continue;
        await copyEntry(child, cst, `${destPath}/${name}`, rel ? `${rel}/${name}` : name);
      }
      return;
    }
    const base = { path: destPath, mode: mode(st), ...id, mtime: clamp(st.mtime) };
    if (st.type === "symlink") {
      plan.set(destPath, { ...base, type: "symlink", size: 0, linkTarget: st.linkTarget });
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
        const target = options.parents ? joinPath(dest, parentOf(root.match)) : dest;
        if (target) await addParents(`${target}/x`);
        await extractArchive(await from.body(root.path), archive, target, plan, options, clamp);
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

/** The destination's parent resolved through symlinks, plus its last name. */
async function resolveParent(target: SourceFs, path: string): Promise<string> {
  const parent = parentOf(path);
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (parent === "") return name;
  const resolved = await resolvePath(target, parent, true);
  return joinPath(resolved?.path ?? parent, name);
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

/** Decompresses gzip with the runtime, bzip2 and xz with their commands. */
function decompressStream(
  stream: ReadableStream<Uint8Array>,
  kind: Archive,
): ReadableStream<Uint8Array> {
  if (kind === "tar") return stream;
  if (kind === "gzip") {
    return stream.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  }
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
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      let error: Error | undefined;
      failed.then((e) => (error = e));
      try {
        for await (const chunk of child.stdout) controller.enqueue(new Uint8Array(chunk));
        await new Promise((r) => child.once("close", r).exitCode !== null && r(null));
        if (error) controller.error(error);
        else controller.close();
      } catch (e) {
        controller.error(e);
      }
    },
    cancel() {
      child.kill();
    },
  });
}

async function extractArchive(
  body: ReadableStream<Uint8Array> | Uint8Array,
  kind: Archive,
  dest: string,
  plan: Map<string, PlannedEntry>,
  options: CopyOptions,
  clamp: (t: number) => number,
): Promise<void> {
  const stream = decompressStream(toStream(body), kind);
  const source: LayerSource = { digest: "archive", open: () => Promise.resolve(stream) };
  for await (const { header, body: entryBody } of openLayer(source)) {
    const rel = contextPath(header.name);
    if (rel === "") {
      await entryBody.cancel();
      continue;
    }
    const path = joinPath(dest, rel);
    for (let p = parentOf(path); p !== "" && p !== dest && !plan.has(p); p = parentOf(p)) {
      plan.set(p, {
        path: p,
        type: "directory",
        mode: 0o755,
        ...(options.chown ?? { uid: 0, gid: 0 }),
        mtime: clamp(options.now),
        size: 0,
        linkTarget: "",
      });
    }
    // BuildKit leaves unpacked entries with the archive's owners, --chown or not.
    const id = { uid: header.uid, gid: header.gid };
    const base = { path, mode: header.mode & 0o7777, ...id, mtime: clamp(header.mtime), size: 0 };
    if (header.type === "directory") {
      await entryBody.cancel();
      plan.set(path, { ...base, type: "directory", linkTarget: "" });
    } else if (header.type === "symlink") {
      await entryBody.cancel();
      plan.set(path, { ...base, type: "symlink", linkTarget: header.linkname });
    } else if (header.type === "hardlink") {
      await entryBody.cancel();
      plan.set(path, { ...base, type: "hardlink", linkTarget: joinPath(dest, header.linkname) });
    } else if (header.type === "file") {
      const bytes = new Uint8Array(await new Response(entryBody).arrayBuffer());
      plan.set(path, {
        ...base,
        type: "file",
        size: bytes.length,
        linkTarget: "",
        body: () => Promise.resolve(bytes),
      });
    } else {
      await entryBody.cancel();
    }
  }
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
