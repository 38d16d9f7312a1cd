import { createTarPacker } from "modern-tar";
import type { Digest } from "../digest/mod.ts";
import {
  type Descriptor,
  type ImageManifest,
  MediaType,
  parseImageConfig,
  parseReference,
  serializeManifest,
} from "../image/mod.ts";
import { putBytes } from "./blob_store.ts";
import { ArchiveError } from "./errors.ts";
import type { ImageStore, ResolvedImage } from "./image_store.ts";
import { stageArchive, type StagedFile } from "./_archive_stage.ts";

/** One image that {@linkcode loadDockerArchive} added. */
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

/**
 * Loads a `docker save` archive (plain or gzip; the legacy layout and Docker 25's OCI
 * layout both carry `manifest.json`) into `store`, like `docker load`. Every file is
 * checked before anything is committed: config digest against its name, layer diff_ids
 * against the config's rootfs, so a truncated or tampered archive changes nothing.
 */
export async function loadDockerArchive(
  store: ImageStore,
  archive: ReadableStream<Uint8Array>,
  options: { label?: string } = {},
): Promise<LoadedImage[]> {
  const label = options.label ?? "docker archive";
  const staged = await stageArchive(store.blobs, archive, label);
  try {
    const manifestFile = staged.file("manifest.json");
    if (!manifestFile?.small) {
      throw new ArchiveError(`${label}: no manifest.json; is this a "docker save" archive?`);
    }
    let entries: ArchiveManifestEntry[];
    try {
      entries = JSON.parse(new TextDecoder().decode(manifestFile.small));
    } catch (e) {
      throw new ArchiveError(`${label}: manifest.json is not valid JSON`, { cause: e });
    }
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new ArchiveError(`${label}: manifest.json lists no images`);
    }
    const keep = new Set<StagedFile>();
    const plans: { manifest: ImageManifest; names: string[]; id: Digest }[] = [];
    for (const [i, e] of entries.entries()) {
      const where = `${label}: manifest.json[${i}]`;
      if (typeof e?.Config !== "string" || !Array.isArray(e.Layers)) {
        throw new ArchiveError(`${where} needs "Config" (a path) and "Layers" (a list of paths)`);
      }
      const cfgFile = need(staged.file(e.Config), `${where}.Config "${e.Config}"`);
      checkNamedDigest(cfgFile, label);
      if (!cfgFile.small) throw new ArchiveError(`${where}: config "${e.Config}" is too large`);
      let parsed;
      try {
        parsed = await parseImageConfig(cfgFile.small);
      } catch (err) {
        throw new ArchiveError(`${where}: config "${e.Config}": ${(err as Error).message}`, {
          cause: err,
        });
      }
      const diffIds = parsed.config.rootfs.diff_ids;
      if (diffIds.length !== e.Layers.length) {
        throw new ArchiveError(
          `${where}: ${e.Layers.length} layers listed but the config has ${diffIds.length} diff_ids`,
        );
      }
      const layers: Descriptor[] = e.Layers.map((path, j) => {
        const f = need(staged.file(path), `${where}.Layers[${j}] "${path}"`);
        checkNamedDigest(f, label);
        if (f.diffId !== diffIds[j]) {
          throw new ArchiveError(
            `${label}: layer "${path}" has diff_id ${f.diffId}, the config expects ${diffIds[j]}`,
          );
        }
        keep.add(f);
        return {
          mediaType: f.gzip ? MediaType.OCI_LAYER_GZIP : MediaType.OCI_LAYER,
          digest: f.result.digest,
          size: f.result.size,
        };
      });
      keep.add(cfgFile);
      const names = (e.RepoTags ?? []).map((t) => {
        try {
          return parseReference(t).toString();
        } catch (err) {
          throw new ArchiveError(`${where}: RepoTags entry "${t}": ${(err as Error).message}`, {
            cause: err,
          });
        }
      });
      plans.push({
        manifest: {
          schemaVersion: 2,
          mediaType: MediaType.OCI_MANIFEST,
          config: {
            mediaType: MediaType.OCI_CONFIG,
            digest: parsed.digest,
            size: cfgFile.result.size,
          },
          layers,
        },
        names,
        id: parsed.digest,
      });
    }
    await staged.commit(keep);
    const loaded: LoadedImage[] = [];
    for (const p of plans) {
      const m = await serializeManifest(p.manifest);
      await putBytes(store.blobs, m.bytes, { digest: m.digest });
      const descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
      await store.tags.update((records) => {
        const names = p.names.length ? p.names : [`@${m.digest}`];
        return [
          ...records.filter((r) => !names.includes(r.name)),
          ...names.map((name) => ({ name, descriptor })),
        ];
      });
      loaded.push({ id: p.id, manifestDigest: m.digest, names: p.names });
    }
    return loaded;
  } catch (e) {
    await staged.abort();
    throw e;
  }
}

function need(f: StagedFile | undefined, what: string): StagedFile {
  if (!f) throw new ArchiveError(`${what} is not in the archive`);
  return f;
}

/** A file named by its digest (`<hex>.json`, `blobs/sha256/<hex>`) must hash to that name. */
function checkNamedDigest(f: StagedFile, label: string): void {
  const m = /(?:^|\/)(?:sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(f.path);
  if (m && f.result.digest !== `sha256:${m[1]}`) {
    throw new ArchiveError(`${label}: "${f.path}" hashes to ${f.result.digest}, not to its name`);
  }
}

/**
 * Writes images as a `docker save` archive that `docker load` of any version reads:
 * Docker 25's form, an OCI layout (`oci-layout`, `index.json`, `blobs/sha256/`) plus
 * `manifest.json`. Layer blobs stream from the store one at a time.
 */
export function saveDockerArchive(store: ImageStore, inputs: string[]): ReadableStream<Uint8Array> {
  const { readable, controller } = createTarPacker();
  const enc = new TextEncoder();
  const written = new Set<string>();
  const add = async (name: string, body: Uint8Array | ReadableStream<Uint8Array>, size: number) => {
    const w = controller.add({ name, size, mode: 0o644, mtime: new Date(0), type: "file" });
    if (body instanceof Uint8Array) {
      const writer = w.getWriter();
      await writer.write(body);
      await writer.close();
    } else {
      await body.pipeTo(w);
    }
  };
  const addBlob = async (d: Descriptor) => {
    if (written.has(d.digest)) return;
    written.add(d.digest);
    await add(`blobs/sha256/${d.digest.slice(7)}`, await store.blobs.get(d.digest), d.size);
  };
  (async () => {
    const images: { img: ResolvedImage; tags: string[] }[] = [];
    for (const input of inputs) {
      const img = await store.resolve(input);
      const tags = img.names.filter((n) => !n.startsWith("@") && !n.includes("@"));
      const existing = images.find((x) => x.img.id === img.id);
      if (existing) existing.tags.push(...tags.filter((t) => !existing.tags.includes(t)));
      else images.push({ img, tags });
    }
    const index: Descriptor[] = [];
    const manifestJson = [];
    for (const { img, tags } of images) {
      await addBlob(img.manifest.config);
      for (const l of img.manifest.layers) await addBlob(l);
      await addBlob({ ...img.descriptor, digest: img.manifestDigest });
      const familiar = tags.map(familiarTag);
      for (const [i, t] of tags.entries()) {
        index.push({
          mediaType: img.descriptor.mediaType,
          digest: img.manifestDigest,
          size: img.descriptor.size,
          annotations: {
            "io.containerd.image.name": t,
            "org.opencontainers.image.ref.name": parseReference(t).tag ?? familiar[i],
          },
        });
      }
      if (!tags.length) {
        index.push({
          mediaType: img.descriptor.mediaType,
          digest: img.manifestDigest,
          size: img.descriptor.size,
        });
      }
      manifestJson.push({
        Config: `blobs/sha256/${img.id.slice(7)}`,
        RepoTags: familiar.length ? familiar : null,
        Layers: img.manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      });
    }
    const small = async (name: string, value: unknown) => {
      const bytes = enc.encode(JSON.stringify(value));
      await add(name, bytes, bytes.length);
    };
    await small("index.json", {
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: index,
    });
    await small("manifest.json", manifestJson);
    await small("oci-layout", { imageLayoutVersion: "1.0.0" });
    controller.finalize();
  })().catch((e) => controller.error(e));
  return readable;
}

/** `docker.io/library/busybox:latest` → `busybox:latest`, as docker writes RepoTags. */
export function familiarTag(name: string): string {
  const ref = parseReference(name);
  return `${ref.familiarName}:${ref.tag ?? "latest"}`;
}
