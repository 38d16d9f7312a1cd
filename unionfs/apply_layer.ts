import { lstatSync, lutimesSync, type Stats } from "node:fs";
import { link, readdir, rename, rm } from "node:fs/promises";
import process from "node:process";
import { join } from "node:path";
import { InvalidLayerError, PathError } from "./errors.ts";
import { diskLookup, resolveInRoot } from "./resolve_in_root.ts";
import { type LayerSource, openLayerEntries } from "./open_layer.ts";
import { classify, cleanComponents, contentXattrs } from "./_path.ts";
import {
  type Body,
  makeSpecial,
  type Meta,
  setMetaSync,
  writeFile,
  writeFileBytes,
  type WriteOptions,
} from "./_fs_write.ts";
import type { WriteEntry, WriteHeader } from "./_tar_writer.ts";
import { isRoot, setXattrs } from "./_platform.ts";
import type { TarHeader } from "./tar_entry.ts";

/** Options for {@linkcode applyLayer}. */
export interface ApplyLayerOptions {
  /** Set file owners from the layer. @default {true when running as root} */
  owners?: boolean;
  /** Make device nodes. @default {true when running as root} */
  devices?: boolean;
  /** Set extended attributes (needs `setfattr`). @default {true} */
  xattrs?: boolean;
}

const IMPLICIT: Meta = { type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0 };

/**
 * lstat, null when missing. Synchronous on purpose: a layer of many small files costs one
 * lstat per entry, and a direct call is several times cheaper than a thread-pool round
 * trip plus a thrown error for every new path.
 */
function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) ?? null;
  } catch (e) {
    // ENOTDIR: a parent was replaced by a file since the path was recorded.
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw e;
  }
}

/**
 * Applies one layer onto a directory that holds the layers below it, entry by entry as
 * it streams, the way `docker load` unpacks a layer: whiteouts and opaque markers delete
 * only what lower layers put there, and every path is resolved inside `root` (symlinks
 * in its parents are followed as if `root` were `/`, securejoin style), so no entry can
 * write outside it. The result equals {@linkcode flattenToDirectory} of the whole stack.
 * A malformed layer (an invalid whiteout name, a hardlink to nothing) rejects with
 * {@linkcode InvalidLayerError} naming it.
 */
export function applyLayer(
  source: LayerSource,
  root: string,
  options: ApplyLayerOptions = {},
): Promise<void> {
  return applyEntries(openLayerEntries(source), root, { ...options, digest: source.digest });
}

/** Options for {@linkcode applyEntries}. */
export interface ApplyEntriesOptions extends ApplyLayerOptions {
  /** Names the layer in errors (its digest, or what the entries come from). */
  digest: string;
  /**
   * The caller has checked that each entry adds a path no other entry names (as
   * `prepareDirectApply` checks a layer a build made): no path is noted for whiteouts to
   * spare, which for a COPY of 100,000 files was two sets of every path, and a whiteout
   * or opaque entry fails.
   */
  onlyAdds?: boolean;
}

/** An entry to apply: a tar entry as read, or one built in memory. */
export type ApplyEntry = WriteEntry | { header: TarHeader; body: Body };

function fullHeader(h: WriteHeader): TarHeader {
  return {
    mode: h.type === "directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkname: "",
    devmajor: 0,
    devminor: 0,
    xattrs: {},
    ...h,
  };
}

const EMPTY = new Uint8Array(0);

/**
 * {@linkcode applyLayer} over entries instead of a tar: the same writer for a layer the
 * caller holds in memory (a COPY's planned entries), so nothing is encoded and decoded
 * between them.
 */
export async function applyEntries(
  entries: AsyncIterable<ApplyEntry> | Iterable<ApplyEntry>,
  root: string,
  options: ApplyEntriesOptions,
): Promise<void> {
  const opts: WriteOptions = {
    owners: options.owners ?? isRoot(),
    devices: options.devices ?? isRoot(),
  };
  const { digest, onlyAdds = false } = options;
  // Paths this layer made or set, and every ancestor of one: whiteouts must spare them.
  const created = new Set<string>();
  const touched = new Set<string>();
  const dirMeta = new Map<string, Meta>();
  const savedTimes = new Map<string, number>();
  const xattrs: { path: string; xattrs: Record<string, Uint8Array> }[] = [];

  // Relative paths here are clean components (the resolver's or cleanComponents'), so
  // plain concatenation is exact and spares a normalize per entry.
  const top = join(root);
  const prefix = top.endsWith("/") ? top : `${top}/`;
  const abs = (rel: string) => (rel ? prefix + rel : top);
  const rel = (parts: string[]) => parts.join("/");
  const parentOf = (r: string) => r.slice(0, Math.max(0, r.lastIndexOf("/")));

  function saveTime(dir: string): void {
    if (savedTimes.has(dir) || dirMeta.has(dir)) return;
    const st = lstatOrNull(abs(dir));
    if (st) savedTimes.set(dir, st.mtimeMs / 1000);
  }

  function markCreated(r: string): void {
    if (onlyAdds) return;
    created.add(r);
    touched.add(r);
    // Every ancestor of a touched path is touched: stop at the first one already there.
    for (let p = parentOf(r); !touched.has(p); p = parentOf(p)) {
      touched.add(p);
      if (p === "") break;
    }
  }

  async function removeAll(r: string): Promise<void> {
    resolved.clear();
    fresh.clear();
    saveTime(parentOf(r));
    await rm(abs(r), { recursive: true, force: true });
  }

  // Directories already resolved in this layer: only this layer changes the tree (lowers
  // under a mount are read-only), and every removal or new symlink forgets them all.
  const resolved = new Map<string, string[]>();
  // Directories this apply made from nothing (forgotten, like `resolved`, on any removal).
  const fresh = new Set<string>();
  const lookup = diskLookup(root, (r, parent) => {
    saveTime(parent);
    dirMeta.set(r, IMPLICIT);
    markCreated(r);
    fresh.add(r);
  });

  /**
   * The real directory `parts` names, symlinks resolved inside root; optionally made.
   * A directory already resolved in this layer is answered without a promise.
   */
  function resolveDir(parts: string[], create: boolean): string[] | Promise<string[] | null> {
    const known = resolved.get(parts.join("/"));
    return known ?? resolveNew(parts, create);
  }

  async function resolveNew(parts: string[], create: boolean): Promise<string[] | null> {
    const key = parts.join("/");
    try {
      const res = await resolveInRoot(lookup, key, {
        missing: create ? "create" : "fail",
        directory: true,
      });
      if (res) resolved.set(key, res.parts);
      return res ? res.parts : null;
    } catch (e) {
      if (e instanceof PathError && e.code === "ELOOP") {
        throw new InvalidLayerError(digest, parts.join("/"), "has too many levels of symlinks", {
          cause: e,
        });
      }
      throw e;
    }
  }

  /** Deletes what lower layers put at `r`, sparing what this layer made. */
  async function pruneLower(r: string): Promise<void> {
    const st = await lstatOrNull(abs(r));
    if (!st) return;
    if (!touched.has(r)) return removeAll(r);
    if (st.isDirectory()) {
      if (!created.has(r)) dirMeta.set(r, IMPLICIT);
      for (const name of await readdir(abs(r))) await pruneLower(r ? `${r}/${name}` : name);
    }
  }

  async function add(parts: string[], h: TarHeader, body: Body | Uint8Array) {
    const meta: Meta = {
      type: h.type,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime,
      size: h.size,
    };
    if (parts.length === 0) {
      if (h.type !== "directory") {
        throw new InvalidLayerError(digest, h.name, `is a ${h.type}, but it names the root`);
      }
      dirMeta.set("", meta);
      return;
    }
    const dir = rel((await resolveDir(parts.slice(0, -1), true))!);
    const r = dir ? `${dir}/${parts[parts.length - 1]}` : parts[parts.length - 1];
    // In a directory this apply made, only what it made since can be there: no lstat.
    const existing = fresh.has(dir) && !created.has(r) ? null : lstatOrNull(abs(r));
    let linkFrom: string | undefined;
    if (h.type === "hardlink") {
      const lp = cleanComponents(h.linkname);
      const ldir = await resolveDir(lp.slice(0, -1), false);
      const lr = ldir && lp.length ? rel([...ldir, lp[lp.length - 1]]) : null;
      const lst = lr === null ? null : await lstatOrNull(abs(lr));
      if (!lst) {
        throw new InvalidLayerError(
          digest,
          h.name,
          `is a hardlink to "${h.linkname}", which does not exist`,
        );
      }
      if (lst.isDirectory()) {
        throw new InvalidLayerError(digest, h.name, `is a hardlink to directory "${h.linkname}"`);
      }
      if (lr === r) return;
      linkFrom = abs(lr!);
    }
    if (h.type === "directory" && existing?.isDirectory()) {
      dirMeta.set(r, meta);
      markCreated(r);
      return;
    }
    if (linkFrom !== undefined && existing) {
      // The target may lie inside what is replaced (`b` -> `b/a/y`): link first, then swap.
      const tmp = `${abs(r)}.stratum-link-${process.pid}`;
      saveTime(parentOf(r));
      await link(linkFrom, tmp);
      await removeAll(r);
      await rename(tmp, abs(r));
      markCreated(r);
      return;
    }
    if (existing) await removeAll(r);
    else saveTime(parentOf(r));
    if (h.type === "file") {
      // A body held in memory (a COPY's planned entries) is written with direct calls.
      if (body instanceof Uint8Array) {
        writeFileBytes(abs(r), body.subarray(0, h.size), meta, opts);
      } else await writeFile(abs(r), body, meta, opts);
    } else {
      await makeSpecial(abs(r), { ...meta, linkTarget: h.linkname, ...h, linkFrom }, opts);
      if (h.type === "directory") {
        dirMeta.set(r, meta);
        fresh.add(r);
      }
    }
    markCreated(r);
    const kept = contentXattrs(h.xattrs);
    if (Object.keys(kept).length > 0 && h.type !== "hardlink") {
      xattrs.push({ path: r, xattrs: kept });
    }
  }

  async function apply(entry: ApplyEntry): Promise<void> {
    const header = fullHeader(entry.header);
    const body = entry.body ?? EMPTY;
    const what = classify(header.name);
    if (what.kind === "invalid") throw new InvalidLayerError(digest, header.name, what.reason);
    if (what.kind === "add") {
      await add(what.parts, header, body);
    } else if (onlyAdds) {
      throw new InvalidLayerError(
        digest,
        header.name,
        "removes a path in a layer said only to add",
      );
    } else if (what.kind === "whiteout") {
      const dir = await resolveDir(what.parts.slice(0, -1), false);
      if (dir) await pruneLower(rel([...dir, what.parts[what.parts.length - 1]]));
    } else if (what.kind === "opaque") {
      const dir = await resolveDir(what.parts, false);
      if (!dir) return;
      const d = rel(dir);
      saveTime(d);
      for (const name of await readdir(abs(d))) await pruneLower(d ? `${d}/${name}` : name);
    }
  }
  // Entries held in memory are walked without an await per element that `for await` adds.
  if (Symbol.iterator in entries) { for (const entry of entries) await apply(entry); }
  else for await (const entry of entries) await apply(entry);
  // A later entry may have turned a parent of a path written earlier into a symlink: the
  // metadata pass must not follow it, so every path is checked to still be itself.
  async function unmoved(r: string): Promise<boolean> {
    if (r === "") return true;
    try {
      const res = await resolveInRoot(lookup, r, { followLast: false, missing: "fail" });
      return res !== undefined && res.parts.join("/") === r;
    } catch {
      return false;
    }
  }
  if (options.xattrs ?? true) {
    const still = [];
    for (const x of xattrs) if (await unmoved(x.path)) still.push(x);
    await setXattrs(root, still);
  }
  // Children change their parents' mtimes: set directories last, deepest first.
  const byDepth = (a: string, b: string) => b.split("/").length - a.split("/").length;
  for (const d of [...dirMeta.keys()].sort(byDepth)) {
    if (d === "" || ((await unmoved(d)) && (await lstatOrNull(abs(d)))?.isDirectory())) {
      setMetaSync(abs(d), dirMeta.get(d)!, opts);
    }
  }
  for (const d of [...savedTimes.keys()].sort(byDepth)) {
    if (dirMeta.has(d) || !(await unmoved(d))) continue;
    const st = await lstatOrNull(abs(d));
    if (st?.isDirectory()) {
      lutimesSync(abs(d), savedTimes.get(d)!, savedTimes.get(d)!);
    }
  }
}
