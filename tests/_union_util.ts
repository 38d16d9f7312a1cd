/**
 * Helpers for the union-scenario and hostile-layer tests: layer entries in a few words,
 * images of given layer stacks in a store, and one listing format for a tree on disk and
 * for what `busybox find | stat` prints inside a RUN step, so the views compare as text.
 */
import { readFileSync } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { Digest } from "../digest/mod.ts";
import type { ImageStore } from "../storage/mod.ts";
import { type LayerRef, storeLayer, type WriteEntry } from "../unionfs/mod.ts";
import { initialStageConfig, storeImage } from "../builder/mod.ts";

const enc = new TextEncoder();
/** The mtime every entry gets unless told: old enough that an unpack time stands out. */
export const T0 = 1_000_000_000;

type Extra = {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs?: Record<string, Uint8Array>;
};

/** A regular file. */
export function f(name: string, content = "", x: Extra = {}): WriteEntry {
  const body = enc.encode(content);
  return {
    header: { name, type: "file", size: body.length, mode: 0o644, mtime: T0, ...x },
    body,
  };
}
/** A directory (give the name with a trailing slash or not). */
export function d(name: string, x: Extra = {}): WriteEntry {
  return { header: { name, type: "directory", mode: 0o755, mtime: T0, ...x } };
}
/** A symlink. */
export function l(name: string, target: string, x: Extra = {}): WriteEntry {
  return { header: { name, type: "symlink", linkname: target, mode: 0o777, mtime: T0, ...x } };
}
/** A hardlink to the archive path `target`. */
export function h(name: string, target: string): WriteEntry {
  return { header: { name, type: "hardlink", linkname: target, mtime: T0 } };
}
/** A whiteout of `path`. */
export function wh(path: string): WriteEntry {
  const i = path.lastIndexOf("/");
  return f(`${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}`);
}
/** The opaque marker of directory `dir` ("" for the root). */
export function opq(dir: string): WriteEntry {
  return f(dir ? `${dir}/.wh..wh..opq` : ".wh..wh..opq");
}
/** A character device. */
export function chr(name: string, major: number, minor: number): WriteEntry {
  return {
    header: { name, type: "char", mode: 0o666, devmajor: major, devminor: minor, mtime: T0 },
  };
}
/** A fifo. */
export function fifo(name: string): WriteEntry {
  return { header: { name, type: "fifo", mode: 0o644, mtime: T0 } };
}

/** Stores a layer made of `entries`. */
export async function putLayer(store: ImageStore, entries: WriteEntry[]): Promise<LayerRef> {
  const { descriptor, diffId } = await storeLayer(store.blobs, entries);
  return { descriptor, diffId };
}

/** Stores an image of `layers` (bottom first) under `tag`. */
export async function putImage(
  store: ImageStore,
  layers: LayerRef[],
  tag: string,
): Promise<void> {
  const { image } = initialStageConfig(null, { os: "linux", architecture: "amd64" });
  delete image.config!.WorkingDir;
  image.created = "2024-01-01T00:00:00Z";
  image.history = layers.map(() => ({ created: "2024-01-01T00:00:00Z", created_by: "test" }));
  image.rootfs = { type: "layers", diff_ids: layers.map((x) => x.diffId as Digest) };
  await storeImage(
    store,
    image,
    layers.map((x) => ({ descriptor: x.descriptor, diffId: x.diffId as Digest })),
    [tag],
  );
}

/** An image holding only a static busybox at /busybox: the tools a RUN lists with. */
export async function putTools(store: ImageStore, tag: string): Promise<void> {
  const busybox = new Uint8Array(readFileSync("/bin/busybox"));
  await putImage(store, [
    await putLayer(store, [{
      header: { name: "busybox", type: "file", size: busybox.length, mode: 0o755 },
      body: busybox,
    }]),
  ], tag);
}

/** Paths a RUN step's runtime puts in its view (mount points): never compared. */
export const RUNTIME_PATHS = new Set([
  ".tools",
  ".listing",
  ".listing.tmp",
  "proc",
  "sys",
  "dev",
  "etc",
  "etc/hosts",
  "etc/resolv.conf",
  "etc/hostname",
]);

/**
 * The shell command that lists a RUN step's root into /.listing with the busybox mounted at
 * /.tools: one line per path, `path|rawmode(hex)|uid|gid|size|mtime|nlink|major|minor|%N`.
 */
export const LIST_COMMAND = "/.tools/busybox find / -xdev -exec /.tools/busybox stat -c " +
  "'%n|%f|%u|%g|%s|%Y|%h|%t|%T|%N' {} + > /.listing.tmp && /.tools/busybox mv " +
  "/.listing.tmp /.listing";

function typeName(mode: number): string {
  switch (mode & 0o170000) {
    case 0o040000:
      return "dir";
    case 0o100000:
      return "file";
    case 0o120000:
      return "symlink";
    case 0o020000:
      return "char";
    case 0o060000:
      return "block";
    case 0o010000:
      return "fifo";
    default:
      return `type${(mode & 0o170000).toString(8)}`;
  }
}

interface Row {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  nlink: number;
  major: number;
  minor: number;
  link: string;
}

function line(r: Row): string {
  const type = typeName(r.mode);
  const perm = type === "symlink" ? "" : (r.mode & 0o7777).toString(8).padStart(4, "0");
  let what = "";
  if (type === "file") what = ` size=${r.size} nlink=${r.nlink}`;
  if (type === "symlink") what = ` -> ${r.link}`;
  if (type === "char" || type === "block") what = ` dev=${r.major}:${r.minor}`;
  return `${r.path} ${type} ${perm} ${r.uid}:${r.gid} mtime=${r.mtime}${what}`;
}

/** Parses what {@linkcode LIST_COMMAND} wrote into sorted listing lines. */
export function parseListing(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    const fields = raw.split("|");
    const name = fields.slice(9).join("|");
    const path = fields[0].replace(/^\/+/, "");
    if (path === "" || RUNTIME_PATHS.has(path) || path.startsWith(".tools/")) continue;
    const link = / -> '(.*)'$/.exec(name)?.[1] ?? "";
    out.push(line({
      path,
      mode: parseInt(fields[1], 16),
      uid: Number(fields[2]),
      gid: Number(fields[3]),
      size: Number(fields[4]),
      mtime: Number(fields[5]),
      nlink: Number(fields[6]),
      major: parseInt(fields[7], 16),
      minor: parseInt(fields[8], 16),
      link,
    }));
  }
  return out.sort();
}

/** The same listing lines for a directory on the host (its root itself left out). */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const name of await readdir(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, r));
      const rdev = st.rdev;
      out.push(line({
        path: r,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        size: st.size,
        mtime: Math.floor(st.mtimeMs / 1000),
        nlink: st.nlink,
        major: Math.floor(rdev / 256) & 0xfff,
        minor: (rdev & 0xff) | ((Math.floor(rdev / 4096) & ~0xff) >>> 0),
        link: st.isSymbolicLink() ? await readlink(join(root, r)) : "",
      }));
      if (st.isDirectory()) await walk(r);
    }
  }
  await walk("");
  return out.filter((x) => !RUNTIME_PATHS.has(x.slice(0, x.indexOf(" ")))).sort();
}
