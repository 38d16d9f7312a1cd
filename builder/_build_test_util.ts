/**
 * Helpers for the build engine's tests: a store in a temporary directory holding a small
 * base image (made in-process as a layer, no daemon) and a context directory.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type ImageStore, openStore } from "../storage/mod.ts";
import { storeLayer, type WriteEntry } from "../unionfs/mod.ts";
import { storeImage } from "./build_output.ts";
import { initialStageConfig } from "./instructions.ts";
import { TreeFs } from "./copy_source.ts";

/** A file of a test base image or context. */
export interface TestFile {
  /** Relative path; a trailing `/` makes a directory. */
  path: string;
  /** Content of a regular file. */
  body?: string;
  /** Symlink target. */
  link?: string;
  /** Permission bits. */
  mode?: number;
  /** Owner. */
  uid?: number;
  /** Group. */
  gid?: number;
}

/** The files of the base image the tests build on: passwd and group, a shell, a symlink. */
export const BASE_FILES: TestFile[] = [
  { path: "bin/" },
  { path: "bin/sh", body: "#!fake shell\n", mode: 0o755 },
  { path: "etc/" },
  {
    path: "etc/passwd",
    body:
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
  },
  { path: "etc/group", body: "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:\n" },
  { path: "usr/" },
  { path: "usr/local/" },
  { path: "usr/local/bin/" },
  { path: "lib", link: "usr/lib" },
  { path: "usr/lib/" },
];

/** A temporary store with the base image tagged `test/base:1`. */
export async function storeWithBase(
  base: TestFile[] = BASE_FILES,
  extra: { onbuild?: string[]; tag?: string } = {},
): Promise<{ store: ImageStore; root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), "stratum-build-store-"));
  const store = await openStore(root);
  const entries: WriteEntry[] = base.map((f) => ({
    header: {
      name: f.path,
      type: f.link !== undefined ? "symlink" : f.path.endsWith("/") ? "directory" : "file",
      mode: f.mode ?? (f.path.endsWith("/") ? 0o755 : 0o644),
      uid: f.uid ?? 0,
      gid: f.gid ?? 0,
      size: f.body ? new TextEncoder().encode(f.body).length : 0,
      mtime: 1_600_000_000,
      linkname: f.link ?? "",
    },
    body: f.body === undefined ? undefined : new TextEncoder().encode(f.body),
  }));
  const { descriptor, diffId } = await storeLayer(store.blobs, entries);
  const { image } = initialStageConfig(null, { os: "linux", architecture: "amd64" });
  delete image.config!.WorkingDir;
  image.config!.Cmd = ["sh"];
  if (extra.onbuild) image.config!.OnBuild = extra.onbuild;
  image.created = "2024-01-01T00:00:00Z";
  image.history = [{ created: "2024-01-01T00:00:00Z", created_by: "base layer" }];
  image.rootfs = { type: "layers", diff_ids: [diffId] };
  await storeImage(store, image, [{ descriptor, diffId }], [extra.tag ?? "test/base:1"]);
  return { store, root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Writes files into a new temporary directory (a build context). */
export async function contextDir(files: TestFile[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-build-ctx-"));
  await writeFiles(dir, files);
  return dir;
}

/** Writes test files under `dir`. */
export async function writeFiles(dir: string, files: TestFile[]): Promise<void> {
  for (const f of files) {
    const p = join(dir, f.path);
    if (f.path.endsWith("/")) {
      await mkdir(p, { recursive: true });
      continue;
    }
    await mkdir(dirname(p), { recursive: true });
    if (f.link !== undefined) await symlink(f.link, p);
    else await writeFile(p, f.body ?? "", { mode: f.mode ?? 0o644 });
  }
}

/** One path of a built image's merged tree, as tests compare it. */
export interface TreeRow {
  type: string;
  mode: string;
  owner: string;
  content?: string;
  link?: string;
}

/** The merged tree of a built image: path → type, mode, owner, content or link target. */
export async function treeOf(
  store: ImageStore,
  imageId: string,
  under?: string,
): Promise<Record<string, TreeRow>> {
  const img = await store.resolve(imageId);
  const layers = img.manifest.layers.map((descriptor, i) => ({
    descriptor,
    diffId: img.config.rootfs.diff_ids[i],
  }));
  const fs = new TreeFs(store.blobs, layers, "test image");
  const tree = await fs.tree();
  const out: Record<string, TreeRow> = {};
  for (const e of tree.entries()) {
    if (under !== undefined && e.path !== under && !e.path.startsWith(`${under}/`)) continue;
    const row: TreeRow = {
      type: e.type,
      mode: e.mode.toString(8),
      owner: `${e.uid}:${e.gid}`,
    };
    if (e.type === "file") row.content = new TextDecoder().decode(await fs.body(e.path));
    if (e.type === "symlink") row.link = e.linkTarget;
    out[e.path] = row;
  }
  return out;
}

/** The sha256 of `bytes`, as a digest, by node:crypto (not the code under test). */
export function shaOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** `n` bytes of a pattern that `seed` shifts: files of a size that differ from each other. */
export function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}
