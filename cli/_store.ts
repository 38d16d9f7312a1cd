/**
 * The store as commands read it: opening it, an image's layers as unionfs reads them, and
 * docker's sizes of layers and images.
 *
 * @module
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { type ImageStore, openStore, type ResolvedImage } from "../storage/mod.ts";
import { buildMergedTree, type LayerSource, type MergedTree, scanLayer } from "../unionfs/mod.ts";
import type { CommandContext } from "./_context.ts";

/** Opens the store at `--root`. */
export async function store(ctx: CommandContext): Promise<ImageStore> {
  return await openStore(ctx.root);
}

/** The merged file tree of the image `input` names. */
export async function mergedTreeOf(s: ImageStore, input: string): Promise<MergedTree> {
  return await buildMergedTree((await s.resolve(input)).layers);
}

/**
 * docker's size of one layer: the daemon sums what unpacking the layer tar reports, the
 * sizes in the tar headers, so regular files count and symlinks, hardlinks, directories and
 * whiteouts do not. A layer's content never changes, so the figure is kept in a store on
 * disk (`layer-sizes/<hex>`) and `images` does not decompress every layer on every call.
 */
export async function layerSize(s: ImageStore, source: LayerSource): Promise<number> {
  const dir = s.root === undefined ? undefined : join(s.root, "layer-sizes");
  const file = dir && join(dir, source.digest.replace(/^sha256:/, ""));
  const cached = file ? await readFile(file, "utf8").catch(() => "") : "";
  if (/^\d+\n?$/.test(cached)) return Number(cached);
  let total = 0;
  for (const { header: h } of await scanLayer(source)) if (h.type === "file") total += h.size;
  if (!dir || !file) return total;
  // A cache only: another process may write the same figure at once (rename is atomic), and
  // a store we may not write to is still listed.
  try {
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await writeFile(tmp, `${total}\n`);
    await rename(tmp, file);
  } catch { /* listed without caching */ }
  return total;
}

/** `docker inspect`'s and `docker images`' Size: the layers' sizes summed. */
export async function unpackedSize(s: ImageStore, img: ResolvedImage): Promise<number> {
  let total = 0;
  for (const source of img.layers) total += await layerSize(s, source);
  return total;
}

/**
 * Forgets the cached sizes of layers no longer in the store (deleted by `gc` or `rmi`);
 * a size is keyed by the layer's digest, so one that is still there is still right.
 */
export async function forgetLayerSizes(s: ImageStore): Promise<void> {
  if (s.root === undefined) return;
  const dir = join(s.root, "layer-sizes");
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const hex = /^[0-9a-f]{64}/.exec(name)?.[0];
    const stale = !hex || (name.includes(".tmp-") ? false : !(await s.blobs.has(`sha256:${hex}`)));
    if (stale) await rm(join(dir, name), { force: true });
  }
}
