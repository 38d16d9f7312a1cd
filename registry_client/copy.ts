import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import type { Digest } from "../digest/mod.ts";
import { type Descriptor, parseReference, type Reference } from "../image/mod.ts";
import { type ImageStore, loadArchive, openStore, saveDockerArchive } from "../storage/mod.ts";
import { Clients, registrySinkOptions, settings, storeSinkOptions } from "./_clients.ts";
import {
  copyImage,
  type ImageSink,
  type ImageSource,
  registrySink,
  registrySource,
} from "./_transfer.ts";
import { storeSink, storeSource } from "./_store_sink.ts";
import type { TransferOptions } from "./options.ts";
import { wrap } from "./pull.ts";

/** Where an image lives, in skopeo's transport syntax. */
export type ImageLocation =
  | {
    /** A registry: `docker://REF` or a bare reference. */
    transport: "docker";
    /** The parsed reference. */
    reference: Reference;
  }
  | {
    /** An OCI image layout directory: `oci:DIR[:NAME]`. */
    transport: "oci";
    /** The layout directory. */
    dir: string;
    /** The `org.opencontainers.image.ref.name` of the entry, if given. */
    name?: string;
  }
  | {
    /** A `docker save` tar file: `docker-archive:FILE[:NAME]`. */
    transport: "docker-archive";
    /** The archive path. */
    file: string;
    /** The image's name inside the archive (RepoTags), if given. */
    name?: string;
  };

/**
 * Parses `docker://REF`, `oci:DIR[:NAME]`, `docker-archive:FILE[:NAME]` or a bare image
 * reference. Throws `TypeError` naming the input when a part is missing.
 */
export function parseImageLocation(input: string): ImageLocation {
  const split = (rest: string): [string, string | undefined] => {
    const colon = rest.indexOf(":");
    return colon < 0
      ? [rest, undefined]
      : [rest.slice(0, colon), rest.slice(colon + 1) || undefined];
  };
  if (input.startsWith("docker://")) {
    return { transport: "docker", reference: parseReference(input.slice(9)) };
  }
  if (input.startsWith("oci:")) {
    const [dir, name] = split(input.slice(4));
    if (!dir) throw new TypeError(`Invalid image location "${input}": oci: needs a directory`);
    return { transport: "oci", dir, name };
  }
  if (input.startsWith("docker-archive:")) {
    const [file, name] = split(input.slice(15));
    if (!file) {
      throw new TypeError(`Invalid image location "${input}": docker-archive: needs a file`);
    }
    return { transport: "docker-archive", file, name };
  }
  return { transport: "docker", reference: parseReference(input) };
}

/** What {@linkcode copy} wrote. */
export interface CopyResult {
  /** The digest of the manifest or index written at the destination. */
  digest: Digest;
  /** The digest the source resolved to. */
  sourceDigest: Digest;
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

function recordFor(
  store: ImageStore,
  label: string,
  name: string | undefined,
): () => Promise<Descriptor> {
  return async () => {
    const records = await store.tags.list();
    if (name !== undefined) {
      const hit = records.find((r) => r.name === name);
      if (hit) return hit.descriptor;
      throw new TypeError(`${label} has no image named "${name}"`);
    }
    if (records.length !== 1) {
      throw new TypeError(
        `${label} holds ${records.length} images: name one (${
          records.map((r) => r.name).join(", ") || "none"
        })`,
      );
    }
    return records[0].descriptor;
  };
}

/**
 * Copies an image between any two locations (registry, OCI layout, docker archive), like
 * `skopeo copy`. Registry to registry streams blob by blob and keeps nothing on disk;
 * blobs already at the destination are skipped and, on the same registry, mounted. An
 * index is copied whole with `allPlatforms`, else the platform's manifest alone.
 * Referrers (signatures, SBOMs) come along between registries unless `referrers: false`.
 */
export async function copy(
  source: string,
  destination: string,
  options: TransferOptions = {},
): Promise<CopyResult> {
  const src = parseImageLocation(source);
  const dst = parseImageLocation(destination);
  const clients = new Clients(options);
  const cleanup: string[] = [];
  try {
    let from: ImageSource;
    let srcName: string | undefined;
    if (src.transport === "docker") {
      const r = src.reference;
      from = registrySource(clients.get(r.registry), r.repository, r.digest ?? r.tag!);
      srcName = r.digest ? undefined : r.toString();
    } else if (src.transport === "oci") {
      if (!(await exists(join(src.dir, "index.json")))) {
        throw new TypeError(`"${source}": ${src.dir} is not an OCI layout (no index.json)`);
      }
      const store = await openStore(src.dir);
      from = storeSource(store, source, recordFor(store, source, src.name));
    } else {
      const dir = await mkdtemp(join(tmpdir(), "stratum-copy-"));
      cleanup.push(dir);
      const store = await openStore(dir);
      const file = Readable.toWeb(createReadStream(src.file)) as ReadableStream<Uint8Array>;
      const loaded = await loadArchive(store, file, { label: src.file });
      const want = src.name ? parseReference(src.name).toString() : undefined;
      const pick = want ? loaded.find((l) => l.names.includes(want)) : loaded[0];
      if (!pick || (!want && loaded.length > 1)) {
        throw new TypeError(
          want
            ? `"${source}" has no image named "${src.name}"`
            : `"${source}" holds ${loaded.length} images: name one`,
        );
      }
      const parsed = await store.manifest(pick.manifestDigest);
      from = storeSource(store, source, () =>
        Promise.resolve({
          mediaType: parsed.mediaType,
          digest: parsed.digest,
          size: parsed.bytes.length,
        }));
      srcName = pick.names[0];
    }

    let to: ImageSink;
    let tag: string | undefined;
    let finish = async (_d: Descriptor): Promise<void> => {};
    const s = settings(options, { concurrency: 3, allPlatforms: false });
    if (dst.transport === "docker") {
      const r = dst.reference;
      to = registrySink(clients.get(r.registry), r.repository, registrySinkOptions(options));
      tag = r.digest ? undefined : r.tag;
    } else {
      const archive = dst.transport === "docker-archive";
      if (archive && s.allPlatforms) {
        throw new TypeError(`"${destination}": a docker archive holds one platform per image`);
      }
      let dir: string;
      if (archive) {
        dir = await mkdtemp(join(tmpdir(), "stratum-copy-"));
        cleanup.push(dir);
      } else dir = dst.dir;
      const store = await openStore(dir);
      const name = archive ? (dst.name ? parseReference(dst.name).toString() : srcName) : dst.name;
      if (archive && !name) {
        throw new TypeError(`"${destination}": name the image (docker-archive:FILE:NAME)`);
      }
      to = storeSink(store, storeSinkOptions(options), async () => {});
      finish = async (d) => {
        await store.tags.set(name ?? `@${d.digest}`, d);
        if (dst.transport === "docker-archive") {
          const out = Writable.toWeb(createWriteStream(dst.file)) as WritableStream<Uint8Array>;
          await saveDockerArchive(store, [name!]).pipeTo(out);
        }
      };
    }
    const outcome = await copyImage(from, to, s, tag);
    await finish({
      mediaType: outcome.top.mediaType,
      digest: outcome.digest,
      size: outcome.top.bytes.length,
    });
    return { digest: outcome.digest, sourceDigest: outcome.sourceDigest };
  } catch (e) {
    throw wrap(source, e);
  } finally {
    for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
  }
}
