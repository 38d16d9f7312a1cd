import { createLayer, type CreateLayerOptions, type LayerBlob } from "./create_layer.ts";
import { PathError } from "./errors.ts";
import type { FileStat, MergedTree, NodeType } from "./merged_tree.ts";
import { type LayerSource, openLayer } from "./open_layer.ts";
import { cleanComponents, compareNames, OPAQUE_MARKER, WHITEOUT_PREFIX } from "./_path.ts";
import type { WriteEntry } from "./_tar_writer.ts";

/** Metadata a write may set; what is left out keeps its default or current value. */
export type CowMeta = Partial<Pick<FileStat, "mode" | "uid" | "gid" | "mtime">>;

type Content = Uint8Array | { layer: number; entry: number };

interface Upper {
  stat: FileStat;
  content?: Content;
  /** A directory made where a lower one was removed: it must hide the lower children. */
  opaque?: boolean;
}

const WHITEOUT = "whiteout" as const;

/**
 * A writable layer held in memory over read-only lowers (a {@linkcode MergedTree} and the
 * layer sources it was built from). Reads fall through to the lowers; writes and metadata
 * changes copy the path up (a lower file's bytes are referenced, not read, until commit);
 * deletes record whiteouts; a directory made where a lower one was deleted is opaque.
 * `commit()` gives the changes as a layer. Paths are taken literally: symlinks in them are
 * not followed. Hardlinks of lower files are copied up as separate files.
 */
export class CowLayer {
  #lower: MergedTree;
  #sources: readonly LayerSource[];
  #upper = new Map<string, Upper | typeof WHITEOUT>();

  /** Opens an empty writable layer over `lower`, whose content lives in `sources`. */
  constructor(lower: MergedTree, sources: readonly LayerSource[]) {
    this.#lower = lower;
    this.#sources = sources;
  }

  /** The path's metadata, or undefined when it does not exist. */
  stat(path: string): FileStat | undefined {
    return this.#find(cleanComponents(path).join("/"))?.stat;
  }

  /** The names in a directory, sorted. */
  readdir(path: string): string[] {
    const p = this.#dir(path, "readdir");
    const names = new Set<string>();
    if (this.#lowerVisible(p)) {
      for (const e of this.#lower.list(p)) names.add(e.path.slice(e.path.lastIndexOf("/") + 1));
    }
    const prefix = p ? `${p}/` : "";
    for (const [k, v] of this.#upper) {
      if (!k.startsWith(prefix) || k === p || k.slice(prefix.length).includes("/")) continue;
      const name = k.slice(prefix.length);
      if (v === WHITEOUT) names.delete(name);
      else names.add(name);
    }
    return [...names].sort(compareNames);
  }

  /** A regular file's bytes (a lower file is read from its layer). */
  async readFile(path: string): Promise<Uint8Array> {
    const p = cleanComponents(path).join("/");
    const found = this.#find(p);
    if (!found) throw new PathError("ENOENT", "read", path, "no such file");
    if (found.stat.type !== "file") {
      throw new PathError("EISDIR", "read", path, `it is a ${found.stat.type}`);
    }
    const c = found.content!;
    if (c instanceof Uint8Array) return c;
    return (await this.#readLower([c])).get(`${c.layer}:${c.entry}`)!;
  }

  /** Writes a regular file, replacing a file or symlink that is there. */
  writeFile(path: string, data: Uint8Array | string, meta: CowMeta = {}): void {
    const p = this.#newPath(path, "write", true);
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#put(p, { stat: this.#statOf("file", meta, bytes.length), content: bytes });
  }

  /** Makes a directory; with `recursive`, its parents too, and an existing one is fine. */
  mkdir(path: string, meta: CowMeta = {}, options: { recursive?: boolean } = {}): void {
    const parts = cleanComponents(path);
    if (options.recursive) {
      for (let i = 1; i <= parts.length; i++) {
        const p = parts.slice(0, i).join("/");
        const st = this.stat(p);
        if (st?.type === "directory") continue;
        if (st) throw new PathError("ENOTDIR", "mkdir", path, `"${p}" is a ${st.type}`);
        this.#put(p, { stat: this.#statOf("directory", meta, 0) });
      }
      return;
    }
    const p = this.#newPath(path, "mkdir", false);
    this.#put(p, { stat: this.#statOf("directory", meta, 0) });
  }

  /** Makes a symlink at `path` pointing to `target`. */
  symlink(target: string, path: string, meta: CowMeta = {}): void {
    const p = this.#newPath(path, "symlink", false);
    this.#put(p, {
      stat: { ...this.#statOf("symlink", meta, 0), mode: 0o777, linkTarget: target },
    });
  }

  /** Changes mode, owner or mtime, copying the path up. */
  setMeta(path: string, meta: CowMeta): void {
    const p = cleanComponents(path).join("/");
    const found = this.#find(p);
    if (!found) throw new PathError("ENOENT", "change", path, "no such file or directory");
    const u = this.#upper.get(p);
    this.#upper.set(p, {
      ...found,
      stat: { ...found.stat, ...meta },
      opaque: u !== undefined && u !== WHITEOUT ? u.opaque : false,
    });
  }

  /** Removes a path; a non-empty directory needs `recursive`. */
  remove(path: string, options: { recursive?: boolean } = {}): void {
    const p = cleanComponents(path).join("/");
    if (p === "") throw new PathError("EINVAL", "remove", path, "it is the root");
    const st = this.stat(p);
    if (!st) throw new PathError("ENOENT", "remove", path, "no such file or directory");
    if (st.type === "directory" && !options.recursive && this.readdir(p).length > 0) {
      throw new PathError("ENOTEMPTY", "remove", path, "the directory is not empty");
    }
    for (const k of [...this.#upper.keys()]) if (k.startsWith(`${p}/`)) this.#upper.delete(k);
    if (this.#lowerHas(p)) this.#upper.set(p, WHITEOUT);
    else this.#upper.delete(p);
  }

  /** Moves a path (and everything under a directory) to `to`, replacing a file there. */
  rename(from: string, to: string): void {
    const f = cleanComponents(from).join("/");
    const st = this.stat(f);
    if (!st) throw new PathError("ENOENT", "rename", from, "no such file or directory");
    const t = cleanComponents(to).join("/");
    if (t === f) return;
    if (t.startsWith(`${f}/`)) {
      throw new PathError("EINVAL", "rename", from, `"${to}" is inside it`);
    }
    const existing = this.stat(t);
    if (existing?.type === "directory") {
      if (st.type !== "directory") throw new PathError("EISDIR", "rename", to, "it is a directory");
      if (this.readdir(t).length > 0) {
        throw new PathError("ENOTEMPTY", "rename", to, "the directory is not empty");
      }
    } else if (existing && st.type === "directory") {
      throw new PathError("ENOTDIR", "rename", to, `it is a ${existing.type}`);
    }
    this.#newPath(to, "rename", true, true);
    const moved: [string, Upper][] = [];
    const collect = (p: string, rel: string) => {
      const found = this.#find(p)!;
      moved.push([rel, { stat: found.stat, content: found.content }]);
      if (found.stat.type === "directory") {
        for (const name of this.readdir(p)) collect(`${p}/${name}`, `${rel}/${name}`);
      }
    };
    collect(f, t);
    this.remove(f, { recursive: true });
    if (this.stat(t)) this.remove(t, { recursive: true });
    for (const [p, u] of moved) this.#put(p, u);
  }

  /** The changes as a layer: sorted entries, whiteouts, opaque markers, file bodies. */
  commit(options: CreateLayerOptions = {}): LayerBlob {
    const keys = [...this.#upper.keys()].sort(compareNames);
    const refs = keys.flatMap((k) => {
      const u = this.#upper.get(k)!;
      return u !== WHITEOUT && u.content && !(u.content instanceof Uint8Array) ? [u.content] : [];
    });
    return createLayer(this.#entries(keys, refs), options);
  }

  async *#entries(
    keys: string[],
    refs: { layer: number; entry: number }[],
  ): AsyncGenerator<WriteEntry> {
    const lower = await this.#readLower(refs);
    for (const k of keys) {
      const u = this.#upper.get(k)!;
      const slash = k.lastIndexOf("/") + 1;
      if (u === WHITEOUT) {
        yield {
          header: {
            name: `${k.slice(0, slash)}${WHITEOUT_PREFIX}${k.slice(slash)}`,
            type: "file",
            size: 0,
          },
        };
        continue;
      }
      const s = u.stat;
      const c = u.content;
      const body = c instanceof Uint8Array ? c : c ? lower.get(`${c.layer}:${c.entry}`) : undefined;
      yield {
        header: {
          name: k,
          type: s.type,
          mode: s.mode,
          uid: s.uid,
          gid: s.gid,
          size: s.type === "file" ? s.size : 0,
          mtime: s.mtime,
          linkname: s.linkTarget,
        },
        body,
      };
      if (u.opaque) yield { header: { name: `${k}/${OPAQUE_MARKER}`, type: "file", size: 0 } };
    }
  }

  #statOf(type: NodeType, meta: CowMeta, size: number): FileStat {
    return {
      type,
      mode: meta.mode ?? (type === "directory" ? 0o755 : 0o644),
      uid: meta.uid ?? 0,
      gid: meta.gid ?? 0,
      size,
      mtime: meta.mtime ?? Math.floor(Date.now() / 1000),
      linkTarget: "",
    };
  }

  #put(p: string, u: Upper): void {
    const before = this.#upper.get(p);
    // A directory where a lower path was deleted must not show the lower's children.
    if (u.stat.type === "directory" && this.#lowerHas(p) && before === WHITEOUT) u.opaque = true;
    this.#upper.set(p, u);
  }

  /** Checks the parent is a directory and the path is free (or replaceable); returns it. */
  #newPath(path: string, op: string, replaceFile: boolean, allowDir = false): string {
    const parts = cleanComponents(path);
    if (parts.length === 0) throw new PathError("EEXIST", op, path, "it is the root");
    const p = parts.join("/");
    const parent = parts.slice(0, -1).join("/");
    const pst = this.stat(parent);
    if (!pst) throw new PathError("ENOENT", op, path, `no directory "${parent}"`);
    if (pst.type !== "directory") {
      throw new PathError("ENOTDIR", op, path, `"${parent}" is a ${pst.type}`);
    }
    const st = this.stat(p);
    if (st && !(allowDir && st.type === "directory")) {
      if (!replaceFile) throw new PathError("EEXIST", op, path, "it already exists");
      if (st.type === "directory") throw new PathError("EISDIR", op, path, "it is a directory");
      this.remove(p);
    }
    return p;
  }

  #dir(path: string, op: string): string {
    const p = cleanComponents(path).join("/");
    const st = this.stat(p);
    if (!st) throw new PathError("ENOENT", op, path, "no such directory");
    if (st.type !== "directory") throw new PathError("ENOTDIR", op, path, `it is a ${st.type}`);
    return p;
  }

  /** True when the lowers have `p` (whether or not the upper hides it). */
  #lowerHas(p: string): boolean {
    return this.#lowerVisibleParent(p) && this.#lower.get(p) !== undefined;
  }

  /** True when lower children of directory `p` show through. */
  #lowerVisible(p: string): boolean {
    const u = this.#upper.get(p);
    if (u === WHITEOUT || (u && u.opaque)) return false;
    return this.#lowerVisibleParent(p);
  }

  #lowerVisibleParent(p: string): boolean {
    const parts = p === "" ? [] : p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const u = this.#upper.get(parts.slice(0, i).join("/"));
      if (u === WHITEOUT || (u && (u.opaque || u.stat.type !== "directory"))) return false;
    }
    return true;
  }

  #find(p: string): { stat: FileStat; content?: Content } | undefined {
    if (p !== "") {
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) {
        const u = this.#upper.get(parts.slice(0, i).join("/"));
        if (u === WHITEOUT) return undefined;
        if (u && u.stat.type !== "directory") return undefined;
      }
    }
    const u = this.#upper.get(p);
    if (u === WHITEOUT) return undefined;
    if (u) return u;
    if (!this.#lowerVisibleParent(p)) return undefined;
    const e = p === "" ? this.#lower.root : this.#lower.get(p);
    if (!e) return undefined;
    return {
      stat: {
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: e.mtime,
        linkTarget: e.linkTarget,
      },
      content: e.type === "file" ? { layer: e.contentLayer, entry: e.contentEntry } : undefined,
    };
  }

  /** Reads the bodies `refs` name, each layer once, in memory (this layer is in-memory). */
  async #readLower(refs: { layer: number; entry: number }[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const byLayer = new Map<number, Set<number>>();
    for (const r of refs) {
      if (!byLayer.has(r.layer)) byLayer.set(r.layer, new Set());
      byLayer.get(r.layer)!.add(r.entry);
    }
    for (const [layer, wanted] of byLayer) {
      let index = 0;
      let left = wanted.size;
      for await (const { body } of openLayer(this.#sources[layer])) {
        if (!wanted.has(index++)) continue;
        out.set(`${layer}:${index - 1}`, new Uint8Array(await new Response(body).arrayBuffer()));
        if (--left === 0) break;
      }
    }
    return out;
  }
}
