import { InvalidLayerError, PathError } from "./errors.ts";
import { resolveInRootSync, type RootedLookup } from "./resolve_in_root.ts";
import { type LayerSource, openLayer } from "./open_layer.ts";
import { classify, cleanComponents, compareNames } from "./_path.ts";
import type { EntryType, TarHeader } from "./tar_entry.ts";
import { mapLimit } from "./_map_limit.ts";

/** The type of a path in the merged tree: hardlinks show as what they point to. */
export type NodeType = Exclude<EntryType, "hardlink">;

/**
 * What a path is, the one shape every view of a file shares (the merged tree, the
 * copy-on-write layer, a COPY source): type, owner, mode, size, time and link target.
 */
export interface FileStat<Type extends string = NodeType> {
  /** What the path is. */
  type: Type;
  /** Permission bits (`0o7777`). */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Size in bytes of a regular file; 0 otherwise. */
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Symlink target; "" for other types. */
  linkTarget: string;
}

/** One path of the merged tree, with where it came from. */
export interface TreeEntry extends FileStat {
  /** Clean relative path (`etc/passwd`); the root is `""`. */
  path: string;
  /** Device major number. */
  devmajor: number;
  /** Device minor number. */
  devminor: number;
  /** Extended attributes. */
  xattrs: Record<string, Uint8Array>;
  /** Index of the layer that put this path here (a directory made implicitly included). */
  layer: number;
  /** True for a directory no layer has an entry for: it exists because a child does. */
  implicit: boolean;
  /** Index of the layer whose tar entry holds this path's bytes and metadata. */
  contentLayer: number;
  /** Index, counting from 0, of that entry among the layer's tar entries. */
  contentEntry: number;
  /** Paths with the same number are hardlinks of one file. */
  inode: number;
  /**
   * Paths made to share that inode: 1 when no hardlink to it was ever applied (a path
   * removed since still counts, so more than 1 means "may share").
   */
  nlink: number;
}

/** A count of non-directory paths and the regular-file bytes among them. */
export interface ChangeCount {
  /** Paths that are not directories. */
  files: number;
  /** Bytes of regular-file content. */
  bytes: number;
}

/** What one layer did to the tree, and what of it is still visible at the top. */
export interface LayerStats {
  /** The layer's position, bottom first. */
  index: number;
  /** The layer's digest, as given by its source. */
  digest: string;
  /** Tar entries in the layer, whiteouts included. */
  entries: number;
  /** Regular-file bytes in the layer. */
  bytes: number;
  /** Paths that did not exist below. */
  added: ChangeCount;
  /** Paths that existed below and were replaced. */
  modified: ChangeCount;
  /** Paths below that this layer removed (whiteouts, opaque dirs, replaced directories). */
  removed: ChangeCount;
  /** Whiteout and opaque-marker entries. */
  whiteouts: number;
  /**
   * Of `bytes`, those not visible in the merged tree: overwritten or removed by a later
   * layer, or by a later entry of the same layer. Wasted space in the image.
   */
  hiddenBytes: number;
}

/** Options for {@linkcode buildMergedTree}. */
export interface BuildMergedTreeOptions {
  /** Layers read at once (decompression runs in parallel). @default {2} */
  concurrency?: number;
  /**
   * Keep only these paths (clean, each with its parents) besides every directory and
   * symlink: a view that answers a few lookups holds the image's directories, not its
   * files. Layers are then read one after another, each as it streams, never held. A
   * hardlink kept whose target is not kept leaves that target in
   * {@linkcode MergedTree.unkeptLinkTargets}: build again with it added.
   */
  only?: ReadonlySet<string>;
}

interface Inode {
  id: number;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkTarget: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Uint8Array>;
  layer: number;
  entry: number;
  links: number;
}

interface Node {
  inode: Inode;
  layer: number;
  implicit: boolean;
  children?: Map<string, Node>;
}

/** One tar entry's metadata as the tree needs it: its header and position. */
export interface ScannedEntry {
  /** The header. */
  header: TarHeader;
  /** Position among the layer's entries. */
  index: number;
}

interface LayerContext {
  index: number;
  digest: string;
  stats: LayerStats;
  /** Nodes this layer made or set. */
  created: Set<Node>;
  /** Those and every directory above one of them: whiteouts in this layer spare them. */
  touched: Set<Node>;
}

function emptyStats(index: number, digest: string): LayerStats {
  return {
    index,
    digest,
    entries: 0,
    bytes: 0,
    added: { files: 0, bytes: 0 },
    modified: { files: 0, bytes: 0 },
    removed: { files: 0, bytes: 0 },
    whiteouts: 0,
    hiddenBytes: 0,
  };
}

/**
 * The merged view of a stack of layers, built without extracting anything: what overlayfs
 * would show at the top, per path, with the layer each path comes from.
 *
 * Rules (OCI image-spec layer.md): upper layers win per path; `.wh.NAME` hides NAME in the
 * layers below; `.wh..wh..opq` hides every lower child of its directory; whiteouts apply to
 * lower layers only, so a layer may remove a path and add it again, in either order; a whiteout of a path
 * that does not exist is ignored; a file replaces a directory with all its contents and a
 * directory replaces a file; directories over directories merge; a hardlink resolves to its
 * target as it is when the link is applied, even from a lower layer. Parents are resolved
 * through symlinks inside the root, as securejoin does on disk.
 */
export class MergedTree {
  #root: Node;
  #nextInode = 1;
  #stats: LayerStats[] = [];
  #layers = 0;
  #only: ReadonlySet<string> | undefined;
  #unkept = new Set<string>();

  /**
   * Creates an empty tree; add layers bottom first with {@linkcode MergedTree.addLayer}.
   * With `only`, see {@linkcode BuildMergedTreeOptions.only}; the stats then count the
   * paths kept.
   */
  constructor(only?: ReadonlySet<string>) {
    this.#only = only;
    this.#root = {
      inode: this.#newInode("directory", 0o755, -1, -1),
      layer: -1,
      implicit: true,
      children: new Map(),
    };
  }

  /** Per-layer provenance and wasted-space figures, bottom first. */
  get stats(): LayerStats[] {
    const visible = new Map<number, number>();
    const seen = new Set<number>();
    for (const { node } of this.#walk(this.#root, "")) {
      const ino = node.inode;
      if (ino.type !== "file" || seen.has(ino.id)) continue;
      seen.add(ino.id);
      visible.set(ino.layer, (visible.get(ino.layer) ?? 0) + ino.size);
    }
    return this.#stats.map((s) => ({
      ...s,
      added: { ...s.added },
      modified: { ...s.modified },
      removed: { ...s.removed },
      hiddenBytes: s.bytes - (visible.get(s.index) ?? 0),
    }));
  }

  /** Paths outside `only` that a kept hardlink names (see the constructor). */
  get unkeptLinkTargets(): ReadonlySet<string> {
    return this.#unkept;
  }

  /** The number of layers applied. */
  get layerCount(): number {
    return this.#layers;
  }

  /** The entry at `path` (not following a final symlink), or undefined. */
  get(path: string): TreeEntry | undefined {
    const parts = cleanComponents(path);
    let node: Node | undefined = this.#root;
    for (const p of parts) {
      node = node.children?.get(p);
      if (!node) return undefined;
    }
    return toEntry(parts.join("/"), node);
  }

  /** The children of the directory at `path`, sorted; empty if it is not a directory. */
  list(path = ""): TreeEntry[] {
    const parts = cleanComponents(path);
    let node: Node | undefined = this.#root;
    for (const p of parts) node = node?.children?.get(p);
    if (!node?.children) return [];
    const prefix = parts.length ? `${parts.join("/")}/` : "";
    return [...node.children.keys()].sort(compareNames).map((name) =>
      toEntry(prefix + name, node!.children!.get(name)!)
    );
  }

  /**
   * Calls `visit` with where the bytes of each regular file at or below `path` are (its
   * `contentLayer` and `contentEntry`), in no order: what a reader of those files will ask
   * for, without an entry, a path or a sort per file as {@linkcode MergedTree.list} makes.
   * A final symlink is not followed.
   */
  forEachFileBelow(path: string, visit: (layer: number, entry: number) => void): void {
    let node: Node | undefined = this.#root;
    for (const p of cleanComponents(path)) node = node?.children?.get(p);
    const stack = node ? [node] : [];
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      if (n.inode.type === "file") visit(n.inode.layer, n.inode.entry);
      if (n.children) { for (const child of n.children.values()) stack.push(child); }
    }
  }

  /** Every path except the root, parents before children, siblings in byte order. */
  *entries(): Generator<TreeEntry> {
    for (const { path, node } of this.#walk(this.#root, "")) yield toEntry(path, node);
  }

  /** The root directory's metadata (`layer` is -1 unless a layer had a `./` entry). */
  get root(): TreeEntry {
    return toEntry("", this.#root);
  }

  /**
   * Applies one layer's entries in archive order. A whiteout or opaque marker deletes only
   * what lower layers put there: paths this layer made survive it whatever the order.
   * `digest` names the layer in errors.
   */
  addLayer(entries: Iterable<ScannedEntry>, digest: string): void {
    const ctx = this.#beginLayer(digest);
    for (const entry of entries) this.#apply(entry, ctx);
  }

  /** {@linkcode MergedTree.addLayer} of entries applied as they are read. */
  async addLayerFrom(entries: AsyncIterable<ScannedEntry>, digest: string): Promise<void> {
    const ctx = this.#beginLayer(digest);
    for await (const entry of entries) this.#apply(entry, ctx);
  }

  #beginLayer(digest: string): LayerContext {
    const index = this.#layers++;
    const stats = emptyStats(index, digest);
    this.#stats.push(stats);
    return { index, digest, stats, created: new Set(), touched: new Set() };
  }

  #apply({ header, index: entryIndex }: ScannedEntry, ctx: LayerContext): void {
    const { digest, stats } = ctx;
    const what = classify(header.name);
    stats.entries++;
    if (what.kind === "invalid") throw new InvalidLayerError(digest, header.name, what.reason);
    if (what.kind === "add") {
      if (header.type === "file") stats.bytes += header.size;
      this.#add(what.parts, header, entryIndex, ctx);
    } else if (what.kind === "whiteout") {
      stats.whiteouts++;
      const parent = this.#resolveDir(what.parts.slice(0, -1), false, ctx)?.nodes.at(-1);
      this.#pruneLower(parent, what.parts[what.parts.length - 1], ctx);
    } else if (what.kind === "opaque") {
      stats.whiteouts++;
      const dir = this.#resolveDir(what.parts, false, ctx)?.nodes.at(-1);
      for (const name of [...dir?.children?.keys() ?? []]) this.#pruneLower(dir, name, ctx);
    }
  }

  /** Removes what lower layers put at `name` in `parent`, keeping what `ctx`'s layer made. */
  #pruneLower(parent: Node | undefined, name: string, ctx: LayerContext): void {
    const node = parent?.children?.get(name);
    if (!node) return;
    if (!ctx.touched.has(node)) {
      this.#countRemoved(node, ctx.stats);
      parent!.children!.delete(name);
      return;
    }
    if (!node.children) return;
    if (!ctx.created.has(node)) {
      // A lower directory that survives only for this layer's children: as if made anew.
      node.inode = this.#newInode("directory", 0o755, ctx.index, -1);
      node.layer = ctx.index;
      node.implicit = true;
    }
    for (const child of [...node.children.keys()]) this.#pruneLower(node, child, ctx);
  }

  #markCreated(node: Node, ancestors: Node[], ctx: LayerContext): void {
    ctx.created.add(node);
    ctx.touched.add(node);
    for (const a of ancestors) ctx.touched.add(a);
  }

  #add(parts: string[], h: TarHeader, entry: number, ctx: LayerContext): void {
    const { index: layer, digest, stats } = ctx;
    if (parts.length === 0) {
      if (h.type !== "directory") {
        throw new InvalidLayerError(digest, h.name, `is a ${h.type}, but it names the root`);
      }
      this.#root.inode = this.#inodeFrom(h, layer, entry);
      this.#root.layer = layer;
      this.#root.implicit = false;
      return;
    }
    const resolved = this.#resolveDir(parts.slice(0, -1), true, ctx)!;
    const stack = resolved.nodes;
    const parent = stack[stack.length - 1];
    const name = parts[parts.length - 1];
    const existing = parent.children!.get(name);
    const only = this.#only;
    if (
      only !== undefined && h.type !== "directory" && h.type !== "symlink" &&
      !only.has(resolved.parts.length ? `${resolved.parts.join("/")}/${name}` : name)
    ) {
      // Not kept, but what it replaces is gone all the same.
      parent.children!.delete(name);
      return;
    }
    let inode: Inode;
    if (h.type === "hardlink") {
      const targetParts = cleanComponents(h.linkname);
      const target = this.#lookup(targetParts, ctx);
      if (!target && only !== undefined) {
        const at = this.#resolveDir(targetParts.slice(0, -1), false, ctx);
        const path = [...at?.parts ?? targetParts.slice(0, -1), ...targetParts.slice(-1)].join("/");
        if (!only.has(path)) {
          this.#unkept.add(path);
          parent.children!.delete(name);
          return;
        }
      }
      if (!target) {
        throw new InvalidLayerError(
          digest,
          h.name,
          `is a hardlink to "${h.linkname}", which does not exist`,
        );
      }
      if (target.inode.type === "directory") {
        throw new InvalidLayerError(digest, h.name, `is a hardlink to directory "${h.linkname}"`);
      }
      if (target === existing) return;
      inode = target.inode;
      inode.links++;
    } else {
      inode = this.#inodeFrom(h, layer, entry);
    }
    if (inode.type === "directory" && existing?.inode.type === "directory") {
      existing.inode = inode;
      existing.layer = layer;
      existing.implicit = false;
      this.#markCreated(existing, stack, ctx);
      return;
    }
    const count = existing ? stats.modified : stats.added;
    if (inode.type !== "directory") {
      count.files++;
      if (h.type === "file") count.bytes += inode.size;
    }
    if (existing && existing.inode.type !== "directory" && inode.type === "directory") {
      this.#countRemoved(existing, stats);
    }
    if (existing?.children) {
      for (const child of existing.children.values()) this.#countRemoved(child, stats);
    }
    const node: Node = {
      inode,
      layer,
      implicit: false,
      children: inode.type === "directory" ? new Map() : undefined,
    };
    parent.children!.set(name, node);
    this.#markCreated(node, stack, ctx);
  }

  /** Finds a path, following symlinks in its parents but not in its last component. */
  #lookup(parts: string[], ctx: LayerContext): Node | undefined {
    if (parts.length === 0) return this.#root;
    const dir = this.#resolveDir(parts.slice(0, -1), false, ctx)?.nodes.at(-1);
    return dir?.children?.get(parts[parts.length - 1]);
  }

  /**
   * Walks to the directory `parts` names, following symlinks inside the root, and returns
   * the chain of directories from the root. With `create`, missing directories (and
   * non-directories in the way) become implicit directories, as `mkdir -p` makes them.
   * `parts` of the result is where the walk led.
   */
  #resolveDir(
    parts: string[],
    create: boolean,
    ctx: LayerContext,
  ): { parts: string[]; nodes: Node[] } | undefined {
    const lookup: RootedLookup<Node> = {
      root: this.#root,
      child: (dir, name) => dir.children?.get(name),
      linkTarget: (node) => (node.inode.type === "symlink" ? node.inode.linkTarget : undefined),
      isDirectory: (node) => node.inode.type === "directory",
      mkdir: (dir, name, path, existing) => {
        if (existing) this.#countRemoved(existing, ctx.stats);
        const child: Node = {
          inode: this.#newInode("directory", 0o755, ctx.index, -1),
          layer: ctx.index,
          implicit: true,
          children: new Map(),
        };
        dir.children!.set(name, child);
        this.#markCreated(child, this.#chain(path), ctx);
        return child;
      },
    };
    try {
      return resolveInRootSync(lookup, parts.join("/"), {
        missing: create ? "create" : "fail",
        directory: true,
      });
    } catch (e) {
      if (e instanceof PathError && e.code === "ELOOP") {
        const why = "has too many levels of symlinks";
        throw new InvalidLayerError(ctx.digest, parts.join("/"), why, { cause: e });
      }
      throw e;
    }
  }

  /** The directories above `path` (a path with no symlinks in it), from the root. */
  #chain(path: string): Node[] {
    const out: Node[] = [this.#root];
    const parts = path.split("/");
    for (const p of parts.slice(0, -1)) out.push(out[out.length - 1].children!.get(p)!);
    return out;
  }

  #countRemoved(node: Node, stats: LayerStats): void {
    for (const { node: n } of this.#walk(node, "", true)) {
      if (n.inode.type === "directory") continue;
      stats.removed.files++;
      if (n.inode.type === "file") stats.removed.bytes += n.inode.size;
    }
  }

  *#walk(node: Node, path: string, self = false): Generator<{ path: string; node: Node }> {
    if (self) yield { path, node };
    if (!node.children) return;
    for (const name of [...node.children.keys()].sort(compareNames)) {
      const child = node.children.get(name)!;
      const childPath = path ? `${path}/${name}` : name;
      yield { path: childPath, node: child };
      if (child.children) yield* this.#walk(child, childPath);
    }
  }

  #newInode(type: NodeType, mode: number, layer: number, entry: number): Inode {
    return {
      id: this.#nextInode++,
      type,
      mode,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 0,
      linkTarget: "",
      devmajor: 0,
      devminor: 0,
      xattrs: {},
      layer,
      entry,
      links: 1,
    };
  }

  #inodeFrom(h: TarHeader, layer: number, entry: number): Inode {
    const ino = this.#newInode(h.type as NodeType, h.mode, layer, entry);
    ino.uid = h.uid;
    ino.gid = h.gid;
    ino.size = h.type === "file" ? h.size : 0;
    ino.mtime = h.mtime;
    ino.linkTarget = h.type === "symlink" ? h.linkname : "";
    ino.devmajor = h.devmajor;
    ino.devminor = h.devminor;
    ino.xattrs = h.xattrs;
    return ino;
  }
}

function toEntry(path: string, node: Node): TreeEntry {
  const i = node.inode;
  return {
    path,
    type: i.type,
    mode: i.mode,
    uid: i.uid,
    gid: i.gid,
    size: i.size,
    mtime: i.mtime,
    linkTarget: i.linkTarget,
    devmajor: i.devmajor,
    devminor: i.devminor,
    xattrs: i.xattrs,
    layer: node.layer,
    implicit: node.implicit,
    contentLayer: i.layer,
    contentEntry: i.entry,
    inode: i.id,
    nlink: i.links,
  };
}

/** Reads one layer's headers (bodies are skipped, never held). */
export async function scanLayer(source: LayerSource): Promise<ScannedEntry[]> {
  const out: ScannedEntry[] = [];
  for await (const entry of streamLayer(source)) out.push(entry);
  return out;
}

/** One layer's headers as they are read. */
async function* streamLayer(source: LayerSource): AsyncGenerator<ScannedEntry> {
  let index = 0;
  for await (const { header, body } of openLayer(source)) {
    await body.cancel();
    yield { header, index: index++ };
  }
}

/**
 * Builds the merged tree of `layers` (bottom first), reading their headers in parallel
 * and applying them in order. No file content is kept.
 *
 * @example
 * ```ts ignore
 * const tree = await buildMergedTree(layers);
 * for (const e of tree.entries()) console.log(e.layer, e.path);
 * ```
 */
export async function buildMergedTree(
  layers: readonly LayerSource[],
  options: BuildMergedTreeOptions = {},
): Promise<MergedTree> {
  if (options.only !== undefined) {
    const tree = new MergedTree(options.only);
    for (const layer of layers) await tree.addLayerFrom(streamLayer(layer), layer.digest);
    return tree;
  }
  const scanned = await mapLimit(layers, options.concurrency ?? 2, scanLayer);
  const tree = new MergedTree();
  scanned.forEach((entries, i) => tree.addLayer(entries, layers[i].digest));
  return tree;
}
