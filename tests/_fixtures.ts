/**
 * Seeded, self-made images for tests: layer tars, configs and docker-save archives built
 * in memory, so unit tests need no registry and no daemon.
 */
import { packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";

/** A file in a test layer. */
export interface FixtureFile {
  /** Path inside the layer, without a leading slash. */
  name: string;
  /** File content (a regular file). */
  body?: string | Uint8Array;
  /** Entry type. @default {"file"} */
  type?: "file" | "directory" | "symlink" | "link";
  /** Link target for links. */
  linkname?: string;
  /** Permission bits. */
  mode?: number;
}

/** An uncompressed layer tar with `files`, with fixed mtimes so it is reproducible. */
export async function layerTar(files: FixtureFile[]): Promise<Uint8Array> {
  const enc = new TextEncoder();
  return await packTar(files.map((f) => {
    const body = typeof f.body === "string" ? enc.encode(f.body) : f.body;
    const type = f.type ?? "file";
    return {
      header: {
        name: f.name,
        type,
        size: type === "file" ? body?.length ?? 0 : 0,
        mode: f.mode ?? (type === "directory" ? 0o755 : 0o644),
        mtime: new Date(0),
        linkname: f.linkname,
        uid: 0,
        gid: 0,
      },
      body: type === "file" ? body ?? new Uint8Array() : undefined,
    };
  }));
}

/** A docker image config for `layers` (their diff_ids), with one history entry each. */
export async function imageConfig(
  layers: Uint8Array[],
  extra: { cmd?: string[]; created?: string } = {},
): Promise<Uint8Array> {
  const diffIds = await Promise.all(layers.map((l) => sha256(l)));
  const config = {
    architecture: "amd64",
    os: "linux",
    created: extra.created ?? "2024-01-02T03:04:05Z",
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: extra.cmd ?? ["sh"],
    },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: layers.map((_, i) => ({ created: "2024-01-02T03:04:05Z", created_by: `step ${i}` })),
  };
  return new TextEncoder().encode(JSON.stringify(config));
}

/** Options for {@linkcode dockerArchive}. */
export interface ArchiveOptions {
  /** RepoTags of the image. */
  repoTags?: string[] | null;
  /** Replace the config bytes (to make a wrong-digest archive). */
  tamperConfig?: (bytes: Uint8Array) => Uint8Array;
  /** Drop manifest.json. */
  noManifest?: boolean;
}

/** A legacy `docker save` archive of one image made of `layers`. */
export async function dockerArchive(
  layers: Uint8Array[],
  options: ArchiveOptions = {},
): Promise<{ tar: Uint8Array; id: string }> {
  const config = await imageConfig(layers);
  const id = await sha256(config);
  const hex = id.slice(7);
  const entries = [];
  const paths: string[] = [];
  for (const [i, l] of layers.entries()) {
    const dir = `layer${i}`;
    paths.push(`${dir}/layer.tar`);
    entries.push({ header: { name: `${dir}/`, type: "directory" as const, size: 0 } });
    entries.push({ header: { name: `${dir}/layer.tar`, size: l.length }, body: l });
  }
  const cfg = options.tamperConfig ? options.tamperConfig(config) : config;
  entries.push({ header: { name: `${hex}.json`, size: cfg.length }, body: cfg });
  if (!options.noManifest) {
    const manifest = new TextEncoder().encode(JSON.stringify([
      {
        Config: `${hex}.json`,
        RepoTags: options.repoTags === undefined ? ["test/app:1"] : options.repoTags,
        Layers: paths,
      },
    ]));
    entries.push({ header: { name: "manifest.json", size: manifest.length }, body: manifest });
  }
  return { tar: await packTar(entries), id };
}

/** A stream over `bytes`, in chunks of `chunk` bytes. */
export function streamOf(bytes: Uint8Array, chunk = 64 << 10): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= bytes.length) return c.close();
      c.enqueue(bytes.slice(o, o + chunk));
      o += chunk;
    },
  });
}
