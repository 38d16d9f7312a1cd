/**
 * Where COPY reads from and what it copies onto, as one small file-system shape
 * ({@linkcode SourceFs}): the build context, or a stack of layers (another stage, an
 * image, the image being built) read through unionfs's merged tree. Paths resolve inside
 * the root through unionfs's rooted resolver, never outside it. `--chown` names are looked
 * up here, in the image's /etc/passwd and /etc/group.
 *
 * @module
 */
import {
  buildMergedTree,
  type FileStat,
  type LayerSource,
  type MergedTree,
  type NodeType,
  PathError,
  resolveInRoot,
  type RootedLookup,
  type TreeEntry,
} from "../unionfs/mod.ts";
import { type BlobStore, readLayers } from "../storage/mod.ts";
import type { BuildContext } from "./build_context.ts";
import type { LayerRef } from "./build_cache.ts";
import { contextPath } from "./build_context.ts";
import { parentOf } from "./copy_plan.ts";
import { LayerBodies } from "./_layer_bodies.ts";
import { CopyError } from "./errors.ts";

/**
 * A path's metadata in a copy source or the image being built. Fifos and devices of an
 * image or stage are copied as BuildKit copies them (fsutil makes them anew); `other`
 * (sockets, and whatever the context cannot send) is skipped.
 */
export interface SourceStat extends FileStat<NodeType | "other"> {
  /** Same number: hardlinks of one file. */
  ino: number;
  /**
   * Hard links to the file, when the source knows: one means no other path shares it, and
   * the copy keeps no note of it (as fsutil only tracks files with more than one).
   */
  nlink?: number;
  /** The source's own string for the path, when it keeps one: plan entries share it. */
  path?: string;
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
  /**
   * Says which paths (files, or directories with all below) a copy is about to read, before
   * it asks for their bodies: an image's layers are then each read once.
   */
  willRead?(paths: readonly string[]): Promise<void>;
  /** Lets go of what reading bodies holds (open layers, a spool file). */
  close?(): Promise<void>;
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
  #spool: string | undefined;
  #bodies: LayerBodies | undefined;
  // With `lookups`: the paths asked for (with their parents), which the tree keeps, and how
  // many times it was built for them.
  #asked: Set<string> | undefined;
  #builds = 0;

  /**
   * A view of `layers` (bottom first), read from `blobs`. Bodies are read as a copy asks
   * for them (`_layer_bodies.ts`); with `options.spool`, those read ahead of their turn wait
   * in a file there rather than in memory. With
   * `options.lookups` the view is for a few lookups (a destination, /etc/passwd): it holds
   * the directories and symlinks of the layers and the files asked for, not every file, and
   * reads the layers again when a path it did not keep is asked for.
   */
  constructor(
    blobs: BlobStore,
    layers: readonly LayerRef[],
    label: string,
    options: { spool?: string; lookups?: boolean } = {},
  ) {
    this.#blobs = blobs;
    this.#layers = [...layers];
    this.label = label;
    this.#spool = options.spool;
    if (options.lookups) this.#asked = new Set();
  }

  /** The layer sources, bottom first. */
  get sources(): LayerSource[] {
    return readLayers(this.#blobs, this.#layers);
  }

  /** The merged tree, built once (with `lookups`, of what was asked for). */
  tree(): Promise<MergedTree> {
    return this.#tree ??= this.#build();
  }

  async #build(): Promise<MergedTree> {
    const asked = this.#asked;
    // Each lookup that misses reads every layer again; past a few, one whole tree is cheaper
    // (an archive unpacked over many directories of the image).
    if (asked === undefined || ++this.#builds > MISSED_LOOKUPS) {
      this.#asked = undefined;
      return await buildMergedTree(this.sources);
    }
    for (;;) {
      const tree = await buildMergedTree(this.sources, { only: asked });
      const before = asked.size;
      for (const target of tree.unkeptLinkTargets) addWithParents(asked, target);
      if (asked.size === before) return tree;
    }
  }

  /**
   * Says which paths lookups will ask for, so that one reading of the layers answers them
   * (nothing to do without `lookups`).
   */
  expect(paths: readonly string[]): void {
    const asked = this.#asked;
    if (asked === undefined) return;
    const before = asked.size;
    for (const path of paths) addWithParents(asked, contextPath(path));
    if (asked.size !== before) this.#tree = undefined;
  }

  /** The tree, holding `path` when the view is for lookups. */
  async #treeWith(path: string): Promise<MergedTree> {
    const asked = this.#asked;
    if (asked !== undefined && !asked.has(path) && path !== "") {
      // A path below a missing or non-directory parent already seen is missing.
      let known = parentOf(path);
      while (known !== "" && !asked.has(known)) known = parentOf(known);
      const tree = await this.tree();
      const parent = known === "" ? tree.root : tree.get(known);
      if (this.#asked === undefined) return tree;
      if (parent?.type !== "directory") return tree;
      this.expect([path]);
    }
    return await this.tree();
  }

  /** Metadata of a path. */
  async lstat(path: string): Promise<SourceStat | undefined> {
    const p = contextPath(path);
    const tree = await this.#treeWith(p);
    const e = p === "" ? tree.root : tree.get(p);
    return e ? statOf(e) : undefined;
  }

  /** Names in a directory (a view for lookups reads the whole tree for it). */
  async readdir(path: string): Promise<string[]> {
    if (this.#asked !== undefined) {
      this.#asked = undefined;
      this.#tree = undefined;
    }
    const tree = await this.tree();
    return tree.list(contextPath(path)).map((e) => e.path.slice(e.path.lastIndexOf("/") + 1));
  }

  /**
   * Says which paths a copy will read the files of (a file, or a directory and all below
   * it), so that the bodies passed on the way to another are kept for their turn.
   */
  async willRead(paths: readonly string[]): Promise<void> {
    const tree = await this.tree();
    const bodies = this.#layerBodies();
    const want = (layer: number, entry: number) => bodies.want(layer, entry);
    for (const path of paths) tree.forEachFileBelow(contextPath(path), want);
  }

  /** A regular file's bytes, all of them in memory. */
  async body(path: string): Promise<Uint8Array> {
    const body = await this.bodyStream(path);
    return body instanceof Uint8Array
      ? body
      : new Uint8Array(await new Response(body).arrayBuffer());
  }

  /** A regular file's bytes: a stream for a large one, else in memory. */
  async bodyStream(path: string): Promise<ReadableStream<Uint8Array> | Uint8Array> {
    const p = contextPath(path);
    const e = await this.#treeWith(p).then((tree) => tree.get(p));
    if (e?.type !== "file") {
      throw new Error(`Cannot read "/${p}" in ${this.label}: not a regular file`);
    }
    return await this.#layerBodies().read(e.contentLayer, e.contentEntry, e.size, `/${p}`);
  }

  #layerBodies(): LayerBodies {
    return this.#bodies ??= new LayerBodies(this.sources, this.#spool);
  }

  /** Lets go of the layers left open and of the spool file. */
  async close(): Promise<void> {
    await this.#bodies?.close();
    this.#bodies = undefined;
  }

  /** This tree as a copy source whose large bodies stream. */
  asSource(): SourceFs {
    return {
      label: this.label,
      keepOwners: true,
      lstat: (path) => this.lstat(path),
      readdir: (path) => this.readdir(path),
      body: (path) => this.bodyStream(path),
      willRead: (paths) => this.willRead(paths),
      close: () => this.close(),
    };
  }

  /** Reads a small file following symlinks, or undefined when it is missing. */
  async readText(path: string): Promise<string | undefined> {
    const resolved = await resolvePath(this, path, true);
    if (!resolved || resolved.stat.type !== "file") return undefined;
    return new TextDecoder().decode(await this.body(resolved.path));
  }
}

/** Lookups a view reads the layers again for before it holds the whole tree. */
const MISSED_LOOKUPS = 8;

/** Adds `path` and every directory above it. */
function addWithParents(into: Set<string>, path: string): void {
  for (let p = path; p !== "" && !into.has(p); p = parentOf(p)) into.add(p);
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
    nlink: e.nlink,
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
    const line = await databaseEntry(image, "passwd", user, 4, spec);
    uid = Number(line[2]);
    gid = Number(line[3]);
  }
  if (group !== undefined && group !== "") {
    if (/^\d+$/.test(group)) gid = Number(group);
    else gid = Number((await databaseEntry(image, "group", group, 3, spec))[2]);
  }
  return { uid, gid };
}

/** The fields of `name`'s line in the image's /etc/passwd or /etc/group. */
async function databaseEntry(
  image: TreeFs,
  file: "passwd" | "group",
  name: string,
  fields: number,
  spec: string,
): Promise<string[]> {
  const text = await image.readText(`etc/${file}`);
  const line = text?.split("\n").map((l) => l.split(":")).find((f) => f[0] === name);
  if (!line || line.length < fields) {
    const what = file === "passwd" ? "user" : "group";
    throw new CopyError(
      `Cannot use --chown=${spec}: no ${what} "${name}" in the image's /etc/${file}`,
    );
  }
  return line;
}
