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
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import process from "node:process";
import {
  createHasher,
  type Digest,
  sha256,
  type Sha256Function,
  sha256Function,
} from "../digest/mod.ts";
import { applyLayer } from "../unionfs/mod.ts";
import { type ContextFs, nodeContextFs, walkBuildContext } from "./context_walk.ts";
import { ContextMeta } from "./_context_meta.ts";

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

/**
 * A build context with its ignore rules applied. Paths outside what the ignore file lets
 * through do not exist for the build.
 */
export class BuildContext {
  /** The directory holding the context's files. */
  readonly root: string;
  /** A stable name for the context: its absolute path, or `stdin`. */
  readonly id: string;
  #entries: Map<string, "file" | "directory" | "symlink" | "other">;
  #children = new Map<string, string[]>();
  #metaPath: string;
  #meta: ContextMeta;
  #temp: string | undefined;
  #hashed = 0;
  #fs: ContextFs;
  #sha256: Sha256Function | undefined;
  #readBuffer: Uint8Array | undefined;
  // The context does not change during a build (BuildKit snapshots it): every path is
  // stat'ed once, however many steps and checks look at it.
  #stats = new Map<string, ContextStat>();

  private constructor(
    root: string,
    id: string,
    entries: Map<string, "file" | "directory" | "symlink" | "other">,
    metaPath: string,
    meta: ContextMeta,
    temp: string | undefined,
    fs: ContextFs,
  ) {
    this.root = root;
    this.#fs = fs;
    this.id = id;
    this.#entries = entries;
    this.#metaPath = metaPath;
    this.#meta = meta;
    this.#temp = temp;
    for (const path of entries.keys()) {
      if (path === "") continue;
      const slash = path.lastIndexOf("/");
      const parent = slash < 0 ? "" : path.slice(0, slash);
      let list = this.#children.get(parent);
      if (!list) this.#children.set(parent, list = []);
      list.push(path.slice(slash + 1));
    }
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
    let listing;
    try {
      listing = await walkBuildContext(root, { dockerfilePath: options.dockerfilePath, fs });
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
    const entries = new Map(listing.entries.map((e) => [e.path, e.type]));
    entries.set("", "directory");
    const metaDir = join(options.storeRoot, "build-cache", "context-meta");
    const metaPath = join(
      metaDir,
      `${(await sha256(id)).slice(7, 39)}.json`,
    );
    let meta = new ContextMeta();
    if (temp === undefined) {
      try {
        meta = ContextMeta.parse(await readFile(metaPath, "utf8"));
      } catch {
        // No cache yet, or an unreadable one: every file is hashed again.
      }
    }
    return new BuildContext(
      root,
      id,
      entries,
      metaPath,
      meta,
      temp,
      fs,
    );
  }

  /** How many files were read to hash them (the rest came from the metadata cache). */
  get hashedFiles(): number {
    return this.#hashed;
  }

  /** Every path sent to the build, sorted. */
  paths(): string[] {
    return [...this.#entries.keys()].filter((p) => p !== "").sort();
  }

  /**
   * Stats `path` and everything below it now, one lstat after another: the walks that
   * follow (hashing, planning a COPY) find the stats in memory. Back to back, the lstats
   * of a warm 30,000-file build took a third less time than between the walk's other work.
   */
  statTree(path: string): void {
    const top = isClean(path) ? path : contextPath(path);
    const type = this.#entries.get(top);
    if (type === undefined) return;
    // A file alone needs no pass over the listing (a COPY may name many).
    if (type !== "directory") return void this.#stat(top);
    // The listing's own path strings, so the stats keep no second copy of each path.
    const below = top === "" ? "" : `${top}/`;
    for (const p of this.#entries.keys()) if (p === top || p.startsWith(below)) this.#stat(p);
  }

  /** Like {@linkcode BuildContext.lstat}, synchronously. */
  statSync(path: string): ContextStat | undefined {
    // Paths built from readdir() names are clean already; cleaning costs a split per file.
    const clean = isClean(path) ? path : contextPath(path);
    return this.#entries.has(clean) ? this.#stat(clean) : undefined;
  }

  /**
   * The digest of a regular file when the metadata cache has it for the file's current
   * size, mtime and inode, without reading the file; else undefined.
   */
  knownDigest(path: string): Digest | undefined {
    const p = isClean(path) ? path : contextPath(path);
    const stat = this.#stat(p);
    return this.#meta.lookup(p, stat.size, stat.mtime, stat.ino);
  }

  /** The entry's metadata, or undefined when it is not in the (filtered) context. */
  lstat(path: string): Promise<ContextStat | undefined> {
    const clean = contextPath(path);
    try {
      return Promise.resolve(this.#entries.has(clean) ? this.#stat(clean) : undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #stat(clean: string): ContextStat {
    let record = this.#stats.get(clean);
    if (!record) {
      record = this.#readStat(clean);
      this.#stats.set(clean, record);
    }
    return record;
  }

  // Synchronous on purpose: a context is tens of thousands of stats of cached inodes, and a
  // sync stat costs a quarter of an async one (measured by bench/build_bench.ts). Not
  // bigint: it costs half again as much, and Deno's nanoseconds are whole milliseconds.
  #readStat(clean: string): ContextStat {
    // The root is absolute and `clean` has no `.`, `..` or empty parts: no normalizing.
    const full = clean === "" ? this.root : `${this.root}/${clean}`;
    const st = this.#fs.lstat(full);
    const type = st.type;
    return {
      path: clean,
      type,
      mode: st.mode & 0o7777,
      size: st.size,
      mtime: st.mtimeMs / 1000,
      ino: st.ino,
      linkTarget: type === "symlink" ? readlinkSync(full) : "",
    };
  }

  /** The names in a context directory, sorted; ignored names are left out. */
  readdir(path: string): string[] {
    return [...(this.#children.get(contextPath(path)) ?? [])].sort();
  }

  /**
   * A regular file's bytes: read at once when small (most context files are, and a stream
   * per file costs more than the read), else streamed.
   */
  body(path: string): Uint8Array | ReadableStream<Uint8Array> {
    const p = contextPath(path);
    const stat = this.#entries.has(p) ? this.#stat(p) : undefined;
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
    const stat = this.#stat(p);
    if (stat.size <= ONE_READ_LIMIT) {
      return this.smallDigest(p, this.#sha256 ??= await sha256Function());
    }
    const known = this.knownDigest(p);
    if (known) return known;
    const hasher = await createHasher();
    for await (const chunk of createReadStream(join(this.root, p))) {
      hasher.update(chunk as Uint8Array);
    }
    return this.#remember(p, stat, hasher.digest());
  }

  /**
   * {@linkcode BuildContext.digest} of a file small enough to read at once (`isSmall`), with
   * no promise: a context is mostly such files, tens of thousands of them.
   */
  smallDigest(path: string, sha256: Sha256Function): Digest {
    const p = isClean(path) ? path : contextPath(path);
    const known = this.knownDigest(p);
    if (known) return known;
    const stat = this.#stat(p);
    const full = join(this.root, p);
    if (stat.size <= FRESH_READ_LIMIT) return this.#remember(p, stat, sha256(readFileSync(full)));
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
    return this.#remember(p, stat, sha256(bytes));
  }

  /** Whether a regular file is small enough for {@linkcode BuildContext.smallDigest}. */
  isSmall(stat: ContextStat): boolean {
    return stat.size <= ONE_READ_LIMIT;
  }

  #remember(p: string, stat: ContextStat, digest: Digest): Digest {
    this.#hashed++;
    this.#meta.set(p, stat.size, stat.mtime, stat.ino, digest);
    return digest;
  }

  /** Writes the metadata cache (temp file and rename) and removes a temporary context. */
  async close(): Promise<void> {
    if (this.#temp) {
      await rm(this.#temp, { recursive: true, force: true });
      return;
    }
    if (!this.#meta.dirty) return;
    await mkdir(join(this.#metaPath, ".."), { recursive: true });
    const tmp = `${this.#metaPath}.${process.pid}.tmp`;
    await writeFile(tmp, this.#meta.serialize((path) => this.#entries.has(path)));
    await rename(tmp, this.#metaPath);
    this.#meta.saved();
  }
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
