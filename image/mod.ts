/**
 * The image data model: media types, descriptors, manifests, indexes, image configs,
 * references (`docker.io/library/busybox:latest`) and platforms.
 *
 * Parsers take the exact bytes received and return the parsed object together with those
 * bytes and their digest ({@linkcode parseManifest}, {@linkcode parseImageConfig}), so nothing
 * is re-serialized before hashing: a manifest's digest and an image's ID are the sha256 of
 * the bytes as they arrived. Serializers ({@linkcode serializeManifest},
 * {@linkcode serializeImageConfig}) write canonical bytes only for documents stratum creates.
 * {@linkcode parseImageLayout} checks an OCI layout's `oci-layout` file.
 * {@linkcode parseReference} follows Docker's reference normalization;
 * {@linkcode selectManifest} picks an index entry the way containerd matches platforms.
 * {@linkcode runtimeSpec} turns an image config into the OCI runtime spec of a bundle, as
 * umoci does, with the user resolved by {@linkcode resolveExecUser} from the passwd and
 * group files a caller reads out of the image's root filesystem.
 *
 * Written by hand: these are small grammars and schemas that must match Docker's and
 * containerd's behaviour exactly, and no maintained npm package does both.
 *
 * @example Parse a reference, a manifest and a platform
 * ```ts
 * import { MediaType, parseManifest, parsePlatform, parseReference } from "@stratum/stratum/image";
 *
 * const ref = parseReference("busybox");
 * console.log(ref.toString()); // docker.io/library/busybox:latest, as docker reads it
 *
 * const bytes = new TextEncoder().encode(JSON.stringify({
 *   schemaVersion: 2,
 *   mediaType: MediaType.OCI_MANIFEST,
 *   config: {
 *     mediaType: MediaType.OCI_CONFIG,
 *     digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *     size: 2,
 *   },
 *   layers: [],
 * }));
 * // Validated from its exact bytes; the digest is over those bytes, never re-serialized.
 * const parsed = await parseManifest(bytes);
 * console.log(parsed.kind, parsed.digest);
 * console.log(parsePlatform("linux/arm64"));
 * ```
 *
 * @module
 */
export {
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  MANIFEST_ACCEPT,
  MediaType,
  type MediaTypeValue,
} from "./media_types.ts";
export type { Descriptor, Platform } from "./descriptor.ts";
export { type Layer, type LayerRef, layerRefs, readableLayer } from "./layer.ts";
export {
  ConfigError,
  ImageLayoutError,
  InvalidPlatformError,
  InvalidReferenceError,
  ManifestError,
} from "./errors.ts";
export {
  type ImageIndex,
  type ImageManifest,
  type ParsedManifest,
  parseManifest,
  serializeManifest,
} from "./manifest.ts";
export {
  type ContainerConfig,
  type HealthConfig,
  type History,
  historyOfLayers,
  type ImageConfig,
  layerHistory,
  type LayerStep,
  type ParsedImageConfig,
  parseImageConfig,
  type RootFS,
  serializeImageConfig,
} from "./image_config.ts";
export { dockerInspectComment, dockerInspectConfig } from "./docker_inspect.ts";
export { IMAGE_LAYOUT_VERSION, type ImageLayout, parseImageLayout } from "./image_layout.ts";
export { parseReference, Reference, type ReferenceParts } from "./reference.ts";
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  selectManifest,
} from "./platform.ts";
export {
  deviceAndSysMounts,
  type ExecUser,
  hostId,
  type IdMapping,
  parseIdMapping,
  resolveExecUser,
  RUNTIME_SPEC_VERSION,
  type RuntimeMount,
  type RuntimeSpec,
  runtimeSpec,
  type RuntimeSpecOptions,
} from "./runtime_spec.ts";

// Types of lower modules that this module's API names, re-exported so that its
// documentation links them and users import them from one door.
export type { Digest } from "../digest/mod.ts";
