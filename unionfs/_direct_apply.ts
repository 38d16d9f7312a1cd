/**
 * When a layer whose headers are known without reading its blob (a COPY or ADD a build
 * just made) can be written straight into its snapshot directory instead of through an
 * overlay mount of the snapshots below: the mount makes the kernel do every create twice
 * over (about twice the time for 30,000 small files), and such a layer only adds.
 *
 * Writing into the upper directory alone gives the same merged view as writing through the
 * mount when the layer has no whiteouts, no hardlink to a file below it, and no path whose
 * parent is a symlink, and when the lower directories that its paths pass through (or
 * redeclare) are copied up first, so that they keep their owner, mode, times and xattrs.
 * That copy-up is done by the kernel, through a mount, for those few directories only.
 *
 * @module
 */
import { chown } from "node:fs/promises";
import { join } from "node:path";
import type { WriteHeader } from "./_tar_writer.ts";
import { classify, cleanComponents } from "./_path.ts";
import { lstatOrNull } from "./resolve_in_root.ts";

/** What of a header deciding a direct apply needs. */
export type HeaderFacts = Pick<WriteHeader, "name" | "type" | "linkname">;

/**
 * What {@linkcode prepareDirectApply} needs of a layer, worked out from each header as its
 * writer writes it: whether the layer only adds, in path order, and the directories its
 * paths pass through. The other paths are kept as a few long strings: a COPY of 200,000
 * files kept every name as a string of its own from its write until the next RUN.
 */
export class DirectApplyPlan {
  #refused = false;
  #previous: string | undefined;
  #dirs = new Set<string>();
  #ancestors = new Set<string>();
  // The layer's paths other than directories.
  #others = new SortedPaths();

  /** Notes one header, in the layer's order. */
  add(header: HeaderFacts): void {
    if (this.#refused || this.#accepts(header)) return;
    this.#refused = true;
    this.#dirs.clear();
    this.#ancestors.clear();
    this.#others = new SortedPaths();
  }

  #accepts(header: HeaderFacts): boolean {
    const what = classify(header.name);
    if (what.kind !== "add") return false;
    const parts = what.parts;
    const path = parts.join("/");
    // Each path once, in path order, as a build writes its layers. A path given twice may
    // be one replacing the other, which over a lower directory hides it (an opaque
    // directory through the mount); that and any other order are left to the mount.
    if (this.#previous !== undefined && !(this.#previous < path)) return false;
    this.#previous = path;
    const type = header.type ?? "file";
    // Only a link to a file this layer already wrote: lower files are not in the upper.
    if (
      type === "hardlink" &&
      !this.#others.has(cleanComponents(header.linkname ?? "").join("/"))
    ) {
      return false;
    }
    let a = "";
    for (let k = 0; k < parts.length - 1; k++) {
      a = k === 0 ? parts[0] : `${a}/${parts[k]}`;
      if (this.#dirs.has(a) || this.#ancestors.has(a)) continue;
      // A symlink of this layer as a parent, or a file of it turned into a directory for a
      // path below (in path order, always met before that path): left to the mount.
      if (this.#others.has(a)) return false;
      this.#ancestors.add(a);
    }
    if (type !== "directory") this.#others.add(path);
    else if (path !== "") this.#dirs.add(path);
    return true;
  }

  /**
   * The directories to copy up (shallowest first), an empty set for those under which the
   * lower layers show nothing, and the layer's own directories; or undefined when the layer
   * must go through the mount.
   */
  finish(): { candidates: string[]; fresh: Set<string>; dirs: Set<string> } | undefined {
    if (this.#refused) return undefined;
    const depth = (p: string) => p.split("/").length;
    const candidates = [...this.#ancestors, ...this.#dirs].sort((a, b) => depth(a) - depth(b));
    // Only directories go into `fresh`: what it answers is whether a directory to copy up
    // lies under one, and a file of this layer is never above a directory (refused above).
    return { candidates, fresh: new Set(), dirs: this.#dirs };
  }
}

/** Paths kept per chunk: each chunk is one string, so no path is a string of its own. */
const CHUNK = 1024;

/**
 * A set of paths added in ascending order, held as joined chunks with where each path
 * starts: about its UTF-16 length and 4 bytes a path, where a string per path cost some 48.
 */
class SortedPaths {
  // Full chunks: their text, where each path starts in it, and their first path.
  #texts: string[] = [];
  #starts: Uint32Array[] = [];
  #firsts: string[] = [];
  #open: string[] = [];

  /** Adds `path`, which sorts after every path added before. */
  add(path: string): void {
    this.#open.push(path);
    if (this.#open.length < CHUNK) return;
    const starts = new Uint32Array(CHUNK + 1);
    for (let i = 0; i < CHUNK; i++) starts[i + 1] = starts[i] + this.#open[i].length;
    this.#texts.push(this.#open.join(""));
    this.#starts.push(starts);
    this.#firsts.push(this.#open[0]);
    this.#open = [];
  }

  has(path: string): boolean {
    if (this.#open.length > 0 && this.#open[0] <= path) return this.#open.includes(path);
    // The last chunk whose first path is not after `path`.
    let lo = 0;
    let hi = this.#firsts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#firsts[mid] <= path) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return false;
    const text = this.#texts[lo - 1];
    const starts = this.#starts[lo - 1];
    let a = 0;
    let b = CHUNK;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const found = text.slice(starts[mid], starts[mid + 1]);
      if (found === path) return true;
      if (found < path) a = mid + 1;
      else b = mid;
    }
    return false;
  }
}

/**
 * Whether entries with `headers` may be written straight into the upper directory; if so,
 * the lower directories they pass through have been copied up through `merged` (an
 * overlay mount of the lowers with that upper). Paths are the writer's cleaned components,
 * never `..`, and each is looked up only below directories already seen to be real, so no
 * lookup follows a symlink.
 */
export async function prepareDirectApply(
  headers: Iterable<HeaderFacts> | DirectApplyPlan,
  merged: string,
): Promise<boolean> {
  let planned = headers;
  if (!(planned instanceof DirectApplyPlan)) {
    planned = new DirectApplyPlan();
    for (const header of headers as Iterable<HeaderFacts>) planned.add(header);
  }
  const p = planned.finish();
  if (!p) return false;
  const fresh = p.fresh;
  // Whether `path` or a directory above it is fresh: one set look-up per ancestor.
  const underFresh = (path: string) => {
    for (let at = path.length; at > 0; at = path.lastIndexOf("/", at - 1)) {
      if (fresh.has(path.slice(0, at))) return true;
    }
    return false;
  };
  for (const path of p.candidates) {
    if (underFresh(path)) continue;
    const st = await lstatOrNull(join(merged, path));
    if (st === null) {
      fresh.add(path);
    } else if (st.isDirectory()) {
      // A setattr copies the directory up whole (owner, mode, times, xattrs); it changes
      // nothing else.
      await chown(join(merged, path), st.uid, st.gid);
    } else if (p.dirs.has(path)) {
      // The layer puts its own directory over a lower non-directory: nothing shows below.
      fresh.add(path);
    } else {
      // A lower symlink (or file) that the layer's paths pass through.
      return false;
    }
  }
  return true;
}
