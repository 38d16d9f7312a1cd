/**
 * The build context as the build engine reads it: a directory, or a tar (`-` on stdin)
 * unpacked into a temporary directory, with `.dockerignore` applied. File contents are
 * hashed for cache keys through a persistent metadata cache kept in the store root
 * (path, size, mtime, inode → digest), so a warm rebuild does not re-read unchanged files.
 *
 * @module
 */
import {
  closeSync,
  createReadStream,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
} from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  createHasher,
  type Digest,
  sha256,
  type Sha256Function,
  sha256Function,
} from "../digest/mod.ts";
import { applyLayer } from "../unionfs/mod.ts";
import { type ContextFs, nodeContextFs, walkContextSorted } from "./context_walk.ts";
import { ContextMeta } from "./_context_meta.ts";
import { ContextTable } from "./_context_table.ts";

/** What the engine knows of one context path. */
export interface ContextStat {
  /** Relative to the context root, `/`-separated; `""` is the root. */
  path: string;
  /** The path's type. */
  type: "file" | "directory" | "symlink" | "other";
  /** Permission bits (`0o7777`). */
  mode: number;
  /** Size of a regular file. */
  size: number;
  /** Modification time, seconds (fractional). */
  mtime: number;
  /** Inode number, to find hardlinks. */
  ino: number;
  /** Hard links to the inode, when known. */
  nlink?: number;
  /** Symlink target, or "". */
  linkTarget: string;
}

/** Options of {@linkcode BuildContext.open}. */
export interface OpenContextOptions {
  /** The context directory. One of `contextDir` and `contextTar` is needed. */
  contextDir?: string;
  /** A tar of the context (what `docker build -` reads from stdin). */
  contextTar?: ReadableStream<Uint8Array>;
  /**
   * The Dockerfile: relative to the context root, or absolute. Its `<name>.dockerignore`
   * beside it is the ignore file when present. Default `"Dockerfile"`.
   */
  dockerfilePath?: string;
  /** Where the metadata cache and temporary directories live (the store root). */
  storeRoot: string;
  /** How the context's directory is read. @default {nodeContextFs} */
  fs?: ContextFs;
}

/** Files up to this size are hashed from one read; larger ones are streamed. */
const ONE_READ_LIMIT = 1 << 20;
/** Up to this size a file is read into a buffer of its own (cheapest for small files). */
const FRESH_READ_LIMIT = 64 << 10;

const TYPES = ["file", "directory", "symlink", "other"] as const;
type EntryType = typeof TYPES[number];

/**
 * A build context with its ignore rules applied. Paths outside what the ignore file lets
 * through do not exist for the build.
 *
 * What it knows of each path is kept in a table by the path's position in the sorted
 * listing, in pages that spill to a file past a few (`_context_table.ts`): a context's
 * size must not set a build's peak memory.
 */
export class BuildContext {
  /** The directory holding the context's files. */
  readonly root: string;
  /** A stable name for the context: its absolute path, or `stdin`. */
  readonly id: string;
  // Every path sent, sorted, with its columns; position 0 is the root, `""`. A path's stat
  // fills its row the first time it is asked for: the context does not change during a
  // build (BuildKit snapshots it), so every path is stat'ed once, whatever looks at it.
  #table: ContextTable;
  // The position last found: lookups mostly come in listing order, one after the other.
  #last = 0;
  #metaPath: string;
  #meta: ContextMeta;
  #temp: string | undefined;
  #hashed = 0;
  #fs: ContextFs;
  #sha256: Sha256Function | undefined;
  #readBuffer: Uint8Array | undefined;

  private constructor(
    root: string,
    id: string,
    table: ContextTable,
    metaPath: string,
    temp: string | undefined,
    fs: ContextFs,
  ) {
    this.root = root;
    this.#fs = fs;
    this.id = id;
    this.#metaPath = metaPath;
    this.#temp = temp;
    this.#table = table;
    this.#meta = new ContextMeta(table);
  }

  /**
   * Opens a context: lists it (applying `.dockerignore`) and loads the metadata cache.
   *
   * @throws {TypeError} when neither or both of `contextDir` and `contextTar` are given.
   */
  static async open(options: OpenContextOptions): Promise<BuildContext> {
    if ((options.contextDir === undefined) === (options.contextTar === undefined)) {
      throw new TypeError("A build needs exactly one of contextDir and contextTar");
    }
    let root: string;
    let temp: string | undefined;
    let id: string;
    if (options.contextDir !== undefined) {
      root = resolve(options.contextDir);
      id = root;
    } else {
      await mkdir(join(options.storeRoot, "build-cache", "tmp"), { recursive: true });
      temp = await mkdtemp(join(options.storeRoot, "build-cache", "tmp", "context-"));
      root = temp;
      id = "stdin";
      const tar = options.contextTar!;
      let used = false;
      await applyLayer(
        {
          digest: "context tar",
          open: () => {
            if (used) throw new Error("The context tar can be read only once");
            used = true;
            return Promise.resolve(tar);
          },
        },
        root,
        { owners: false, devices: false, xattrs: false },
      );
    }
    const fs = options.fs ?? nodeContextFs;
    const scratch = join(options.storeRoot, "build-cache", "tmp");
    let table;
    try {
      table = await listContext(root, options.dockerfilePath, fs, scratch);
    } catch (error) {
      if (temp) await rm(temp, { recursive: true, force: true });
      const code = (error as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") {
        throw new Error(`Cannot read the build context "${root}": no such directory`, {
          cause: error,
        });
      }
      throw error;
    }
    const metaDir = join(options.storeRoot, "build-cache", "context-meta");
    const metaPath = join(metaDir, `${(await sha256(id)).slice(7, 39)}.meta`);
    const context = new BuildContext(root, id, table, metaPath, temp, fs);
    if (temp === undefined) {
      try {
        context.#meta = await ContextMeta.load(metaPath, table, (path) => context.#indexOf(path));
      } catch {
        // No cache yet, or an unreadable one: every file is hashed again.
      }
    }
    return context;
  }

  /**
   * The position of `path` in the listing, or undefined: the one after the last found when
   * it is that one (a walk in listing order), else by binary search. A map of every path
   * cost a large context 40 bytes a file for the whole build.
   */
  #indexOf(path: string): number | undefined {
    const table = this.#table;
    if (table.is(this.#last + 1, path)) return ++this.#last;
    if (table.is(this.#last, path)) return this.#last;
    const at = table.firstAtLeast(path, 0);
    if (!table.is(at, path)) return undefined;
    this.#last = at;
    return at;
  }

  /** How many files were read to hash them (the rest came from the metadata cache). */
  get hashedFiles(): number {
    return this.#hashed;
  }

  /**
   * Stats `path` and everything below it now, one lstat after another: the walks that
   * follow (hashing, planning a COPY) find the stats in memory. Back to back, the lstats
   * of a warm 30,000-file build took a third less time than between the walk's other work.
   */
  statTree(path: string): void {
    const top = this.#indexOf(isClean(path) ? path : contextPath(path));
    if (top === undefined) return;
    this.#stat(top);
    if (TYPES[this.#table.type(top)] !== "directory") return;
    const [from, to] = this.#below(top);
    for (let i = from; i < to; i++) this.#stat(i);
  }

  /**
   * The paths below directory `path`, in sorted order (how a COPY's cache key lists them),
   * each stat'ed; nothing for anything but a directory.
   */
  *below(path: string): Generator<ContextStat> {
    const i = this.#indexOf(isClean(path) ? path : contextPath(path));
    if (i === undefined || TYPES[this.#table.type(this.#stat(i))] !== "directory") return;
    const [from, to] = this.#below(i);
    for (let j = from; j < to; j++) yield this.#record(j);
  }

  /**
   * Positions of the paths below directory `i`: one run of the sorted listing, from `a/` up
   * to `a0` (`0` follows `/`). Between a path and its subtree may sort others (`a-b`, `a.b`).
   */
  #below(i: number): [from: number, to: number] {
    if (i === 0) return [1, this.#table.length];
    const path = this.#table.at(i);
    const lo = this.#table.firstAtLeast(`${path}/`, i + 1);
    return [lo, this.#table.firstAtLeast(`${path}0`, lo)];
  }

  /** Like {@linkcode BuildContext.lstat}, synchronously. */
  statSync(path: string): ContextStat | undefined {
    // Paths built from readdir() names are clean already; cleaning costs a split per file.
    const i = this.#indexOf(isClean(path) ? path : contextPath(path));
    return i === undefined ? undefined : this.#record(i);
  }

  /**
   * The digest of a regular file when the metadata cache has it for the file's current
   * size, mtime and inode, without reading the file; else undefined.
   */
  knownDigest(path: string): Digest | undefined {
    const i = this.#indexOf(isClean(path) ? path : contextPath(path));
    return i === undefined ? undefined : this.#known(this.#stat(i));
  }

  #known(i: number): Digest | undefined {
    return this.#meta.lookup(i);
  }

  /** The entry's metadata, or undefined when it is not in the (filtered) context. */
  lstat(path: string): Promise<ContextStat | undefined> {
    try {
      const i = this.#indexOf(contextPath(path));
      return Promise.resolve(i === undefined ? undefined : this.#record(i));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #record(i: number): ContextStat {
    this.#stat(i);
    const t = this.#table;
    const type = TYPES[t.type(i)];
    const path = t.at(i);
    return {
      path,
      type,
      mode: t.mode(i),
      size: t.number(i, 0),
      mtime: t.number(i, 1),
      ino: t.number(i, 2),
      nlink: t.nlink(i) || undefined,
      // Read when asked for rather than kept: a record is made a few times per path.
      linkTarget: type === "symlink" ? readlinkSync(this.#full(path)) : "",
    };
  }

  /** The path of context path `path` on disk. */
  #full(path: string): string {
    // The root is absolute and paths have no `.`, `..` or empty parts: no normalizing.
    return path === "" ? this.root : `${this.root}/${path}`;
  }

  // Synchronous on purpose: a context is tens of thousands of stats of cached inodes, and a
  // sync stat costs a quarter of an async one (measured by bench/build_bench.ts). Not
  // bigint: it costs half again as much, and Deno's nanoseconds are whole milliseconds.
  #stat(i: number): number {
    if (this.#table.statted(i)) return i;
    const st = this.#fs.lstat(this.#full(this.#table.at(i)));
    this.#meta.stated(i, st.size, st.mtimeMs / 1000, st.ino);
    this.#table.setStat(i, TYPES.indexOf(st.type), st.mode & 0o7777, st.nlink ?? 0);
    return i;
  }

  /**
   * The names in a context directory, sorted; ignored names are left out. Found in the
   * directory's run of the listing, each child's own subtree skipped by a search.
   */
  readdir(path: string): string[] {
    const i = this.#indexOf(contextPath(path));
    if (i === undefined || TYPES[this.#table.type(i)] !== "directory") return [];
    const skip = i === 0 ? 0 : this.#table.lengthOf(i) + 1;
    const [from, to] = this.#below(i);
    const names: string[] = [];
    for (let j = from; j < to;) {
      const name = this.#table.at(j).slice(skip);
      const slash = name.indexOf("/");
      if (slash < 0) {
        names.push(name);
        j++;
      } else {
        // Inside a child directory: on past its subtree.
        j = this.#table.firstAtLeast(`${this.#table.at(j).slice(0, skip + slash)}0`, j + 1);
      }
    }
    return names;
  }

  /**
   * A regular file's bytes: read at once when small (most context files are, and a stream
   * per file costs more than the read), else streamed.
   */
  body(path: string): Uint8Array | ReadableStream<Uint8Array> {
    const p = contextPath(path);
    const stat = this.statSync(p);
    if (stat?.type === "file" && stat.size <= ONE_READ_LIMIT) {
      // A view of what was read, not a copy of it (a Buffer is one, but with other methods).
      const read = readFileSync(join(this.root, p));
      return new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
    }
    return this.open(p);
  }

  /** A regular file's bytes, streamed. */
  open(path: string): ReadableStream<Uint8Array> {
    const stream = createReadStream(join(this.root, contextPath(path)));
    return new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          for await (const chunk of stream) controller.enqueue(new Uint8Array(chunk as Uint8Array));
          controller.close();
        } catch (error) {
          controller.error(error);
        }
      },
      cancel() {
        stream.destroy();
      },
    });
  }

  /**
   * The sha256 of a regular file, from the metadata cache when its path, size, mtime and
   * inode are unchanged, else by reading it.
   */
  async digest(path: string): Promise<Digest> {
    const p = contextPath(path);
    const i = this.#indexOf(p);
    if (i === undefined) throw notFound(p);
    this.#stat(i);
    if (this.#table.number(i, 0) <= ONE_READ_LIMIT) {
      return this.smallDigest(p, this.#sha256 ??= await sha256Function());
    }
    const known = this.#known(i);
    if (known) return known;
    const hasher = await createHasher();
    for await (const chunk of createReadStream(join(this.root, p))) {
      hasher.update(chunk as Uint8Array);
    }
    return this.#remember(i, hasher.digest());
  }

  /**
   * {@linkcode BuildContext.digest} of a file small enough to read at once (`isSmall`), with
   * no promise: a context is mostly such files, tens of thousands of them.
   */
  smallDigest(path: string, sha256: Sha256Function): Digest {
    const p = isClean(path) ? path : contextPath(path);
    const i = this.#indexOf(p);
    if (i === undefined) throw notFound(p);
    const known = this.#known(this.#stat(i));
    if (known) return known;
    const full = join(this.root, p);
    if (this.#table.number(i, 0) <= FRESH_READ_LIMIT) {
      return this.#remember(i, sha256(readFileSync(full)));
    }
    // Read into one buffer kept for the purpose: a fresh megabyte per file is garbage the
    // collector only frees late (400 such files held 220 MiB).
    const buf = this.#readBuffer ??= new Uint8Array(ONE_READ_LIMIT + 1);
    const fd = openSync(full, "r");
    let n = 0;
    try {
      for (let got = 1; got > 0 && n < buf.length; n += got) {
        got = readSync(fd, buf, n, buf.length - n, null);
      }
    } finally {
      closeSync(fd);
    }
    // Grown past the limit since its stat: hashed whole, as it is now.
    const bytes = n < buf.length ? buf.subarray(0, n) : readFileSync(full);
    return this.#remember(i, sha256(bytes));
  }

  /** Whether a regular file is small enough for {@linkcode BuildContext.smallDigest}. */
  isSmall(stat: ContextStat): boolean {
    return stat.size <= ONE_READ_LIMIT;
  }

  #remember(i: number, digest: Digest): Digest {
    this.#hashed++;
    this.#meta.set(i, digest);
    return digest;
  }

  /** Writes the metadata cache (temp file and rename) and removes a temporary context. */
  async close(): Promise<void> {
    try {
      if (this.#temp) await rm(this.#temp, { recursive: true, force: true });
      else if (this.#meta.dirty) await this.#meta.save(this.#metaPath);
    } finally {
      this.#table.close();
    }
  }
}

/**
 * The context's sorted listing, the root first, as a table of paths and types (spilling to
 * `scratch` when large). Made as the walk finds each path, so no object or string per path
 * outlives the walk.
 */
async function listContext(
  root: string,
  dockerfilePath: string | undefined,
  fs: ContextFs,
  scratch: string,
): Promise<ContextTable> {
  const table = new ContextTable({ spillDir: scratch });
  const add = (path: string, type: EntryType) => table.add(path, TYPES.indexOf(type));
  try {
    add("", "directory");
    await walkContextSorted(root, { dockerfilePath, fs }, add);
    table.done();
    return table;
  } catch (error) {
    table.close();
    throw error;
  }
}

function notFound(path: string): Error {
  return Object.assign(new Error(`ENOENT: "${path}" is not in the build context`), {
    code: "ENOENT",
  });
}

const UNCLEAN = /(^|\/)\.{0,2}(\/|$)|^\//;

function isClean(path: string): boolean {
  return !UNCLEAN.test(path);
}

/** A path inside the context: relative, `/`-separated, `..` stopped at the root. */
export function contextPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}
