import { mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createTarPacker } from "modern-tar";
import { parseDigest } from "../digest/mod.ts";
import { type Descriptor, MediaType, parseReference } from "../image/mod.ts";
import type { ImageStore } from "./image_store.ts";
import type { ResolvedImage } from "./image_store_types.ts";
import { writeAll } from "./_fs.ts";

/** One file of an OCI layout being written. */
interface LayoutFile {
  path: string;
  size: number;
  body: () => Promise<ReadableStream<Uint8Array> | Uint8Array>;
}

/** Options shared by the layout writers. */
export interface LayoutWriteOptions {
  /** Also write docker's `manifest.json`, which makes the layout a `docker load` archive. */
  dockerManifest?: boolean;
}

/**
 * The files of an OCI image layout holding the images `inputs` resolve to, in write
 * order: blobs first (each once), then `index.json`, `manifest.json`, `oci-layout`.
 * Each index entry carries the tag as `org.opencontainers.image.ref.name` (what
 * `skopeo oci:DIR:TAG` looks up) and the full name as `io.containerd.image.name`.
 */
async function* layoutFiles(
  store: ImageStore,
  inputs: string[],
  options: LayoutWriteOptions,
): AsyncGenerator<LayoutFile> {
  const images: { img: ResolvedImage; tags: string[] }[] = [];
  for (const input of inputs) {
    const img = await store.resolve(input);
    const tags = img.names.filter((n) => !n.startsWith("@") && !n.includes("@"));
    const existing = images.find((x) => x.img.id === img.id);
    if (existing) existing.tags.push(...tags.filter((t) => !existing.tags.includes(t)));
    else images.push({ img, tags });
  }
  const seen = new Set<string>();
  const blob = (d: Descriptor): LayoutFile | undefined => {
    if (seen.has(d.digest)) return undefined;
    seen.add(d.digest);
    return {
      path: blobPath(d.digest),
      size: d.size,
      body: () => store.blobs.get(d.digest),
    };
  };
  const index: Descriptor[] = [];
  const dockerManifest = [];
  for (const { img, tags } of images) {
    const manifest = {
      mediaType: img.descriptor.mediaType,
      digest: img.manifestDigest,
      size: img.descriptor.size,
    };
    for (const d of [img.manifest.config, ...img.manifest.layers, manifest]) {
      const f = blob(d);
      if (f) yield f;
    }
    for (const t of tags) {
      const ref = parseReference(t);
      index.push({
        ...manifest,
        annotations: {
          "io.containerd.image.name": t,
          "org.opencontainers.image.ref.name": ref.tag ?? "latest",
        },
      });
    }
    if (!tags.length) index.push(manifest);
    dockerManifest.push({
      // The config's blob, not the image ID: they differ when a sha512 names the config.
      Config: blobPath(img.manifest.config.digest),
      RepoTags: tags.length ? tags.map((t) => parseReference(t).toFamiliarString()) : null,
      Layers: img.manifest.layers.map((l) => blobPath(l.digest)),
    });
  }
  const json = (path: string, value: unknown): LayoutFile => {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    return { path, size: bytes.length, body: () => Promise.resolve(bytes) };
  };
  yield json("index.json", { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: index });
  if (options.dockerManifest) yield json("manifest.json", dockerManifest);
  yield json("oci-layout", { imageLayoutVersion: "1.0.0" });
}

/** Where an OCI layout keeps `digest`'s blob: `blobs/sha256/<hex>` or `blobs/sha512/<hex>`. */
function blobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** The layout as one tar stream (an OCI archive; with `dockerManifest`, a docker archive). */
export function layoutTar(
  store: ImageStore,
  inputs: string[],
  options: LayoutWriteOptions = {},
): ReadableStream<Uint8Array> {
  const { readable, controller } = createTarPacker();
  (async () => {
    for await (const f of layoutFiles(store, inputs, options)) {
      const w = controller.add({
        name: f.path,
        size: f.size,
        mode: 0o644,
        mtime: new Date(0),
        type: "file",
      });
      const body = await f.body();
      if (body instanceof Uint8Array) {
        const writer = w.getWriter();
        await writer.write(body);
        await writer.close();
      } else {
        await body.pipeTo(w);
      }
    }
    controller.finalize();
  })().catch((e) => controller.error(e));
  return readable;
}

/** Writes the layout into directory `dir`, creating it; existing blobs are overwritten. */
export async function writeLayoutDir(
  store: ImageStore,
  inputs: string[],
  dir: string,
  options: LayoutWriteOptions = {},
): Promise<void> {
  for await (const f of layoutFiles(store, inputs, options)) {
    const path = join(dir, f.path);
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, "w");
    try {
      const body = await f.body();
      if (body instanceof Uint8Array) await fh.writeFile(body);
      else for await (const chunk of body) await writeAll(fh, chunk);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
