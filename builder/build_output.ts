/**
 * Where a build's image goes: into the store (config and manifest blobs, one name per
 * `-t`), and the `--output` kinds — an OCI archive (`type=oci`), a `docker load` archive
 * (`type=docker`), the flattened root filesystem (`type=local`) or as one tar
 * (`type=tar`) — plus `--iidfile` and `--metadata-file`. Every file is written with
 * {@linkcode writeFileAtomic}, so a failed or interrupted build never leaves a torn one.
 *
 * @module
 */
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Digest } from "../digest/mod.ts";
import {
  type Descriptor,
  type ImageConfig,
  MediaType,
  parseReference,
  serializeImageConfig,
  serializeManifest,
} from "../image/mod.ts";
import {
  type ImageStore,
  putBytes,
  readLayers,
  releaseChunk,
  saveDockerArchive,
  saveOciArchive,
} from "../storage/mod.ts";
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
  const sources = readLayers(store.blobs, layers);
  switch (output.type) {
    case "oci":
      await writeFileAtomic(output.dest, saveOciArchive(store, inputs), { mkdirs: true });
      return;
    case "docker":
      await writeFileAtomic(output.dest, saveDockerArchive(store, inputs), { mkdirs: true });
      return;
    case "local":
      await flattenToDirectory(sources, output.dest);
      return;
    case "tar":
      await writeFileAtomic(output.dest, flattenToTar(sources), { mkdirs: true });
  }
}

/** Options of {@linkcode writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Create missing parent directories first, as buildx does for its outputs. Default: false. */
  mkdirs?: boolean;
  /**
   * Free each chunk of a stream `data` as soon as it is on disk (storage's
   * `releaseChunk`) instead of leaving it to the next garbage collection, so a
   * multi-gigabyte stream keeps memory flat. Only for streams whose chunks nobody else
   * holds, such as the tars stratum makes for `save` and `export`. Default: false.
   */
  releaseChunks?: boolean;
}

/** Bytes gathered before one write: a tar stream arrives in 512-byte headers and bodies. */
const WRITE_BATCH = 1 << 20;

/**
 * Writes `data` (a byte stream, bytes or text) to the file `dest` so that `dest` is either
 * left as it was or holds all of `data`, never a part: the bytes go to a new file with a
 * unique name in the same directory (so the rename cannot cross file systems), which is
 * fsynced and then renamed over `dest`. On any failure, of `data` or of the disk, the
 * temporary file is removed and `dest` is untouched; docker's `CopyToFile` (`save -o`) and
 * buildx's metadata file do the same. A symlink at `dest` is replaced, not written through.
 *
 * @throws whatever `data` errors with, unchanged; a file system failure as an `Error`
 *   naming `dest`.
 */
export async function writeFileAtomic(
  dest: string,
  data: ReadableStream<Uint8Array> | Uint8Array | string,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const dir = dirname(dest);
  const disk = <T>(p: Promise<T>): Promise<T> =>
    p.catch((cause: Error) => {
      // "ENOENT: no such file or directory, open '/x/.stratum-1f2e.tmp'" names the temporary
      // file, which the user never asked for: keep the reason, name the target.
      const why = /^E[A-Z]+: (.+?), \w+ '/.exec(cause.message)?.[1] ?? cause.message;
      throw new Error(`Cannot write ${JSON.stringify(dest)}: ${why}`, { cause });
    });
  if (options.mkdirs) await disk(mkdir(dir, { recursive: true }));
  const suffix = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const tmp = join(dir, `.stratum-${suffix}.tmp`);
  // "wx": O_CREAT|O_EXCL, so neither another writer's file nor a planted symlink is opened.
  const fh = await disk(open(tmp, "wx"));
  let renamed = false;
  try {
    try {
      if (data instanceof ReadableStream) {
        await copyStream(data, (b) => disk(writeAll(fh, b)), options.releaseChunks ?? false);
      } else await disk(fh.writeFile(data));
      await disk(fh.sync());
    } finally {
      await fh.close();
    }
    await disk(rename(tmp, dest));
    renamed = true;
  } finally {
    if (!renamed) await rm(tmp, { force: true });
  }
  // The rename itself is durable only once the directory is flushed.
  const dh = await disk(open(dir, "r"));
  try {
    await disk(dh.sync());
  } finally {
    await dh.close();
  }
}

/** Feeds a stream to `write` in batches; a failed write cancels the stream. */
async function copyStream(
  stream: ReadableStream<Uint8Array>,
  write: (bytes: Uint8Array) => Promise<void>,
  release: boolean,
): Promise<void> {
  const reader = stream.getReader();
  let batch: Uint8Array[] = [];
  let size = 0;
  const flush = async () => {
    const bytes = batch.length === 1 ? batch[0] : new Uint8Array(size);
    if (batch.length > 1) {
      let off = 0;
      for (const b of batch) {
        bytes.set(b, off);
        off += b.length;
      }
    }
    const written = batch;
    batch = [];
    size = 0;
    await write(bytes);
    if (release) {
      // The copy first, then what it was copied from, once every byte of it is on disk.
      if (written.length > 1) releaseChunk(bytes);
      for (const b of written) releaseChunk(b);
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      batch.push(value);
      size += value.length;
      if (size >= WRITE_BATCH) await flush();
    }
    if (size > 0) await flush();
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

/** Writes all of `bytes`: one write to a file may be partial. */
async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) {
    off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
  }
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

/**
 * Writes `--iidfile` (the image ID) and `--metadata-file` when asked, each with
 * {@linkcode writeFileAtomic}: a reader never sees half a file.
 */
export async function writeBuildFiles(
  image: StoredImage,
  files: { iidfile?: string; metadataFile?: string },
): Promise<void> {
  if (files.iidfile) await writeFileAtomic(files.iidfile, image.imageId, { mkdirs: true });
  if (files.metadataFile) {
    const json = JSON.stringify(buildMetadata(image), null, 2) + "\n";
    await writeFileAtomic(files.metadataFile, json, { mkdirs: true });
  }
}
