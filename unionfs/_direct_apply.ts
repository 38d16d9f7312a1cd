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
 * What a layer's writer notes of each header for {@linkcode prepareDirectApply}, compactly:
 * the names, and the type and link of the few entries that are not regular files. A COPY
 * of 100,000 files kept a record per file from its write until the next RUN.
 */
export class WrittenHeaders implements Iterable<HeaderFacts> {
  #names: string[] = [];
  #others = new Map<number, { type: WriteHeader["type"]; linkname: string }>();

  /** Notes one header, in the layer's order. */
  add(header: HeaderFacts): void {
    const type = header.type ?? "file";
    const linkname = header.linkname ?? "";
    if (type !== "file" || linkname !== "") {
      this.#others.set(this.#names.length, { type, linkname });
    }
    this.#names.push(header.name);
  }

  /** The headers noted, in order. */
  *[Symbol.iterator](): Iterator<HeaderFacts> {
    for (const [i, name] of this.#names.entries()) {
      yield { name, ...(this.#others.get(i) ?? { type: "file", linkname: "" }) };
    }
  }
}

/**
 * The directories to copy up (by depth, shallowest first) and the directories under which
 * the lower layers show nothing, or undefined when the layer must go through the mount.
 * Made once per file of a large COPY, so it keeps only the layer's directories and, in
 * order, its other paths (the headers' own strings where those are clean already).
 */
function plan(
  headers: Iterable<HeaderFacts>,
): { candidates: string[]; fresh: Set<string>; dirs: Set<string> } | undefined {
  // The layer's paths other than directories, sorted (the layer is in path order).
  const others: string[] = [];
  const dirs = new Set<string>();
  const ancestors = new Set<string>();
  let previous: string | undefined;
  for (const header of headers) {
    const what = classify(header.name);
    if (what.kind !== "add") return undefined;
    const parts = what.parts;
    const joined = parts.join("/");
    const path = joined === header.name ? header.name : joined;
    // Each path once, in path order, as a build writes its layers. A path given twice may
    // be one replacing the other, which over a lower directory hides it (an opaque
    // directory through the mount); that and any other order are left to the mount.
    if (previous !== undefined && !(previous < path)) return undefined;
    previous = path;
    const type = header.type ?? "file";
    // Only a link to a file this layer already wrote: lower files are not in the upper.
    if (
      type === "hardlink" && !sortedHas(others, cleanComponents(header.linkname ?? "").join("/"))
    ) {
      return undefined;
    }
    let a = "";
    for (let k = 0; k < parts.length - 1; k++) {
      a = k === 0 ? parts[0] : `${a}/${parts[k]}`;
      if (dirs.has(a) || ancestors.has(a)) continue;
      // A symlink of this layer as a parent, or a file of it turned into a directory for a
      // path below (in path order, always met before that path): left to the mount.
      if (sortedHas(others, a)) return undefined;
      ancestors.add(a);
    }
    if (type !== "directory") others.push(path);
    else if (path !== "") dirs.add(path);
  }
  const depth = (p: string) => p.split("/").length;
  const candidates = [...ancestors, ...dirs].sort((a, b) => depth(a) - depth(b));
  // Only directories go into `fresh`: what it answers is whether a directory to copy up
  // lies under one, and a file of this layer is never above a directory (refused above).
  return { candidates, fresh: new Set(), dirs };
}

/** Whether `sorted` (ascending) holds `value`. */
function sortedHas(sorted: readonly string[], value: string): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return sorted[lo] === value;
}

/**
 * Whether entries with `headers` may be written straight into the upper directory; if so,
 * the lower directories they pass through have been copied up through `merged` (an
 * overlay mount of the lowers with that upper). Paths are the writer's cleaned components,
 * never `..`, and each is looked up only below directories already seen to be real, so no
 * lookup follows a symlink.
 */
export async function prepareDirectApply(
  headers: Iterable<HeaderFacts>,
  merged: string,
): Promise<boolean> {
  const p = plan(headers);
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
