/**
 * An OCI image layout whose manifest, config and first layer are named by sha512 digests
 * (the image-spec allows it; no peer here writes one), for the load/save/fsck tests.
 */
import { packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";
import { MediaType } from "../image/mod.ts";
import { imageConfig, layerTar } from "./_fixtures.ts";

/** The layout and the digests it names. */
export interface Sha512Layout {
  /** The layout as a tar (an OCI archive). */
  tar: Uint8Array;
  /** Every file of the layout by its path, for writing it out as a directory. */
  files: Map<string, Uint8Array>;
  /** The manifest's sha512 digest. */
  manifestDigest: string;
  /** The config's digest (sha512 unless asked otherwise). */
  configDigest: string;
  /** The image ID: the config's sha256. */
  id: string;
  /** Layer digests: a gzip layer by sha512, then a plain layer by sha256. */
  layers: string[];
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** sha512 of `bytes`, as `sha512:<hex>`. */
export function sha512(bytes: Uint8Array | string): Promise<string> {
  return sha256(bytes, { algorithm: "sha512" });
}

/** Options for {@linkcode sha512Layout}. */
export interface Sha512LayoutOptions {
  /** The tag the index entry carries. @default {"v512"} */
  name?: string;
  /**
   * The config's digest algorithm. skopeo 1.9 and umoci 0.4 check configs in sha256
   * only, so their tests name it by sha256. @default {"sha512"}
   */
  configBy?: "sha256" | "sha512";
}

/** Builds the layout. */
export async function sha512Layout(options: Sha512LayoutOptions = {}): Promise<Sha512Layout> {
  const name = options.name ?? "v512";
  const plain = [
    await layerTar([{ name: "etc/", type: "directory" }, {
      name: "etc/os-release",
      body: "ID=sha512\n",
    }]),
    await layerTar([{ name: "app", body: "named by sha256" }]),
  ];
  const config = await imageConfig(plain);
  const gz = await gzip(plain[0]);
  const layers = [await sha512(gz), await sha256(plain[1])];
  const configDigest = options.configBy === "sha256" ? await sha256(config) : await sha512(config);
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [
      { mediaType: MediaType.OCI_LAYER_GZIP, digest: layers[0], size: gz.length },
      { mediaType: MediaType.OCI_LAYER, digest: layers[1], size: plain[1].length },
    ],
  }));
  const manifestDigest = await sha512(manifest);
  const index = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: [{
      mediaType: MediaType.OCI_MANIFEST,
      digest: manifestDigest,
      size: manifest.length,
      annotations: { "org.opencontainers.image.ref.name": name },
    }],
  }));
  const path = (d: string) => `blobs/${d.replace(":", "/")}`;
  const files = new Map<string, Uint8Array>([
    ["oci-layout", new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}')],
    ["index.json", index],
    [path(manifestDigest), manifest],
    [path(configDigest), config],
    [path(layers[0]), gz],
    [path(layers[1]), plain[1]],
  ]);
  const tar = await packTar(
    [...files].map(([name, body]) => ({
      header: { name, size: body.length, type: "file" as const, mode: 0o644 },
      body,
    })),
  );
  return { tar, files, manifestDigest, configDigest, id: await sha256(config), layers };
}
