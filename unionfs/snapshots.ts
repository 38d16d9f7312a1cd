import {
  chmod,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  type Digest,
  DigestMismatchError,
  DigestStream,
  parseDigest,
  sha256,
} from "../digest/mod.ts";
import type { LayerRef } from "../image/mod.ts";
import { type BlobStore, readLayers } from "../storage/mod.ts";
import { applyEntries, applyLayer } from "./apply_layer.ts";
import { mountOverlay, overlaySupported, unmountOverlay } from "./overlay.ts";
import { decompress, type LayerSource, openLayer, openLayerEntries } from "./open_layer.ts";
import { classify } from "./_path.ts";
import { InvalidLayerError } from "./errors.ts";
import { isRoot, mknod, setXattrs, unmount } from "./_platform.ts";
import { type WriteEntry, writeTar } from "./_tar_writer.ts";
import { withFileLock } from "./_file_lock.ts";
import { type DirectApplyPlan, type HeaderFacts, prepareDirectApply } from "./_direct_apply.ts";
import { mapLimit } from "./_map_limit.ts";

/**
 * The chain IDs of a layer stack, bottom first (OCI image-spec config.md): the first is
 * the first diff_id, each next one `sha256(previous + " " + diff_id)`. A chain ID names
 * the whole stack below and including a layer, so equal IDs mean equal trees.
 */
export async function chainIds(diffIds: readonly string[]): Promise<Digest[]> {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    parseDigest(diffId);
    out.push(out.length === 0 ? diffId as Digest : await sha256(`${out.at(-1)} ${diffId}`));
  }
  return out;
}

// Overlay reads its markers from trusted.* as root and from user.* in rootless mounts
// (the `userxattr` option), where trusted.* cannot be written.
function opaqueXattr(): string {
  return isRoot() ? "trusted.overlay.opaque" : "user.overlay.opaque";
}

const TMP_PREFIX = ".tmp-";
/** Where Linux names this boot, and the file a store records the boot of its snapshots in. */
const BOOT_ID = "/proc/sys/kernel/random/boot_id";
const BOOT_MARK = "boot";
const UNPACK_CONCURRENCY = 3;

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return false;
    throw e;
  }
}

/**
 * The directory `parts` names under `root` as a real directory, made (0755) where missing,
 * or null when some component is a file or a symlink: markers never follow links.
 */
async function plainDir(root: string, parts: string[]): Promise<string | null> {
  let at = root;
  for (const part of parts) {
    at = join(at, part);
    try {
      const st = await lstat(at);
      if (!st.isDirectory()) return null;
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
      await mkdir(at, { mode: 0o755 });
    }
  }
  return at;
}

/**
 * Unpacks one layer into empty directory `dir` in kernel overlay form: its own entries
 * only, whiteouts as 0/0 character devices, opaque markers as the overlay opaque xattr.
 * The uncompressed bytes must hash to `diffId`.
 */
async function unpackOverlayForm(source: LayerSource, diffId: string, dir: string): Promise<void> {
  const hash = new DigestStream();
  const whiteouts: string[][] = [];
  const opaques: string[][] = [];
  const plain: LayerSource = {
    digest: source.digest,
    open: async () => (await decompress(await source.open())).pipeThrough(hash),
  };
  // Markers are held back from applyLayer, which would treat them as deletions of lower
  // paths (of which this directory has none), and written in overlay's form afterwards.
  async function* entries(): AsyncGenerator<WriteEntry> {
    for await (const { header, body } of openLayer(plain)) {
      const what = classify(header.name);
      if (what.kind === "add") {
        yield { header, body };
        continue;
      }
      await body.cancel();
      if (what.kind === "whiteout") whiteouts.push(what.parts);
      else if (what.kind === "opaque") opaques.push(what.parts);
    }
  }
  await applyLayer(
    { digest: source.digest, open: () => Promise.resolve(writeTar(entries())) },
    dir,
  );
  const { digest } = await hash.result;
  if (digest !== diffId) {
    throw new DigestMismatchError(diffId, digest, `the uncompressed layer ${source.digest}`);
  }
  const restore = new Map<string, number>();
  async function keepTime(path: string): Promise<void> {
    if (!restore.has(path)) restore.set(path, (await lstat(path)).mtimeMs / 1000);
  }
  for (const parts of whiteouts) {
    const parent = await plainDir(dir, parts.slice(0, -1));
    const target = parent && join(parent, parts[parts.length - 1]);
    // The layer re-adding a path it also whites out keeps its own entry.
    if (!target || await exists(target)) continue;
    await keepTime(parent);
    await mknod(target, "char", 0, 0, 0);
  }
  const marks: { path: string; xattrs: Record<string, Uint8Array> }[] = [];
  for (const parts of opaques) {
    const d = await plainDir(dir, parts);
    if (d) marks.push({ path: parts.join("/") || ".", xattrs: { [opaqueXattr()]: enc("y") } });
  }
  const refused = await setXattrs(dir, marks);
  if (refused.length > 0) {
    throw new Error(`Cannot mark opaque directories in ${dir}: ${refused.join("; ")}`);
  }
  for (const [path, t] of restore) await lutimes(path, t, t);
}

/** Makes `dir` an empty directory of mode 0755, removing what is there. */
async function emptyDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o755 });
  // mkdir's mode passes through the umask; a merged root must read as 0755.
  await chmod(dir, 0o755);
}

/**
 * Runs `apply` on a root that shows `lowers` (bottom first) with `upper` on top, so that
 * what it writes lands in `upper` in overlay form; with no lowers, on `upper` itself.
 */
async function applyOver(
  lowers: readonly string[],
  upper: string,
  apply: (root: string) => Promise<void>,
): Promise<void> {
  if (lowers.length === 0) return await apply(upper);
  const scratch = `${upper}-mount`;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(join(scratch, "work"), { recursive: true });
  await mkdir(join(scratch, "root"));
  try {
    // Volatile: nothing in a snapshot is synced anyway (see the class comment), and a
    // layer that changes lower files would otherwise wait for a sync after each copy-up.
    await mountOverlay(lowers, upper, join(scratch, "work"), join(scratch, "root"), {
      volatile: true,
    });
    try {
      await apply(join(scratch, "root"));
    } finally {
      // A mount left behind would pin the snapshot directory: detach it at least.
      await unmountOverlay(join(scratch, "root")).catch(() => unmount(join(scratch, "root"), true));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A layer's decompressed entries, hashed as they are read; `check` compares to diff_id. */
function verified(source: LayerSource, diffId: string) {
  const hash = new DigestStream();
  const plain: LayerSource = {
    digest: source.digest,
    open: async () => (await decompress(await source.open())).pipeThrough(hash),
  };
  return {
    entries: openLayerEntries(plain),
    async check(): Promise<void> {
      const { digest } = await hash.result;
      if (digest !== diffId) {
        throw new DigestMismatchError(diffId, digest, `the uncompressed layer ${source.digest}`);
      }
    },
  };
}

/** Options of {@linkcode SnapshotStore.prepare}. */
export interface PrepareOptions {
  /**
   * The headers of a layer the caller made (one a build just wrote), in its order, or
   * what its writer worked out from them; else undefined. With them a layer that only adds
   * is written straight into its snapshot directory instead of through an overlay mount of
   * the snapshots below, where the kernel makes every create twice over; its bytes still
   * come from its blob. Called only for layers whose snapshot is missing, over others.
   */
  headers?: (
    layer: LayerRef,
    index: number,
  ) => Iterable<HeaderFacts> | DirectApplyPlan | undefined;
}

/**
 * Whether a layer with `headers` can be written straight into `tmp` over `lowers` (and if
 * so, `tmp` is made ready for it). A function of its own: the headers (a name per file of
 * a large COPY) must not stay alive in the frame that then writes the layer.
 */
async function directApplies(
  headers: Iterable<HeaderFacts> | DirectApplyPlan | undefined,
  lowers: string[],
  tmp: string,
): Promise<boolean> {
  if (!headers) return false;
  let direct = false;
  await applyOver(lowers, tmp, async (root) => {
    direct = await prepareDirectApply(headers, root);
  });
  return direct;
}

/** What {@linkcode SnapshotStore.gc} removed. */
export interface SnapshotGcResult {
  /** Chain IDs whose snapshots were removed. */
  removed: Digest[];
}

/**
 * Unpacked layer snapshots for kernel overlay mounts, kept under `<root>/snapshots/`: one
 * directory per layer chain (named by the chain ID's hex), holding only that layer's own
 * changes in overlay form (whiteouts as 0/0 character devices, opaque directories by
 * xattr). A stack mounts with `lowerdir` = its chain's directories; stacks that share a
 * base share its directories. Each chain has a lock (in-process and across processes);
 * a snapshot appears by rename once complete, so a crash never leaves a half one. Nothing
 * in a snapshot is synced (tens of thousands of files; the layer blobs are the durable
 * copy), so after a crash one may hold files the disk never got: the snapshots of an
 * earlier boot are removed before the store is first used in this one.
 *
 * @example
 * ```ts ignore
 * const snapshots = new SnapshotStore("/var/lib/stratum");
 * const lowers = await snapshots.prepare(layers, store.blobs);
 * await mountOverlay(lowers, upper, work, rootfs);
 * ```
 */
export class SnapshotStore {
  #dir: string;
  #current: Promise<void> | undefined;

  /** A snapshot store under `root` (the image store's root, or any directory). */
  constructor(root: string) {
    this.#dir = join(root, "snapshots");
  }

  /** The directory that holds (or will hold) `chainId`'s snapshot. */
  path(chainId: string): string {
    return join(this.#dir, parseDigest(chainId).hex);
  }

  /** True when `chainId`'s snapshot is complete on disk. */
  async has(chainId: string): Promise<boolean> {
    await this.#thisBoot();
    return await exists(this.path(chainId));
  }

  /** The chain IDs of every complete snapshot. */
  async list(): Promise<Digest[]> {
    await this.#thisBoot();
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }

  #lock<T>(hex: string, fn: () => Promise<T>): Promise<T> {
    return withFileLock(join(this.#dir, `${hex}.lock`), fn);
  }

  /**
   * Removes the snapshots of an earlier boot, once per store object, under a lock of the
   * whole store: the first process of a boot to get it sweeps and records the boot, the
   * others then find it recorded. Without a boot id (not Linux) snapshots are kept.
   */
  #thisBoot(): Promise<void> {
    return this.#current ??= (async () => {
      const boot = (await readFile(BOOT_ID, "utf8").catch(() => "")).trim();
      if (!boot) return;
      await mkdir(this.#dir, { recursive: true });
      const mark = join(this.#dir, BOOT_MARK);
      await withFileLock(`${mark}.lock`, async () => {
        const recorded = await readFile(mark, "utf8").catch(() => undefined);
        if (recorded === boot) return;
        // No record yet (a new store, or one from before records): its snapshots are taken
        // as this boot's.
        if (recorded !== undefined) await this.#sweep(new Set());
        const tmp = `${mark}.${process.pid}.tmp`;
        await writeFile(tmp, boot);
        await rename(tmp, mark);
      });
    })();
  }

  /**
   * The snapshot directories of a layer stack, bottom first, ready to be overlay lower
   * dirs. Layers whose chain has no snapshot yet are unpacked from `blobs`; the rest are
   * reused. Where overlay can be mounted, a layer is applied by unionfs's one writer
   * *through an overlay mount of the snapshots below it*, so the kernel records its
   * whiteouts and copy-ups: what a RUN step sees over the
   * snapshots is then by construction what `applyLayer` (and `flattenToDirectory`) make of
   * the stack, symlinked parents, hardlinks to lower files and opaque roots included. A
   * layer whose `options.headers` show it only adds is written straight into its directory
   * instead, which gives the same view (`_direct_apply.ts`), or through the mount after all
   * when one of its hardlinks turns out to be to a lower file.
   * Rejects with `DigestMismatchError` when a layer's uncompressed bytes do not match its
   * diff_id, leaving no snapshot behind.
   */
  async prepare(
    layers: readonly LayerRef[],
    blobs: BlobStore,
    options: PrepareOptions = {},
  ): Promise<string[]> {
    const ids = await chainIds(layers.map((l) => l.diffId));
    await this.#thisBoot();
    await mkdir(this.#dir, { recursive: true });
    const sourceOf = (layer: LayerRef): LayerSource => readLayers(blobs, [layer])[0];
    if (!(await overlaySupported())) {
      // No mounts here: each layer alone, in overlay form, a few at a time.
      return mapLimit(
        layers,
        UNPACK_CONCURRENCY,
        (layer, i) =>
          this.#make(ids[i], i, (tmp) => unpackOverlayForm(sourceOf(layer), layer.diffId, tmp)),
      );
    }
    const out: string[] = [];
    for (const [i, layer] of layers.entries()) {
      const lowers = [...out];
      out.push(
        await this.#make(ids[i], i, async (tmp) => {
          const digest = layer.descriptor.digest;
          const fill = async (root: string, onlyAdds = false) => {
            const v = verified(sourceOf(layer), layer.diffId);
            await applyEntries(v.entries, root, { digest, onlyAdds });
            await v.check();
          };
          const direct = lowers.length > 0 &&
            await directApplies(options.headers?.(layer, i), lowers, tmp);
          if (direct) {
            try {
              // Straight into the directory, the blob is the layer whose headers were checked.
              return await fill(tmp, true);
            } catch (e) {
              // A hardlink the plan could not check (to a lower file, or to a directory)
              // fails in the upper directory alone: the mount decides it, from an empty
              // directory again, reading the blob a second time.
              if (!(e instanceof InvalidLayerError)) throw e;
              await emptyDir(tmp);
            }
          }
          await applyOver(lowers, tmp, (root) => fill(root));
        }),
      );
    }
    return out;
  }

  /** Makes `chainId`'s snapshot with `fill` (into an empty directory) unless it exists. */
  #make(chainId: string, i: number, fill: (tmp: string) => Promise<void>): Promise<string> {
    const target = this.path(chainId);
    const hex = parseDigest(chainId).hex;
    return this.#lock(hex, async () => {
      if (await exists(target)) return target;
      const tmp = join(this.#dir, `${TMP_PREFIX}${hex}-${process.pid}-${i}`);
      await emptyDir(tmp);
      try {
        await fill(tmp);
        await rename(tmp, target);
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e;
      }
      return target;
    });
  }

  /**
   * Makes `upperDir` (a RUN step's overlay upper, already in overlay form) the snapshot of
   * `chainId` by moving it, without re-extracting the layer. When the chain already has a
   * snapshot (another build got there first), `upperDir` is removed instead, as it is when
   * it lies on another filesystem (then `prepare` unpacks the chain later). Returns the
   * snapshot directory.
   */
  async adopt(chainId: string, upperDir: string): Promise<string> {
    const target = this.path(chainId);
    const hex = parseDigest(chainId).hex;
    await this.#thisBoot();
    await mkdir(this.#dir, { recursive: true });
    return await this.#lock(hex, async () => {
      if (await exists(target)) {
        await rm(upperDir, { recursive: true, force: true });
        return target;
      }
      try {
        await rename(upperDir, target);
      } catch (e) {
        if ((e as { code?: string }).code !== "EXDEV") throw e;
        // Another filesystem: no copy (a copy is a second writer); the chain stays without
        // a snapshot and prepare() unpacks it from its blob when it is next needed.
        await rm(upperDir, { recursive: true, force: true });
      }
      return target;
    });
  }

  /**
   * Removes every snapshot whose chain ID is not in `live`, and unpacks abandoned by
   * crashed processes. Each removal holds its chain's lock, so a `prepare` or `adopt` in
   * flight is never cut short.
   */
  async gc(live: Iterable<string>): Promise<SnapshotGcResult> {
    const keep = new Set([...live].map((id) => parseDigest(id).hex));
    await this.#thisBoot();
    return { removed: await this.#sweep(keep) };
  }

  /** Removes every snapshot not in `keep` (hex) and every abandoned unpack. */
  async #sweep(keep: Set<string>): Promise<Digest[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const removed: Digest[] = [];
    for (const name of names) {
      const tmp = name.startsWith(TMP_PREFIX) ? /^\.tmp-([0-9a-f]{64})-/.exec(name) : null;
      const hex = tmp ? tmp[1] : /^[0-9a-f]{64}$/.test(name) ? name : null;
      if (hex === null || (!tmp && keep.has(hex))) continue;
      await this.#lock(hex, async () => {
        if (!(await exists(join(this.#dir, name)))) return;
        // A crashed prepare() may have left its apply mount (`<tmp>-mount/root`) behind.
        if (tmp && name.endsWith("-mount")) {
          await unmountOverlay(join(this.#dir, name, "root")).catch(() => {});
        }
        await rm(join(this.#dir, name), { recursive: true, force: true });
        if (!tmp) removed.push(`sha256:${hex}`);
      });
    }
    return removed;
  }

  /**
   * Applies a layer stack, bottom first, into the plain directory `dir` (created if
   * missing) with OCI whiteout semantics: the tree to copy from where overlay cannot be
   * mounted, since snapshot directories hold overlay-form markers that a copy would keep.
   */
  async materialize(
    layers: readonly LayerRef[],
    blobs: BlobStore,
    dir: string,
  ): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const layer of layers) {
      const hash = new DigestStream();
      const digest = layer.descriptor.digest;
      await applyLayer({
        digest,
        open: async () => (await decompress(await blobs.get(digest))).pipeThrough(hash),
      }, dir);
      const actual = (await hash.result).digest;
      if (actual !== layer.diffId) {
        throw new DigestMismatchError(layer.diffId, actual, `the uncompressed layer ${digest}`);
      }
    }
  }
}
