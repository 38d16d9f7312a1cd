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

/** What {@linkcode DirectApplyPlan.finish} decides. */
interface DirectApplyDirs {
  /** The directories to copy up, shallowest first. */
  candidates: string[];
  /** Directories under which the lower layers show nothing (filled as they are found). */
  fresh: Set<string>;
  /** The layer's own directories. */
  dirs: Set<string>;
}

/**
 * What {@linkcode prepareDirectApply} needs of a layer, worked out from each header as its
 * writer writes it: whether the layer only adds, in path order, and the directories its
 * paths pass through. Of the other paths only a hash is kept: a COPY of 200,000 files kept
 * every name from its write until the next RUN.
 */
export class DirectApplyPlan {
  #refused = false;
  #previous: string | undefined;
  #dirs = new Set<string>();
  #ancestors = new Set<string>();
  // The layer's paths other than directories.
  #others = new PathHashSet();

  /** Notes one header, in the layer's order. */
  add(header: HeaderFacts): void {
    if (this.#refused || this.#accepts(header)) return;
    this.#refused = true;
    this.#dirs.clear();
    this.#ancestors.clear();
    this.#others = new PathHashSet();
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
      // path below (in path order, always met before that path): left to the mount. A
      // hash shared with another path sends the layer there too, which is only slower.
      if (this.#others.has(a)) return false;
      this.#ancestors.add(a);
    }
    if (type !== "directory") this.#others.add(path);
    else if (path !== "") this.#dirs.add(path);
    return true;
  }

  /**
   * The directories to copy up and those of the layer, or undefined when the layer must
   * go through the mount.
   */
  finish(): DirectApplyDirs | undefined {
    if (this.#refused) return undefined;
    const depth = (p: string) => p.split("/").length;
    const candidates = [...this.#ancestors, ...this.#dirs].sort((a, b) => depth(a) - depth(b));
    // Only directories go into `fresh`: what it answers is whether a directory to copy up
    // lies under one, and a file of this layer is never above a directory (refused above).
    return { candidates, fresh: new Set(), dirs: this.#dirs };
  }
}

/**
 * A set of strings kept as two 32-bit hashes each, 8 bytes and no string. A string never
 * added is taken for one that was only when both hashes match: odds of about n / 2^64
 * against n strings held.
 */
class PathHashSet {
  // A pair of hashes per slot; [0, 0] is an empty slot. At most a quarter full.
  #slots = new Uint32Array(2 * 1024);
  #size = 0;

  add(text: string): void {
    if ((this.#size + 1) * 8 > this.#slots.length) this.#grow();
    const [h1, h2] = hashes(text);
    if (placeHashes(this.#slots, h1, h2)) this.#size++;
  }

  has(text: string): boolean {
    const [h1, h2] = hashes(text);
    const slots = this.#slots;
    const mask = slots.length / 2 - 1;
    for (let i = h1 & mask;; i = (i + 1) & mask) {
      if (slots[2 * i] === h1 && slots[2 * i + 1] === h2) return true;
      if (slots[2 * i] === 0 && slots[2 * i + 1] === 0) return false;
    }
  }

  #grow(): void {
    const old = this.#slots;
    const slots = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) placeHashes(slots, old[i], old[i + 1]);
    }
    this.#slots = slots;
  }
}

/** Puts the pair into `slots`; false when it was there. */
function placeHashes(slots: Uint32Array, h1: number, h2: number): boolean {
  const mask = slots.length / 2 - 1;
  for (let i = h1 & mask;; i = (i + 1) & mask) {
    if (slots[2 * i] === h1 && slots[2 * i + 1] === h2) return false;
    if (slots[2 * i] === 0 && slots[2 * i + 1] === 0) {
      slots[2 * i] = h1;
      slots[2 * i + 1] = h2;
      return true;
    }
  }
}

/** Two independent 32-bit hashes of `text` (FNV-1a and a Murmur-style mix), never both 0. */
function hashes(text: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 >>>= 0;
  h2 = Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35);
  h2 = (h2 ^ (h2 >>> 16)) >>> 0;
  return h1 === 0 && h2 === 0 ? [0, 1] : [h1, h2];
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
