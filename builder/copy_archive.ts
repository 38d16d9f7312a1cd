/**
 * ADD of a local tar archive (gzip, bzip2, xz or plain, told by its bytes, not its name):
 * it is unpacked into the plan as BuildKit unpacks it, every entry type and xattr kept,
 * large bodies spooled to disk. Archive entries resolve with the destination as their
 * root, as moby's chrootarchive unpacks them.
 *
 * bzip2 and xz are decompressed by the `bzip2` and `xz` commands: no maintained npm package
 * streams both, and the two commands are in every Debian base system.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { open as openFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { fileStream, type LayerSource, openLayer, pullThroughZlib } from "../unionfs/mod.ts";
import { dropChunk } from "../storage/mod.ts";
import { contextPath } from "./build_context.ts";
import { type CopyOptions, joinPath, parentOf, type PlannedEntry } from "./copy_plan.ts";
import { rootPath, type SourceFs, type SourceStat } from "./copy_source.ts";
import { CopyError } from "./errors.ts";

/** What {@linkcode archiveKind} finds a source file to be: ADD unpacks all but plain files. */
export type Archive = "gzip" | "bzip2" | "xz" | "tar";

/** Tells a tar archive (plain or compressed) from its bytes; undefined when it is not one. */
export async function archiveKind(
  open: () => Promise<ReadableStream<Uint8Array> | Uint8Array>,
): Promise<Archive | undefined> {
  const head = await readHead(await open(), 512);
  let kind: Archive;
  if (head[0] === 0x1f && head[1] === 0x8b) kind = "gzip";
  else if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) kind = "bzip2";
  else if (
    head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 &&
    head[4] === 0x5a && head[5] === 0x00
  ) kind = "xz";
  else return isTarHeader(head) ? "tar" : undefined;
  try {
    const inner = await readHead(decompressStream(toStream(await open()), kind), 512);
    return isTarHeader(inner) ? kind : undefined;
  } catch {
    return undefined;
  }
}

function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const magic = new TextDecoder().decode(block.subarray(257, 262));
  if (magic === "ustar") return true;
  // A v7 tar has no magic: check the header checksum.
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  const written = parseInt(
    new TextDecoder().decode(block.subarray(148, 156)).replace(/\0.*$/s, "").trim(),
    8,
  );
  return block[0] !== 0 && written === sum;
}

function toStream(body: ReadableStream<Uint8Array> | Uint8Array): ReadableStream<Uint8Array> {
  if (!(body instanceof Uint8Array)) return body;
  return new ReadableStream({
    start(c) {
      c.enqueue(body);
      c.close();
    },
  });
}

async function readHead(
  body: ReadableStream<Uint8Array> | Uint8Array,
  n: number,
): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body.subarray(0, n);
  const reader = body.getReader();
  const out = new Uint8Array(n);
  let have = 0;
  try {
    while (have < n) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(n - have, value.length);
      out.set(value.subarray(0, take), have);
      have += take;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out.subarray(0, have);
}

/** Largest chunk the gzip decoder hands out. */
const GUNZIP_CHUNK = 256 * 1024;

/**
 * Gunzips an archive, pulled (unionfs's pullThroughZlib): the Web `DecompressionStream`
 * inflates each input chunk whole, and deflate reaches ~1000:1 on runs of zeros, so a
 * 64 KiB read of a small archive came out as 64 MiB at once.
 */
function gunzip(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return pullThroughZlib(input, createGunzip({ chunkSize: GUNZIP_CHUNK }), {
    what: "a gzip archive",
  });
}

/** Decompresses gzip with `node:zlib`, bzip2 and xz with their commands. */
function decompressStream(
  stream: ReadableStream<Uint8Array>,
  kind: Archive,
): ReadableStream<Uint8Array> {
  if (kind === "tar") return stream;
  if (kind === "gzip") return gunzip(stream);
  const command = kind === "bzip2" ? "bzip2" : "xz";
  const child = spawn(command, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const failed = new Promise<Error>((resolve) => {
    child.on(
      "error",
      (e) =>
        resolve(
          new Error(
            `Cannot decompress a ${kind} archive: "${command}" could not run (install it)`,
            { cause: e },
          ),
        ),
    );
    child.on("close", (code) => {
      if (code !== 0) resolve(new Error(`Cannot decompress a ${kind} archive: ${stderr.trim()}`));
    });
  });
  (async () => {
    try {
      for await (const chunk of stream) {
        if (!child.stdin.write(chunk)) {
          await new Promise<void>((r) => child.stdin.once("drain", () => r()));
        }
      }
    } catch { /* reported by the reader */ }
    child.stdin.end();
  })();
  child.stdin.on("error", () => {});
  let error: Error | undefined;
  failed.then((e) => (error = e));
  const closed = new Promise((r) => child.once("close", r).exitCode !== null && r(null));
  // Pulled, so the command is paused by its pipe while nobody reads.
  const chunks = child.stdout[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await chunks.next();
        if (!done) {
          controller.enqueue(new Uint8Array(value));
          return;
        }
        await closed;
        if (error) controller.error(error);
        else controller.close();
      } catch (e) {
        controller.error(e);
      }
    },
    cancel() {
      child.kill();
    },
  }, { highWaterMark: 0 });
}

/** What {@linkcode extractArchive} works on. */
interface Extraction {
  /** The archive's path in its source, for errors. */
  name: string;
  /** The resolved directory the archive is unpacked into, relative to the image root. */
  dest: string;
  plan: Map<string, PlannedEntry>;
  /** The image being built. */
  target: SourceFs;
  options: CopyOptions;
  clamp: (t: number) => number;
}

/**
 * The image being built with this copy's planned entries over it, seen from `dest`: the
 * view archive entries are resolved in. BuildKit unpacks in a chroot at the destination
 * (moby's chrootarchive), so a symlink met on the way, planted by an earlier layer or by
 * the archive itself, is followed with the destination as its root.
 */
function extractionView(x: Extraction): SourceFs {
  const full = (path: string) => joinPath(x.dest, path);
  return {
    label: x.target.label,
    keepOwners: true,
    lstat(path) {
      const e = x.plan.get(full(path));
      if (!e) return x.target.lstat(full(path));
      return Promise.resolve({
        type: e.type === "hardlink" ? "file" : e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: e.mtime,
        linkTarget: e.linkTarget,
        ino: 0,
      });
    },
    readdir: (path) => x.target.readdir(full(path)),
    body: (path) => x.target.body(full(path)),
  };
}

/**
 * Unpacks a tar archive into the plan as BuildKit's ADD does (moby's archive.Untar):
 * each entry's parent resolved inside the destination, missing parents made 0755 and
 * owned by root, every entry type kept (fifos and devices too) with its extended
 * attributes, owners from the archive unless --chown is given. File bodies stream: large
 * ones are spooled to disk, so memory does not grow with what the archive inflates to.
 */
export async function extractArchive(
  body: ReadableStream<Uint8Array> | Uint8Array,
  kind: Archive,
  x: Extraction,
): Promise<void> {
  const { dest, plan, options, clamp } = x;
  const view = extractionView(x);
  const budget = { left: MEMORY_BUDGET };
  const stream = decompressStream(toStream(body), kind);
  const source: LayerSource = { digest: `/${x.name}`, open: () => Promise.resolve(stream) };
  /** Where `name` (an archive path) lands, its parent resolved, relative to the image. */
  const place = async (name: string): Promise<string> => {
    const rel = contextPath(name);
    const parent = (await rootPath(view, parentOf(rel))).path;
    return joinPath(dest, joinPath(parent, rel.slice(rel.lastIndexOf("/") + 1)));
  };
  for await (const { header, body: entryBody } of openLayer(source)) {
    // Current BuildKit gives the unpacked entries the --chown owner (Untar's ChownOpts);
    // Docker 20.10's BuildKit left the archive's owners.
    const id = options.chown ?? { uid: header.uid, gid: header.gid };
    const meta = {
      mode: header.mode & 0o7777,
      ...id,
      mtime: clamp(header.mtime),
      size: 0,
      xattrs: Object.keys(header.xattrs).length > 0 ? header.xattrs : undefined,
    };
    if (contextPath(header.name) === "") {
      // "./": the destination itself takes the entry's metadata.
      await entryBody.cancel();
      if (header.type === "directory" && dest !== "") {
        plan.set(dest, { ...meta, path: dest, type: "directory", linkTarget: "" });
      }
      continue;
    }
    const path = await place(header.name);
    for (let p = parentOf(path); p !== "" && !plan.has(p); p = parentOf(p)) {
      const existing = await x.target.lstat(p);
      plan.set(p, {
        path: p,
        type: "directory",
        mode: existing?.type === "directory" ? existing.mode : 0o755,
        ...(existing?.type === "directory"
          ? { uid: existing.uid, gid: existing.gid }
          : { uid: 0, gid: 0 }),
        mtime: clamp(options.now),
        size: 0,
        linkTarget: "",
      });
    }
    if (header.type !== "directory" && plan.get(path)?.type === "directory") {
      // A non-directory replaces a directory and what the archive put in it.
      for (const k of plan.keys()) if (k.startsWith(`${path}/`)) plan.delete(k);
    }
    const base = { ...meta, path };
    if (header.type === "file") {
      const keep = await keepBody(entryBody, header.size, options.spool, budget);
      plan.set(path, { ...base, type: "file", size: header.size, linkTarget: "", body: keep });
      continue;
    }
    await entryBody.cancel();
    if (header.type === "directory") {
      plan.set(path, { ...base, type: "directory", linkTarget: "" });
    } else if (header.type === "symlink") {
      plan.set(path, { ...base, type: "symlink", linkTarget: header.linkname });
    } else if (header.type === "hardlink") {
      const linkTo = await place(header.linkname);
      const to = plan.get(linkTo) ?? await x.target.lstat(linkTo);
      // Anything but a directory can be linked (link(2) does not follow a symlink).
      if (!to || to.type === "directory" || to.type === "other") {
        throw new CopyError(
          `${options.keyword} failed: "${header.name}" in the archive is a hardlink to "${header.linkname}", which ${
            to ? `is a ${to.type === "other" ? "socket" : to.type}` : "does not exist"
          }`,
        );
      }
      if (!plan.has(linkTo)) {
        // A link to a file of the image below: the file comes into the layer too, as
        // overlayfs copies it up when the unpacking links to it.
        const st = to as SourceStat;
        plan.set(linkTo, {
          path: linkTo,
          type: st.type as PlannedEntry["type"],
          mode: st.mode,
          uid: st.uid,
          gid: st.gid,
          mtime: st.mtime,
          size: st.type === "file" ? st.size : 0,
          linkTarget: st.type === "symlink" ? st.linkTarget : "",
          devmajor: st.devmajor,
          devminor: st.devminor,
          xattrs: st.xattrs,
          ...(st.type === "file" ? { body: () => x.target.body(linkTo) } : {}),
        });
      }
      plan.set(path, { ...base, type: "hardlink", linkTarget: linkTo });
    } else {
      plan.set(path, {
        ...base,
        type: header.type,
        linkTarget: "",
        devmajor: header.devmajor,
        devminor: header.devminor,
      });
    }
  }
}

/** Unpacked files at least this large go to the spool directory instead of memory. */
const SPOOL_FROM = 64 * 1024;
/** Bytes of smaller unpacked files one ADD keeps in memory before spooling them too. */
const MEMORY_BUDGET = 32 * 1024 * 1024;

/**
 * Keeps an unpacked file's bytes until the layer is written: small ones in memory while
 * the budget lasts, the rest in a file of their own under `spool`.
 */
async function keepBody(
  body: ReadableStream<Uint8Array>,
  size: number,
  spool: string | undefined,
  budget: { left: number },
): Promise<() => Promise<ReadableStream<Uint8Array> | Uint8Array>> {
  if (spool === undefined || (size < SPOOL_FROM && size <= budget.left)) {
    budget.left -= size;
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    return () => Promise.resolve(bytes);
  }
  const path = join(spool, `add-${crypto.randomUUID()}`);
  const fh = await openFile(path, "wx", 0o600);
  try {
    for await (const chunk of body) {
      await fh.write(chunk);
      // Written: an inflated piece only this stream held is freed now (see dropChunk).
      dropChunk(chunk);
    }
  } finally {
    await fh.close();
  }
  return () => Promise.resolve(fileStream(path));
}
