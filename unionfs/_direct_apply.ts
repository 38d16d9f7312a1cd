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

const SLASH = 0x2f;

/**
 * Whether `path`, or a path after it, may lie below `earlier` (which came before it).
 * Those below `earlier` are the run of paths that start `earlier + "/"`; between `earlier`
 * and that run come only paths that start with `earlier` and a character before `/`
 * (`a-b` between `a` and `a/c`). So once a path leaves that range, nothing after it lies
 * below `earlier`.
 */
function mayLieBelow(earlier: string, path: string): boolean {
  return path.startsWith(earlier) && path.charCodeAt(earlier.length) <= SLASH;
}

/**
 * What {@linkcode prepareDirectApply} needs of a layer, worked out from each header as its
 * writer writes it: whether the layer only adds, in path order, and the directories its
 * paths pass through or declare. Nothing is kept per file, so a COPY of a million files
 * costs the memory of its directories, not of its files: paths ascend, so whether one lies
 * below an earlier one (or an earlier directory) is answered by the few earlier paths it
 * may still lie below, each a prefix of the last path.
 */
export class DirectApplyPlan {
  #refused = false;
  #previous: string | undefined;
  // The layer's paths and the directories above them that a later path may still lie
  // below (see `mayLieBelow`), shortest first: every one of them is a prefix of the last.
  #open: { path: string; directory: boolean }[] = [];
  #directories = new Directories();

  /** Notes one header, in the layer's order. */
  add(header: HeaderFacts): void {
    if (this.#refused || this.#accepts(header)) return;
    this.#refused = true;
    this.#open = [];
    this.#directories = new Directories();
  }

  #accepts(header: HeaderFacts): boolean {
    const what = classify(header.name);
    if (what.kind !== "add") return false;
    const path = what.parts.join("/");
    // Each path once, in path order, as a build writes its layers. A path given twice may
    // be one replacing the other, which over a lower directory hides it (an opaque
    // directory through the mount); that and any other order are left to the mount.
    if (this.#previous !== undefined && !(this.#previous < path)) return false;
    this.#previous = path;
    const type = header.type ?? "file";
    // A link to a path after its own is not to a file this layer wrote. One to a path
    // before it is taken unproven (the proof would keep every path): when it is to a lower
    // file or a directory, the writer fails on it in the upper directory alone, and
    // `SnapshotStore.prepare` writes the layer through the mount instead.
    if (type === "hardlink" && !(cleanComponents(header.linkname ?? "").join("/") < path)) {
      return false;
    }
    const open = this.#open;
    while (open.length > 0 && !mayLieBelow(open[open.length - 1].path, path)) open.pop();
    const top = open.at(-1);
    // A symlink of this layer as a parent, or a file of it turned into a directory for a
    // path below: left to the mount. Such a file is the last open path: any after it in
    // `open` continue it with a character before `/`, where this path continues it with `/`.
    if (top && !top.directory && path.charCodeAt(top.path.length) === SLASH) return false;
    // The directories above the path that were seen before are all still open, and so is
    // every directory above an open path: the new ones are those longer than the last.
    for (
      let at = path.indexOf("/", top ? top.path.length + 1 : 1);
      at !== -1;
      at = path.indexOf("/", at + 1)
    ) {
      const dir = path.slice(0, at);
      this.#directories.add(dir, false);
      open.push({ path: dir, directory: true });
    }
    if (path === "") return true;
    open.push({ path, directory: type === "directory" });
    if (type === "directory") this.#directories.add(path, true);
    return true;
  }

  /**
   * The directories to copy up, each after those above it, and whether each is one the
   * layer declares (`own`) rather than only passes through; or undefined when the layer
   * must go through the mount.
   */
  finish(): Iterable<{ path: string; own: boolean }> | undefined {
    return this.#refused ? undefined : this.#directories;
  }
}

/** Directories kept per chunk: each chunk is one string, so no directory is one of its own. */
const CHUNK = 1024;

/**
 * Directories in the order they were added, each with whether the layer declares it, held
 * as joined chunks and where each starts: about its UTF-16 length and 4 bytes a directory,
 * where a string per directory cost some 48.
 */
class Directories {
  // Full chunks: their text and where each entry starts in it. An entry is one character,
  // `d` for a directory the layer declares and `-` for one it only passes through, and
  // then the path.
  #texts: string[] = [];
  #starts: Uint32Array[] = [];
  #open: string[] = [];

  /** Adds `path`; `own` when the layer declares it rather than only passes through it. */
  add(path: string, own: boolean): void {
    this.#open.push((own ? "d" : "-") + path);
    if (this.#open.length < CHUNK) return;
    const starts = new Uint32Array(CHUNK + 1);
    for (let i = 0; i < CHUNK; i++) starts[i + 1] = starts[i] + this.#open[i].length;
    this.#texts.push(this.#open.join(""));
    this.#starts.push(starts);
    this.#open = [];
  }

  /** The directories in the order they were added. */
  *[Symbol.iterator](): Generator<{ path: string; own: boolean }> {
    const entry = (s: string) => ({ path: s.slice(1), own: s[0] === "d" });
    for (let c = 0; c < this.#texts.length; c++) {
      const text = this.#texts[c];
      const starts = this.#starts[c];
      for (let i = 0; i < CHUNK; i++) yield entry(text.slice(starts[i], starts[i + 1]));
    }
    for (const s of this.#open) yield entry(s);
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
  const directories = planned.finish();
  if (!directories) return false;
  // Directories under which the lower layers show nothing, each below the one before it:
  // nothing below them is looked up. The directories are not in path order (`a/b-x`, which
  // the layer declares, comes before `a/b`, which `a/b/c` passes through), but each came
  // from a path no earlier than those before it did, which is all `mayLieBelow` needs:
  // a fresh directory is dropped only once no later one can lie below it.
  const fresh: string[] = [];
  for (const { path, own } of directories) {
    while (fresh.length > 0 && !mayLieBelow(fresh[fresh.length - 1], path)) fresh.pop();
    // Only the last can be above it, as in `DirectApplyPlan`'s open paths.
    const last = fresh.at(-1);
    if (last !== undefined && path.charCodeAt(last.length) === SLASH) continue;
    const st = await lstatOrNull(join(merged, path));
    if (st === null) {
      fresh.push(path);
    } else if (st.isDirectory()) {
      // A setattr copies the directory up whole (owner, mode, times, xattrs); it changes
      // nothing else.
      await chown(join(merged, path), st.uid, st.gid);
    } else if (own) {
      // The layer puts its own directory over a lower non-directory: nothing shows below.
      fresh.push(path);
    } else {
      // A lower symlink (or file) that the layer's paths pass through.
      return false;
    }
  }
  return true;
}
