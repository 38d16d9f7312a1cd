/**
 * Where a build's image goes: into the store (config and manifest blobs, one name per
 * `-t`), and the `--output` kinds — an OCI archive (`type=oci`), a `docker load` archive
 * (`type=docker`), the flattened root filesystem (`type=local`) or as one tar
 * (`type=tar`) — plus `--iidfile` and `--metadata-file`.
 *
 * @module
 */
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Digest } from "../digest/mod.ts";
import {
  type Descriptor,
  type ImageConfig,
  MediaType,
  parseReference,
  serializeImageConfig,
  serializeManifest,
} from "../image/mod.ts";
import { type ImageStore, putBytes, saveDockerArchive, saveOciArchive } from "../storage/mod.ts";
import { flattenToDirectory, flattenToTar } from "../unionfs/mod.ts";
import type { LayerRef } from "./build_cache.ts";

/** One `--output`. */
export type BuildOutput =
  | {
    /** An OCI image layout as a tar file. */
    type: "oci";
    /** The file to write; `-` is not supported by the library (the CLI pipes it). */
    dest: string;
  }
  | {
    /** A `docker save` archive that `docker load` reads. */
    type: "docker";
    dest: string;
  }
  | {
    /** The image's root filesystem, flattened into a directory. */
    type: "local";
    dest: string;
  }
  | {
    /** The image's root filesystem as one tar file. */
    type: "tar";
    dest: string;
  };

/**
 * Parses a docker `--output` value: `type=oci,dest=out.tar`, `type=local,dest=dir`, or a
 * bare path (which docker treats as `type=local`).
 *
 * @throws {SyntaxError} for an unknown type or a missing `dest`, quoting the value.
 */
export function parseOutputSpec(spec: string): BuildOutput {
  if (!spec.includes("=")) return { type: "local", dest: spec };
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) throw new SyntaxError(`Invalid --output "${spec}": "${part}" is not key=value`);
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const type = fields.get("type") ?? "local";
  const dest = fields.get("dest");
  if (!["oci", "docker", "local", "tar"].includes(type)) {
    throw new SyntaxError(
      `Invalid --output "${spec}": type "${type}" is not one of oci, docker, local, tar`,
    );
  }
  if (!dest) throw new SyntaxError(`Invalid --output "${spec}": dest= is required`);
  return { type, dest } as BuildOutput;
}

/** What {@linkcode storeImage} wrote. */
export interface StoredImage {
  /** The image ID: the config's digest. */
  imageId: Digest;
  /** The manifest's digest. */
  manifestDigest: Digest;
  /** The manifest's descriptor. */
  descriptor: Descriptor;
  /** The config as written. */
  config: ImageConfig;
  /** Names given, fully qualified. */
  names: string[];
}

/**
 * Writes an image's config and manifest into the store (its layers are there already) and
 * names it with every tag; without tags it gets a digest-only record, so it is kept and
 * can be found by ID, like docker's dangling images.
 *
 * @throws {InvalidReferenceError} for a malformed tag, before anything is written.
 */
export async function storeImage(
  store: ImageStore,
  config: ImageConfig,
  layers: readonly LayerRef[],
  tags: readonly string[] = [],
): Promise<StoredImage> {
  const names = tags.map((t) => {
    const ref = parseReference(t);
    if (ref.digest) throw new TypeError(`Cannot tag a build with a digest reference "${t}"`);
    return ref.toString();
  });
  const parsedConfig = await serializeImageConfig(config);
  await putBytes(store.blobs, parsedConfig.bytes, { digest: parsedConfig.digest });
  const manifest = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: {
      mediaType: MediaType.OCI_CONFIG,
      digest: parsedConfig.digest,
      size: parsedConfig.bytes.length,
    },
    layers: layers.map((l) => ({
      mediaType: l.descriptor.mediaType,
      digest: l.descriptor.digest,
      size: l.descriptor.size,
    })),
  });
  await putBytes(store.blobs, manifest.bytes, { digest: manifest.digest });
  const descriptor: Descriptor = {
    mediaType: MediaType.OCI_MANIFEST,
    digest: manifest.digest,
    size: manifest.bytes.length,
  };
  if (names.length === 0) await store.tags.set(`@${manifest.digest}`, descriptor);
  for (const name of names) await store.tags.set(name, descriptor);
  return {
    imageId: parsedConfig.digest,
    manifestDigest: manifest.digest,
    descriptor,
    config: parsedConfig.config,
    names,
  };
}

/** Writes one `--output` of a stored image. */
export async function writeOutput(
  store: ImageStore,
  image: StoredImage,
  layers: readonly LayerRef[],
  output: BuildOutput,
): Promise<void> {
  const inputs = image.names.length > 0 ? image.names : [image.imageId];
  const sources = layers.map((l) => ({
    digest: l.descriptor.digest,
    mediaType: l.descriptor.mediaType,
    open: () => store.blobs.get(l.descriptor.digest),
  }));
  switch (output.type) {
    case "oci":
      await streamToFile(saveOciArchive(store, inputs), output.dest);
      return;
    case "docker":
      await streamToFile(saveDockerArchive(store, inputs), output.dest);
      return;
    case "local":
      await flattenToDirectory(sources, output.dest);
      return;
    case "tar":
      await streamToFile(flattenToTar(sources), output.dest);
  }
}

async function streamToFile(stream: ReadableStream<Uint8Array>, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const out = createWriteStream(dest);
  const done = new Promise<void>((resolve, reject) => {
    out.on("finish", resolve);
    out.on("error", reject);
  });
  try {
    for await (const chunk of stream) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
  } catch (error) {
    out.destroy();
    throw error;
  }
  out.end();
  await done;
}

/** The `--metadata-file` JSON docker buildx writes, for the fields stratum knows. */
export function buildMetadata(image: StoredImage): Record<string, unknown> {
  return {
    "containerimage.config.digest": image.imageId,
    "containerimage.digest": image.manifestDigest,
    "containerimage.descriptor": image.descriptor,
    ...(image.names.length ? { "image.name": image.names.join(",") } : {}),
  };
}

/** Writes `--iidfile` (the image ID) and `--metadata-file` when asked. */
export async function writeBuildFiles(
  image: StoredImage,
  files: { iidfile?: string; metadataFile?: string },
): Promise<void> {
  if (files.iidfile) {
    await mkdir(dirname(files.iidfile), { recursive: true });
    await writeFile(files.iidfile, image.imageId);
  }
  if (files.metadataFile) {
    await mkdir(dirname(files.metadataFile), { recursive: true });
    await writeFile(files.metadataFile, JSON.stringify(buildMetadata(image), null, 2) + "\n");
  }
}
