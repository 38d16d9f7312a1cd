/**
 * COPY and ADD as BuildKit does them: source wildcards, directory contents rather than the
 * directory, destination rules (a trailing slash or an existing directory means "into"),
 * symlinks copied as links except a source path that is itself one (followed), hardlinks
 * kept, fifos, devices and xattrs of an image or stage kept (as current BuildKit's fsutil
 * copies them), `--chown` names looked up in the image's /etc/passwd and /etc/group,
 * `--chmod`, `--parents`, `--exclude`, local tar archives unpacked by ADD
 * (`copy_archive.ts`), ADD of URLs with `--checksum`, and heredoc sources.
 *
 * The destination resolves inside the image root as BuildKit's does (unionfs's rooted
 * resolver, `rootPath` in `copy_source.ts`): symlinks on the way are followed, absolute
 * ones from the root, dangling ones to where they point; directories the copy makes get
 * 0755 (or the `--chmod` bits) and existing ones keep their owner and mode. The result is
 * a plan of layer entries at resolved paths (`copy_plan.ts`); the COPY step writes it as
 * a layer.
 *
 * @module
 */
import { type Digest, sha256 } from "../digest/mod.ts";
import { contextPath } from "./build_context.ts";
import { DockerignoreMatcher } from "./dockerignore.ts";
import { applyChmod } from "./chmod_mode.ts";
import { archiveKind, extractArchive } from "./copy_archive.ts";
import {
  type CopyOptions,
  type CopyPlan,
  joinPath,
  parentOf,
  type PlannedEntry,
} from "./copy_plan.ts";
import { resolvePath, rootPath, type SourceFs, type SourceStat } from "./copy_source.ts";
import { linkSharedInodes, mergeByPath } from "./_merge_entries.ts";
import { CopyError } from "./errors.ts";

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
  for (const [i, source] of options.sources.entries()) {
    // A wildcard that matches nothing is skipped (BuildKit's AllowEmptyWildcard).
    const matches = options.matches?.[i] ?? await matchSource(from, source);
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
    options.chown ?? (from.keepOwners ? { uid: st.uid, gid: st.gid } : ROOT_OWNER);
  // One opener for every file copied from `from`, called on its entry: a closure per file
  // (and the scope it holds) was a tenth of a large COPY's heap.
  function openSource(this: PlannedEntry) {
    return from.body(this.source!);
  }
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
  // Where sources are merged as they are walked, files that may share an inode with another
  // are linked as they leave the merge (`linkSharedInodes`): their inodes, by entry.
  let lateLinks: WeakMap<PlannedEntry, number> | undefined;

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

  const excluded = (srcPath: string, rel: string) =>
    exclude !== undefined && rel !== "" && (exclude.matches(rel) || exclude.matches(srcPath));

  /** The entry of one path below a copied directory, or of a copied path that is no directory. */
  const entryOf = (srcPath: string, st: SourceStat, destPath: string): PlannedEntry => {
    const id = owner(st);
    if (st.type === "directory") {
      return {
        path: destPath,
        type: "directory",
        mode: mode(st),
        uid: id.uid,
        gid: id.gid,
        mtime: clamp(st.mtime),
        size: 0,
        linkTarget: "",
        xattrs: st.xattrs,
      };
    }
    // Only files with more than one link can share an inode with another path (fsutil
    // tracks no others); a source that cannot tell is taken as one that might.
    const linked = st.type === "file" && st.ino !== 0 && st.nlink !== 1;
    let first = linked && !lateLinks ? links.get(st.ino) : undefined;
    // The same file given again by a later source at the same path replaces itself.
    if (first === destPath) first = undefined;
    if (st.type === "file" && first === undefined) {
      if (linked && !lateLinks) links.set(st.ino, destPath);
      // All fields in one literal, not spread: an object made by spreading keeps the fields
      // added after in a second array, and this runs once per file.
      const file: PlannedEntry = {
        path: destPath,
        type: "file",
        mode: mode(st),
        uid: id.uid,
        gid: id.gid,
        mtime: clamp(st.mtime),
        size: st.size,
        linkTarget: "",
        source: st.path ?? srcPath,
        xattrs: st.xattrs,
        body: openSource,
      };
      if (linked) lateLinks?.set(file, st.ino);
      return file;
    }
    const base = {
      path: destPath,
      mode: mode(st),
      ...id,
      mtime: clamp(st.mtime),
      xattrs: st.xattrs,
    };
    if (st.type === "symlink") {
      return { ...base, type: "symlink", size: 0, linkTarget: st.linkTarget };
    }
    if (st.type === "fifo" || st.type === "char" || st.type === "block") {
      return {
        ...base,
        type: st.type,
        size: 0,
        linkTarget: "",
        devmajor: st.devmajor ?? 0,
        devminor: st.devminor ?? 0,
      };
    }
    // A file whose inode an earlier file of this copy has.
    return { ...base, type: "hardlink", size: 0, linkTarget: first! };
  };

  /**
   * The entries below directory `srcPath` (copied to `destPath`), in the layer's order: by
   * path, so a directory's own entry goes by its name and what is below it by its name and
   * a slash (`a`, `a-b`, `a.b`, then `a/…`). A copy of one directory is written as it is
   * walked, never held whole.
   */
  async function* below(
    srcPath: string,
    destPath: string,
    rel: string,
  ): AsyncGenerator<PlannedEntry> {
    const order: {
      key: string;
      src: string;
      st: SourceStat;
      dest: string;
      rel: string;
      inside: boolean;
    }[] = [];
    for (const name of await from.readdir(srcPath)) {
      // Names from readdir are clean: joined as they are (this runs once per file).
      const src = srcPath ? `${srcPath}/${name}` : name;
      const st = await from.lstat(src);
      const childRel = rel ? `${rel}/${name}` : name;
      if (!st || st.type === "other" || excluded(src, childRel)) continue;
      const dest = destPath === "" ? name : `${destPath}/${name}`;
      order.push({ key: name, src, st, dest, rel: childRel, inside: false });
      if (st.type === "directory") {
        order.push({ key: `${name}/`, src, st, dest, rel: childRel, inside: true });
      }
    }
    order.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const o of order) {
      if (o.inside) yield* below(o.src, o.dest, o.rel);
      else yield entryOf(o.src, o.st, o.dest);
    }
  }

  /** The entries of copying `srcPath` to `destPath` (made directories aside), in order. */
  async function* copyRoot(srcPath: string, st: SourceStat, destPath: string) {
    if (st.type === "directory") yield* below(srcPath, destPath, "");
    else if (st.type !== "other") yield entryOf(srcPath, st, destPath);
  }

  // One directory copied alone is written as it is walked: nothing else can come between
  // its entries, and the directories made for it all sort before them. Other copies are
  // merged as they are walked, unless an ADD may unpack an archive into the plan.
  const streamed = roots.length === 1 && roots[0].stat.type === "directory" &&
    !options.inline?.length && !options.planWhole;
  const merged = !streamed && !options.planWhole &&
    (options.keyword === "COPY" || roots.every((root) => root.stat.type !== "file"));
  if (merged) lateLinks = new WeakMap();
  await from.willRead?.(roots.map((root) => root.path));
  let walked: AsyncIterable<PlannedEntry> | undefined;
  const walks: AsyncIterable<PlannedEntry>[] = [];
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
    // The top directory is made, not copied (fsutil copies a directory's contents into it):
    // an existing one is left as it is, --chown or not.
    if (root.stat.type === "directory" && destPath !== "" && !plan.has(destPath)) {
      await addDir(destPath);
    }
    const entries = copyRoot(root.path, root.stat, destPath);
    if (streamed) walked = entries;
    else if (merged) walks.push(entries);
    else for await (const e of entries) plan.set(e.path, e);
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
  const made = [...plan.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Walked in path order, a group of hardlinks meets its first path first.
  if (walked) return { entries: concatEntries(made, walked), matched };
  if (merged) {
    // What a walk gives at a path wins over a directory made for the copy there, as it
    // replaced it in the plan; an inline source (the plan's only files here) wins over both.
    const dirs = made.filter((e) => e.type === "directory");
    const files = made.filter((e) => e.type !== "directory");
    const entries = linkSharedInodes(mergeByPath([dirs, ...walks, files]), lateLinks!);
    return { entries, matched };
  }
  return { entries: orderHardlinks(made), matched };
}

const ROOT_OWNER = { uid: 0, gid: 0 } as const;

async function* concatEntries(
  first: PlannedEntry[],
  rest: AsyncIterable<PlannedEntry>,
): AsyncGenerator<PlannedEntry> {
  yield* first;
  yield* rest;
}

/**
 * A hardlink must come after the file it names: in each group of links, the first path in
 * archive order becomes the file and the others link to it.
 */
function orderHardlinks(entries: PlannedEntry[]): PlannedEntry[] {
  if (!entries.some((e) => e.type === "hardlink")) return entries;
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
