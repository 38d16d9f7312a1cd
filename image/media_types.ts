/**
 * The media types of OCI and Docker image objects.
 *
 * OCI values come from the OCI image-spec (media-types.md); Docker values from the
 * Docker Image Manifest V2, Schema 2 specification.
 *
 * @example
 * ```ts
 * import { MediaType } from "./media_types.ts";
 * if (MediaType.OCI_MANIFEST !== "application/vnd.oci.image.manifest.v1+json") throw new Error();
 * ```
 */
export const MediaType = {
  /** An OCI image manifest. */
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  /** An OCI image index. */
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  /** An OCI image config. */
  OCI_CONFIG: "application/vnd.oci.image.config.v1+json",
  /** An uncompressed OCI layer tar. */
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar",
  /** A gzip-compressed OCI layer tar. */
  OCI_LAYER_GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
  /** A zstd-compressed OCI layer tar. */
  OCI_LAYER_ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** An uncompressed non-distributable OCI layer (deprecated by the spec, still read). */
  OCI_LAYER_NONDIST: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  /** A gzip-compressed non-distributable OCI layer (deprecated by the spec, still read). */
  OCI_LAYER_NONDIST_GZIP: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  /** A zstd-compressed non-distributable OCI layer (deprecated by the spec, still read). */
  OCI_LAYER_NONDIST_ZSTD: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  /** The empty descriptor `{}`, used as the config of artifacts. */
  OCI_EMPTY: "application/vnd.oci.empty.v1+json",
  /** A Docker schema-2 image manifest. */
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  /** A Docker manifest list (the Docker form of an image index). */
  DOCKER_MANIFEST_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  /** A Docker image config. */
  DOCKER_CONFIG: "application/vnd.docker.container.image.v1+json",
  /** A gzip-compressed Docker layer tar. */
  DOCKER_LAYER_GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  /** A gzip-compressed Docker layer that registries may not redistribute (Windows bases). */
  DOCKER_LAYER_FOREIGN_GZIP: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** A Docker schema-1 manifest: deprecated and refused by stratum. */
  DOCKER_MANIFEST_SCHEMA1: "application/vnd.docker.distribution.manifest.v1+json",
  /** A signed Docker schema-1 manifest: deprecated and refused by stratum. */
  DOCKER_MANIFEST_SCHEMA1_SIGNED: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** One of the media types in {@linkcode MediaType}. */
export type MediaTypeValue = typeof MediaType[keyof typeof MediaType];

const MANIFEST_TYPES: ReadonlySet<string> = new Set([
  MediaType.OCI_MANIFEST,
  MediaType.DOCKER_MANIFEST,
]);
const INDEX_TYPES: ReadonlySet<string> = new Set([
  MediaType.OCI_INDEX,
  MediaType.DOCKER_MANIFEST_LIST,
]);
const LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaType.OCI_LAYER,
  MediaType.OCI_LAYER_GZIP,
  MediaType.OCI_LAYER_ZSTD,
  MediaType.OCI_LAYER_NONDIST,
  MediaType.OCI_LAYER_NONDIST_GZIP,
  MediaType.OCI_LAYER_NONDIST_ZSTD,
  MediaType.DOCKER_LAYER_GZIP,
  MediaType.DOCKER_LAYER_FOREIGN_GZIP,
]);

/** Strips parameters (`; charset=utf-8`) and spaces that HTTP Content-Type values carry. */
function bare(mediaType: string): string {
  const semi = mediaType.indexOf(";");
  return (semi === -1 ? mediaType : mediaType.slice(0, semi)).trim().toLowerCase();
}

/** True for a single-image manifest type (OCI or Docker schema 2); HTTP parameters are ignored. */
export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_TYPES.has(bare(mediaType));
}

/** True for an image index or Docker manifest list; HTTP parameters are ignored. */
export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.has(bare(mediaType));
}

/** True for a layer blob type (OCI or Docker, any compression, distributable or not). */
export function isLayerMediaType(mediaType: string): boolean {
  return LAYER_TYPES.has(bare(mediaType));
}

/**
 * Every manifest and index type stratum reads, joined for an HTTP `Accept` header.
 * Schema 1 is left out on purpose so registries convert or refuse instead of sending it.
 */
export const MANIFEST_ACCEPT: string = [
  MediaType.OCI_INDEX,
  MediaType.OCI_MANIFEST,
  MediaType.DOCKER_MANIFEST_LIST,
  MediaType.DOCKER_MANIFEST,
].join(", ");
