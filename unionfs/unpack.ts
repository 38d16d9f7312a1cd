import { randomBytes } from "node:crypto";
import {
  chmod,
  lchown,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
} from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import process from "node:process";
import {
  ConfigError,
  hostId,
  type IdMapping,
  type ImageConfig,
  type RuntimeSpec,
  runtimeSpec,
} from "../image/mod.ts";
import type { ImageStore } from "../storage/mod.ts";
import { type FlattenResult, flattenToDirectory } from "./flatten.ts";
import { MergedTree, scanLayer, type TreeEntry } from "./merged_tree.ts";
import { mapLimit } from "./_map_limit.ts";
import type { LayerSource } from "./open_layer.ts";
import { resolveOnDisk } from "./resolve_in_root.ts";
import { isRoot } from "./_platform.ts";

/** Options of {@linkcode unpack}. */
export interface UnpackOptions {
  /**
   * UID mappings (`container:host:size` ranges): file owners are mapped to host IDs and
   * the spec gets a user namespace, as umoci's `--uid-map`. @default {[]}, or
   * `0:EUID:1` when `rootless`
   */
  uidMappings?: IdMapping[];
  /** GID mappings, as `uidMappings`. @default {[]}, or `0:EGID:1` when `rootless` */
  gidMappings?: IdMapping[];
  /**
   * For an unprivileged user, as umoci's `--rootless`: nothing is chowned (every file is
   * the caller's), device nodes are skipped, and the spec is made rootless (see
   * `RuntimeSpecOptions.rootless` in `image/`). @default {false}
   */
  rootless?: boolean;
  /** Layers decompressed at once. @default {2} */
  concurrency?: number;
}

/** What {@linkcode unpack} made. */
export interface UnpackResult {
  /** The bundle directory (absolute). */
  bundle: string;
  /** The flatten of the layers into `rootfs`: paths, bytes, what could not be made here. */
  rootfs: FlattenResult;
  /** The runtime spec written to `config.json`. */
  spec: RuntimeSpec;
}

/** The largest `/etc/passwd` or `/etc/group` read; a bigger one is an attack, not a file. */
const MAX_ACCOUNT_FILE = 16 << 20;

/**
 * The merged tree with owners mapped to host IDs, as umoci maps them on unpack: the
 * writer writes what the tree says, so the mapping happens once, here.
 */
class OwnerMappedTree extends MergedTree {
  readonly #uids: readonly IdMapping[];
  readonly #gids: readonly IdMapping[];

  constructor(uids: readonly IdMapping[], gids: readonly IdMapping[]) {
    super();
    this.#uids = uids;
    this.#gids = gids;
  }

  #map = (e: TreeEntry): TreeEntry => {
    const uid = hostId(e.uid, this.#uids);
    const gid = hostId(e.gid, this.#gids);
    const where = `/${e.path}`;
    if (uid === undefined) {
      throw new RangeError(`${where} is owned by uid ${e.uid}, which the UID mappings leave out`);
    }
    if (gid === undefined) {
      throw new RangeError(`${where} is owned by gid ${e.gid}, which the GID mappings leave out`);
    }
    return { ...e, uid, gid };
  };

  override *entries(): Generator<TreeEntry> {
    for (const e of super.entries()) yield this.#map(e);
  }

  override get root(): TreeEntry {
    return this.#map(super.root);
  }

  override get(path: string): TreeEntry | undefined {
    const e = super.get(path);
    return e && this.#map(e);
  }

  override list(path?: string): TreeEntry[] {
    return super.list(path).map(this.#map);
  }
}

async function mappedTree(
  layers: readonly LayerSource[],
  uids: readonly IdMapping[],
  gids: readonly IdMapping[],
  concurrency: number,
): Promise<MergedTree> {
  const scanned = await mapLimit(layers, concurrency, scanLayer);
  const tree = new OwnerMappedTree(uids, gids);
  scanned.forEach((entries, i) => tree.addLayer(entries, layers[i].digest));
  return tree;
}

/**
 * A file of the unpacked root, read through the rooted resolver (an image's
 * `/etc/passwd` may be a symlink to anywhere: it is followed inside the root only), or
 * undefined when it is missing or not a regular file.
 */
async function readInRoot(root: string, path: string): Promise<string | undefined> {
  const host = await resolveOnDisk(root, path);
  const st = await lstat(host).catch(() => null);
  if (!st?.isFile()) return undefined;
  if (st.size > MAX_ACCOUNT_FILE) {
    throw new ConfigError("config.User", `the image's /${path} is larger than 16 MiB`);
  }
  return await readFile(host, "utf8");
}

/** Decodes mountinfo's octal escapes (`\040` for a space). */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The flags of the mount holding `path` that the kernel locks for a user namespace
 * (`ro`, `nodev`, `noexec`, `nosuid`, `noatime`, `nodiratime`): a bind mount of it inside
 * one must carry them, or runc's mount fails. umoci reads them with statfs(2), which
 * neither runtime offers; /proc/self/mountinfo holds the same per-mount flags. `relatime`
 * is left out as umoci leaves it out (it tests statfs's flags for MS_RELATIME, which
 * statfs reports as ST_RELATIME, another bit): a bind without atime flags gets relatime
 * from the kernel anyway. Undefined when `path` does not exist.
 */
async function lockedMountFlags(path: string): Promise<string[] | undefined> {
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) return undefined;
  const info = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  let best: { point: string; options: Set<string> } | undefined;
  for (const line of info.split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (f.length < 6 || dash < 0) continue;
    const point = unescapeMount(f[4]);
    const under = point === "/" || real === point || real.startsWith(`${point}/`);
    // The deepest mount point holds the path; of equal ones, the last mounted.
    if (!under || (best && point.length < best.point.length)) continue;
    const options = new Set(f[5].split(","));
    if ((f[dash + 3] ?? "").split(",").includes("ro")) options.add("ro");
    best = { point, options };
  }
  const order = ["ro", "nodev", "noexec", "nosuid", "noatime", "nodiratime"];
  return order.filter((o) => best?.options.has(o));
}

/** Makes every directory under `dir` writable, so a failed rootless unpack can be removed. */
async function makeRemovable(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => {});
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name);
    if ((await lstat(p).catch(() => null))?.isDirectory()) await makeRemovable(p);
  }
}

/** Writes `text` to a new file at `path` and fsyncs it. */
async function writeDurably(path: string, text: string): Promise<void> {
  const fh = await open(path, "wx", 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Refuses a `dir` that exists and is not an empty directory, as umoci refuses a bundle. */
async function checkTarget(dir: string): Promise<void> {
  const st = await lstat(dir).catch((e) => {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  });
  if (!st) return;
  if (!st.isDirectory()) {
    throw new Error(`Cannot unpack into "${dir}": it exists and is not a directory`);
  }
  if ((await readdir(dir)).length > 0) {
    throw new Error(`Cannot unpack into "${dir}": the directory is not empty`);
  }
}

/** Builds the bundle in `tmp`: the rootfs, then config.json from what the rootfs holds. */
async function build(
  tmp: string,
  config: ImageConfig,
  layers: readonly LayerSource[],
  rootless: boolean,
  uids: IdMapping[],
  gids: IdMapping[],
  concurrency: number,
): Promise<Omit<UnpackResult, "bundle">> {
  const rootfs = join(tmp, "rootfs");
  const mapped = uids.length > 0 || gids.length > 0;
  // Rootless: no chown (the caller owns every file) and no devices, as umoci. Mapped
  // owners are chowned even by a non-root caller, who then needs the privilege (umoci
  // fails the same way); otherwise the writer's default: owners and devices as root.
  const tree = mapped && !rootless ? await mappedTree(layers, uids, gids, concurrency) : undefined;
  const result = await flattenToDirectory(layers, rootfs, {
    tree,
    concurrency,
    owners: rootless ? false : mapped ? true : undefined,
    devices: rootless ? false : undefined,
  });
  // umoci owns the root by the mapping's root when no layer has an entry for it.
  if (tree?.root.implicit) await lchown(rootfs, hostId(0, uids)!, hostId(0, gids)!);
  const spec = runtimeSpec(config, {
    passwd: await readInRoot(rootfs, "etc/passwd"),
    group: await readInRoot(rootfs, "etc/group"),
    uidMappings: uids,
    gidMappings: gids,
    rootless,
    resolvConfOptions: rootless ? await lockedMountFlags("/etc/resolv.conf") : undefined,
  });
  // Tab-indented with a final newline, as umoci (Go's json.Encoder) writes it.
  await writeDurably(join(tmp, "config.json"), JSON.stringify(spec, null, "\t") + "\n");
  return { rootfs: result, spec };
}

/**
 * Unpacks the image `image` (a reference, digest or ID in `store`) into `dir` as an OCI
 * runtime bundle, the way `umoci unpack` does: `dir/rootfs` is the image's layers
 * flattened through the rooted writer ({@linkcode flattenToDirectory}), and
 * `dir/config.json` the runtime spec made from the image config (`runtimeSpec` of
 * `image/`), its user resolved against the rootfs's own `/etc/passwd` and `/etc/group`
 * read through the rooted resolver. Then `runc run --bundle dir ID` runs the image.
 *
 * `dir` must not exist or be an empty directory. The bundle is built in a directory
 * beside it and renamed into place at the end, so a failure (a bad layer, a missing
 * user) leaves `dir` as it was; the bundle is mode 0700, as umoci makes it, so that other
 * users cannot reach setuid files in it.
 *
 * What umoci writes besides, and stratum does not: `umoci.json` and the mtree manifest
 * that `umoci repack` needs.
 *
 * @example
 * ```ts ignore
 * const { spec } = await unpack(await openStore("/var/lib/stratum"), "busybox", "bundle");
 * console.log(spec.process.args); // then: runc run --bundle bundle my-container
 * ```
 */
export async function unpack(
  store: ImageStore,
  image: string,
  dir: string,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  if (dir === "") throw new TypeError("unpack: the bundle directory is empty");
  const bundle = resolve(dir);
  await checkTarget(bundle);
  const img = await store.resolve(image);
  const config: ImageConfig = img.config;
  if (config.os !== "linux") {
    throw new ConfigError("os", `cannot unpack an image for OS ${JSON.stringify(config.os)}`);
  }
  const rootless = options.rootless ?? false;
  // umoci's rootless default: the caller's own IDs are root inside.
  const self = (id: number | undefined) => [{ containerID: 0, hostID: id ?? 0, size: 1 }];
  const uids = options.uidMappings ?? (rootless ? self(process.geteuid?.()) : []);
  const gids = options.gidMappings ?? (rootless ? self(process.getegid?.()) : []);
  const concurrency = options.concurrency ?? 2;
  const layers = img.layers;

  const tmp = join(
    dirname(bundle),
    `.${basename(bundle)}.unpack-${randomBytes(6).toString("hex")}`,
  );
  await mkdir(tmp, { mode: 0o700 });
  let made: Omit<UnpackResult, "bundle">;
  try {
    made = await build(tmp, config, layers, rootless, uids, gids, concurrency);
    await rename(tmp, bundle).catch((e) => {
      const code = (e as { code?: string }).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOTDIR") throw e;
      throw new Error(`Cannot unpack into "${dir}": it was filled while unpacking`, { cause: e });
    });
  } catch (e) {
    if (!isRoot()) await makeRemovable(tmp);
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const parent = await open(dirname(bundle), "r");
  try {
    await parent.sync();
  } finally {
    await parent.close();
  }
  return { bundle, ...made };
}
