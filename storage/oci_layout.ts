import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createTarPacker } from "modern-tar";
import { loadArchive, type LoadedImage, type LoadOptions } from "./docker_archive.ts";
import type { ImageStore } from "./image_store.ts";
import { readFileStream } from "./_fs.ts";
import { layoutTar, writeLayoutDir } from "./_layout_writer.ts";

/**
 * The images `inputs` resolve to as an OCI image layout archive (a tar of `oci-layout`,
 * `index.json`, `blobs/sha256/`, `blobs/sha512/` for content named by sha512), readable by
 * `skopeo copy oci-archive:` and our load.
 */
export function saveOciArchive(store: ImageStore, inputs: string[]): ReadableStream<Uint8Array> {
  return layoutTar(store, inputs);
}

/**
 * Writes the images `inputs` resolve to into `dir` as an OCI image layout, for
 * `skopeo ... oci:DIR:TAG` and `umoci --layout DIR`. An existing `index.json` is replaced.
 */
export async function exportOciLayout(
  store: ImageStore,
  inputs: string[],
  dir: string,
): Promise<void> {
  await writeLayoutDir(store, inputs, dir);
}

/**
 * Imports every image named in the OCI image layout at `dir` (tags from
 * `io.containerd.image.name`, or `org.opencontainers.image.ref.name` with `options.name`
 * as the repository). Checked in full before anything is committed, like {@linkcode loadArchive}.
 */
export async function importOciLayout(
  store: ImageStore,
  dir: string,
  options: LoadOptions = {},
): Promise<LoadedImage[]> {
  return await loadArchive(store, layoutDirTar(dir), { label: `"${dir}"`, ...options });
}

/** The blob directories of a layout stratum reads, and the file names each holds. */
const LAYOUT_BLOBS: Record<string, RegExp> = {
  sha256: /^[0-9a-f]{64}$/,
  sha512: /^[0-9a-f]{128}$/,
};

/** Streams the layout files of `dir` as a tar, so a directory imports like an archive. */
function layoutDirTar(dir: string): ReadableStream<Uint8Array> {
  const { readable, controller } = createTarPacker();
  const add = async (path: string) => {
    const fh = await open(join(dir, path), "r");
    const size = (await fh.stat()).size;
    await readFileStream(fh, 0, size).pipeTo(controller.add({ name: path, size, type: "file" }));
  };
  (async () => {
    await add("oci-layout").catch(() => {}); // optional for import; index.json is what counts
    await add("index.json");
    // Only the algorithms stratum can verify: a descriptor naming another fails clearly.
    for (const [algorithm, name] of Object.entries(LAYOUT_BLOBS)) {
      let names: string[] = [];
      try {
        names = await readdir(join(dir, "blobs", algorithm));
      } catch { /* a layout with no blobs: index.json's references fail clearly */ }
      for (const n of names.sort()) if (name.test(n)) await add(`blobs/${algorithm}/${n}`);
    }
    controller.finalize();
  })().catch((e) => controller.error(e));
  return readable;
}
