import { checkDigest, type Digest } from "../digest/mod.ts";
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  MediaType,
  parseImageConfig,
  parseImageLayout,
  parseManifest,
  parseReference,
  serializeManifest,
} from "../image/mod.ts";
import { putBytes } from "./blob_store.ts";
import { ArchiveError } from "./errors.ts";
import type { ImageStore } from "./image_store.ts";
import { layoutTar } from "./_layout_writer.ts";
import { stageArchive, type StagedArchive, type StagedFile } from "./_archive_stage.ts";

/** One image that {@linkcode loadArchive} added. */
export interface LoadedImage {
  /** The image ID. */
  id: Digest;
  /** The stored manifest's digest. */
  manifestDigest: Digest;
  /** Fully qualified names it was tagged with (none for an untagged image). */
  names: string[];
}

interface ArchiveManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** Options for {@linkcode loadArchive}. */
export interface LoadOptions {
  /** Names the input in errors (a file name). @default {"archive"} */
  label?: string;
  /**
   * For OCI archives whose index entries carry only a tag (`ref.name: "v1"`): the
   * repository to tag them under, e.g. `localhost:5000/app`. Without it they load untagged.
   */
  name?: string;
  /**
   * Free each chunk of `archive` once its bytes are staged on disk (with `releaseChunk`)
   * rather than at the next garbage collection, so loading a multi-gigabyte archive keeps
   * memory flat. Only for a stream whose chunks nobody else holds (a file the caller opened
   * for this load). @default {false}
   */
  releaseChunks?: boolean;
}

/**
 * Loads an image archive into `store`, like `docker load`: a `docker save` archive (the
 * legacy layout or Docker 25's, both with `manifest.json`) or an OCI image layout
 * archive (`index.json`), plain or gzip. Every file is checked before anything is
 * committed (digest-named files against their names, layer diff_ids against the config,
 * every referenced blob present), so a truncated or tampered archive changes nothing.
 */
export function loadArchive(
  store: ImageStore,
  archive: ReadableStream<Uint8Array>,
  options: LoadOptions = {},
): Promise<LoadedImage[]> {
  // A lease keeps a concurrent gc off the blobs between their commit and their naming.
  return store.withLease((store) => load(store, archive, options));
}

async function load(
  store: ImageStore,
  archive: ReadableStream<Uint8Array>,
  options: LoadOptions,
): Promise<LoadedImage[]> {
  const label = options.label ?? "archive";
  const staged = await stageArchive(store.blobs, archive, label, options.releaseChunks ?? false);
  try {
    const keep = new Set<StagedFile>();
    const plans = staged.file("manifest.json")
      ? await dockerPlans(staged, label, keep)
      : await ociPlans(staged, label, keep, options.name);
    await staged.commit(keep);
    const loaded: LoadedImage[] = [];
    for (const p of plans) {
      let descriptor: Descriptor;
      if ("descriptor" in p) {
        descriptor = p.descriptor;
      } else {
        const m = await serializeManifest(p.manifest);
        await putBytes(store.blobs, m.bytes, { digest: m.digest });
        descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
      }
      const names = p.names.length ? p.names : [`@${descriptor.digest}`];
      await store.tags.update((records) => [
        ...records.filter((r) => !names.includes(r.name)),
        ...names.map((name) => ({ name, descriptor })),
      ]);
      loaded.push({ id: p.id, manifestDigest: descriptor.digest, names: p.names });
    }
    return loaded;
  } catch (e) {
    await staged.abort();
    throw e;
  }
}

type Plan =
  | { manifest: ImageManifest; names: string[]; id: Digest }
  | { descriptor: Descriptor; names: string[]; id: Digest };

function need(f: StagedFile | undefined, what: string): StagedFile {
  if (!f) throw new ArchiveError(`${what} is not in the archive`);
  return f;
}

/**
 * A file named by its digest (`<hex>.json`, `blobs/sha256/<hex>`, `blobs/sha512/<hex>`)
 * must hash to that name.
 */
function checkNamedDigest(f: StagedFile, label: string): void {
  const m = /(?:^|\/)(?:sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(f.path) ??
    /(?:^|\/)(sha512)\/([0-9a-f]{128})$/.exec(f.path);
  const named = m?.length === 3 ? `${m[1]}:${m[2]}` : m ? `sha256:${m[1]}` : undefined;
  if (named !== undefined && f.result.digest !== named) {
    throw new ArchiveError(`${label}: "${f.path}" hashes to ${f.result.digest}, not to its name`);
  }
}

/**
 * Where an OCI layout keeps the blob `digest` names: `blobs/<algorithm>/<encoded>`.
 * Descriptors may carry any digest the image-spec accepts, but loading stores the bytes,
 * so an algorithm stratum cannot hash is refused here, by name.
 */
function blobPath(digest: string, where: string): string {
  const { algorithm, encoded, verifiable } = checkDigest(digest);
  if (!verifiable) {
    throw new ArchiveError(
      `${where}: blob ${digest} is named by digest algorithm "${algorithm}", which stratum cannot verify (only sha256 and sha512)`,
    );
  }
  return `blobs/${algorithm}/${encoded}`;
}

function parseJson(f: StagedFile, what: string): unknown {
  if (!f.small) throw new ArchiveError(`${what} is too large for a JSON document`);
  try {
    return JSON.parse(new TextDecoder().decode(f.small));
  } catch (e) {
    throw new ArchiveError(`${what} is not valid JSON`, { cause: e });
  }
}

function fullName(name: string, where: string): string {
  try {
    return parseReference(name).toString();
  } catch (err) {
    throw new ArchiveError(`${where}: name "${name}": ${(err as Error).message}`, { cause: err });
  }
}

/** Checks a config file and its layers against each other; returns the config's digest. */
async function checkImage(
  cfgFile: StagedFile,
  layerFiles: StagedFile[],
  where: string,
  label: string,
): Promise<Digest> {
  checkNamedDigest(cfgFile, label);
  if (!cfgFile.small) throw new ArchiveError(`${where}: config "${cfgFile.path}" is too large`);
  let parsed;
  try {
    parsed = await parseImageConfig(cfgFile.small);
  } catch (err) {
    throw new ArchiveError(`${where}: config "${cfgFile.path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  const diffIds = parsed.config.rootfs.diff_ids;
  if (diffIds.length !== layerFiles.length) {
    throw new ArchiveError(
      `${where}: ${layerFiles.length} layers listed but the config has ${diffIds.length} diff_ids`,
    );
  }
  for (const [j, f] of layerFiles.entries()) {
    checkNamedDigest(f, label);
    // A sha512 diff_id of an uncompressed layer is the layer's own sha512 digest.
    const same = f.compression === "none" && f.result.digest === diffIds[j];
    if (!same && diffIds[j].startsWith("sha512:") && f.compression !== "none") {
      throw new ArchiveError(
        `${label}: layer "${f.path}" has diff_id ${
          diffIds[j]
        }: stratum checks the diff_ids of compressed layers in sha256 only`,
      );
    }
    if (!same && f.diffId !== undefined && f.diffId !== diffIds[j]) {
      throw new ArchiveError(
        `${label}: layer "${f.path}" has diff_id ${f.diffId}, the config expects ${diffIds[j]}`,
      );
    }
  }
  return parsed.digest;
}

async function dockerPlans(
  staged: StagedArchive,
  label: string,
  keep: Set<StagedFile>,
): Promise<Plan[]> {
  const entries = parseJson(
    staged.file("manifest.json")!,
    `${label}: manifest.json`,
  ) as ArchiveManifestEntry[];
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new ArchiveError(`${label}: manifest.json lists no images`);
  }
  const plans: Plan[] = [];
  for (const [i, e] of entries.entries()) {
    const where = `${label}: manifest.json[${i}]`;
    if (typeof e?.Config !== "string" || !Array.isArray(e.Layers)) {
      throw new ArchiveError(`${where} needs "Config" (a path) and "Layers" (a list of paths)`);
    }
    const cfgFile = need(staged.file(e.Config), `${where}.Config "${e.Config}"`);
    const layerFiles = e.Layers.map((path: string, j: number) =>
      need(staged.file(path), `${where}.Layers[${j}] "${path}"`)
    );
    const id = await checkImage(cfgFile, layerFiles, where, label);
    for (const f of [cfgFile, ...layerFiles]) keep.add(f);
    plans.push({
      manifest: {
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        // The config is stored under the name its file has (sha512 under blobs/sha512/).
        config: {
          mediaType: MediaType.OCI_CONFIG,
          digest: cfgFile.result.digest,
          size: cfgFile.result.size,
        },
        layers: layerFiles.map((f) => ({
          mediaType: LAYER_TYPES[f.compression],
          digest: f.result.digest,
          size: f.result.size,
        })),
      },
      names: (e.RepoTags ?? []).map((t) => fullName(t, where)),
      id,
    });
  }
  return plans;
}

const LAYER_TYPES = {
  none: MediaType.OCI_LAYER,
  gzip: MediaType.OCI_LAYER_GZIP,
  zstd: MediaType.OCI_LAYER_ZSTD,
} as const;

async function ociPlans(
  staged: StagedArchive,
  label: string,
  keep: Set<StagedFile>,
  repository: string | undefined,
): Promise<Plan[]> {
  const indexFile = staged.file("index.json");
  if (!indexFile) {
    throw new ArchiveError(
      `${label}: neither manifest.json nor index.json; not a docker or OCI archive`,
    );
  }
  if (!indexFile.small) throw new ArchiveError(`${label}: index.json is too large`);
  const layoutFile = staged.file("oci-layout");
  try {
    if (layoutFile) parseImageLayout(layoutFile.small ?? new Uint8Array());
  } catch (e) {
    throw new ArchiveError(`${label}: ${(e as Error).message}`, { cause: e });
  }
  let index: ImageIndex;
  try {
    const parsed = await parseManifest(indexFile.small);
    if (parsed.kind !== "index") throw new SyntaxError("it is a manifest, not an index");
    index = parsed.index;
  } catch (e) {
    throw new ArchiveError(`${label}: index.json: ${(e as Error).message}`, { cause: e });
  }
  const blob = (d: Descriptor, where: string): StagedFile => {
    const f = need(staged.file(blobPath(d.digest, where)), `${where} blob ${d.digest}`);
    checkNamedDigest(f, label);
    if (f.result.size !== d.size) {
      throw new ArchiveError(
        `${where}: blob ${d.digest} is ${f.result.size} bytes, the descriptor says ${d.size}`,
      );
    }
    keep.add(f);
    return f;
  };
  // Walks a manifest or index; returns the image ID of the first image found, for reporting.
  const walk = async (d: Descriptor, where: string): Promise<Digest | undefined> => {
    const f = blob(d, where);
    let parsed;
    try {
      parsed = await parseManifest(f.small ?? new Uint8Array(), d.mediaType);
    } catch (e) {
      throw new ArchiveError(`${where}: manifest ${d.digest}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (parsed.kind === "index") {
      let first: Digest | undefined;
      for (const [i, child] of parsed.index.manifests.entries()) {
        first ??= await walk(child, `${where}.manifests[${i}]`);
      }
      return first;
    }
    const m = parsed.manifest;
    const layers = m.layers.map((l, i) => blob(l, `${where}.layers[${i}]`));
    return await checkImage(blob(m.config, `${where}.config`), layers, where, label);
  };
  const plans: Plan[] = [];
  for (const [i, d] of index.manifests.entries()) {
    const where = `${label}: index.json manifests[${i}]`;
    const id = await walk(d, where);
    const { annotations, ...descriptor } = d;
    const full = annotations?.["io.containerd.image.name"];
    const tag = annotations?.["org.opencontainers.image.ref.name"];
    let names: string[] = [];
    if (full) names = [fullName(full, where)];
    else if (tag && /[/:]/.test(tag)) names = [fullName(tag, where)];
    else if (tag && repository) names = [fullName(`${repository}:${tag}`, where)];
    plans.push({ descriptor, names, id: id ?? d.digest });
  }
  return plans;
}

/**
 * Writes images as a `docker save` archive that `docker load` of any version reads:
 * Docker 25's form, an OCI layout (`oci-layout`, `index.json`, `blobs/sha256/`, and
 * `blobs/sha512/` for content named by sha512) plus `manifest.json`. Layer blobs stream from the store one at a time.
 */
export function saveDockerArchive(store: ImageStore, inputs: string[]): ReadableStream<Uint8Array> {
  return layoutTar(store, inputs, { dockerManifest: true });
}

/** `docker.io/library/busybox:latest` → `busybox:latest`, as docker writes RepoTags. */
export function familiarTag(name: string): string {
  return parseReference(name).toFamiliarString();
}
