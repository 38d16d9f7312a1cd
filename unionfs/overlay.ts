import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, mountOverlayCommand, unmount } from "./_platform.ts";
import { applyLayer } from "./apply_layer.ts";
import { diffOverlayUpper } from "./diff.ts";

/** Options of {@linkcode mountOverlay}. */
export interface MountOverlayOptions {
  /**
   * Mount with overlay's `volatile` option (Linux 5.10+; without it where the kernel
   * refuses it): no sync of the upper, not even the one after each copy-up. For an upper
   * whose changes are read once the mount is gone (a build step's), where a copy-up's
   * fsync is most of the time a step that touches existing files takes.
   * @default {false}
   */
  volatile?: boolean;
}

/**
 * Mounts kernel overlayfs at `target`: `lowers` bottom first (image layer order; the
 * kernel wants the reverse and gets it), `upper` takes the writes, `work` is overlay's
 * scratch directory on the same filesystem as `upper`. Needs root and Linux.
 */
export async function mountOverlay(
  lowers: readonly string[],
  upper: string,
  work: string,
  target: string,
  options: MountOverlayOptions = {},
): Promise<void> {
  if (lowers.length === 0) throw new TypeError("Cannot mount overlay: no lower directories");
  const topFirst = [...lowers].reverse();
  if (options.volatile && volatileRefused !== true) {
    try {
      await mountOverlayCommand(topFirst, upper, work, target, ["volatile"]);
      return;
    } catch (error) {
      // Refused (an older kernel), or the mount itself failed: tried again without it, and
      // the option is not tried again once a plain mount worked.
      await mountOverlayCommand(topFirst, upper, work, target).catch(() => {
        throw error;
      });
      volatileRefused = true;
      return;
    }
  }
  await mountOverlayCommand(topFirst, upper, work, target);
}

/** Set when the kernel refused `volatile` where a plain overlay mount worked. */
let volatileRefused: boolean | undefined;

/**
 * Unmounts what {@linkcode mountOverlay} mounted. A mount the kernel still counts as busy
 * a moment after its last user went (a container's processes being reaped on a loaded
 * machine) is tried again every 50 ms for 2.5 s, as containerd's `mount.Unmount` does.
 * With `lazy` it is detached at once instead, however busy (`umount -l`): for cleaning up
 * after a failure, not before reading what the mount wrote.
 */
export async function unmountOverlay(
  target: string,
  options: { lazy?: boolean } = {},
): Promise<void> {
  if (options.lazy) return await unmount(target, true);
  for (let attempt = 1;; attempt++) {
    try {
      return await unmount(target);
    } catch (e) {
      if (attempt >= UNMOUNT_ATTEMPTS || !/\bbusy\b/i.test((e as Error).message)) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const UNMOUNT_ATTEMPTS = 50;

let supported: Promise<boolean> | undefined;

/**
 * True when kernel overlayfs can be mounted here (Linux, root, overlay module, a
 * filesystem it accepts as upper): tried once with a scratch mount, then remembered.
 */
export function overlaySupported(): Promise<boolean> {
  supported ??= (async () => {
    if (!isRoot()) return false;
    const dir = await mkdtemp(join(tmpdir(), "stratum-ovl-probe-"));
    try {
      for (const d of ["l", "u", "w", "m"]) await mkdir(join(dir, d));
      await writeFile(join(dir, "l", "f"), "x");
      await mountOverlay([join(dir, "l")], join(dir, "u"), join(dir, "w"), join(dir, "m"));
      try {
        return (await readdir(join(dir, "m"))).includes("f");
      } finally {
        await unmountOverlay(join(dir, "m"));
      }
    } catch {
      return false;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return supported;
}

/** A writable root over read-only lowers, by overlay mount or by copy. */
export interface Workspace {
  /** How it was made. */
  mode: "overlay" | "copy";
  /** The directory to run in or write to. */
  rootfs: string;
  /**
   * Where the changes can be read: the overlay upper (use `diffOverlayUpper`), or, for a
   * copy, the unchanged base to diff `rootfs` against (use `diffDirectories(base, rootfs)`).
   */
  changes: string;
  /** Unmounts and removes everything the workspace made. */
  close(): Promise<void>;
}

/** Options of {@linkcode openWorkspace}. */
export interface OpenWorkspaceOptions {
  /** `"copy"` builds the root with the writer even where overlay could be mounted. @default {"auto"} */
  mode?: "auto" | "copy";
}

/**
 * A writable root over `lowers` (bottom first) in `dir`: an overlay mount where the kernel
 * allows it, else the lowers applied in order, each as the layer it records (overlay form:
 * 0/0 character devices are whiteouts, `trusted.overlay.opaque` marks opaque directories;
 * plain directories are just additions), by unionfs's one writer: into `rootfs` and into
 * an untouched base to diff against. Never a copy: a copy would write through a lower
 * layer's symlink and keep whiteouts as devices.
 */
export async function openWorkspace(
  lowers: readonly string[],
  dir: string,
  options: OpenWorkspaceOptions = {},
): Promise<Workspace> {
  await mkdir(dir, { recursive: true });
  const rootfs = join(dir, "rootfs");
  await mkdir(rootfs);
  if (options.mode !== "copy" && await overlaySupported()) {
    const upper = join(dir, "upper");
    const work = join(dir, "work");
    await mkdir(upper);
    await mkdir(work);
    await mountOverlay(lowers, upper, work, rootfs);
    return {
      mode: "overlay",
      rootfs,
      changes: upper,
      close: async () => {
        await unmountOverlay(rootfs);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const base = join(dir, "base");
  await mkdir(base);
  for (const target of [base, rootfs]) {
    for (const lower of lowers) {
      await applyLayer({
        digest: `snapshot ${lower}`,
        open: () => Promise.resolve(diffOverlayUpper(lower, { compression: "none" }).stream),
      }, target);
    }
  }
  return {
    mode: "copy",
    rootfs,
    changes: base,
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
