/**
 * The image data model: media types, descriptors, manifests, indexes, image configs,
 * references (`docker.io/library/busybox:latest`) and platforms.
 *
 * Parsers take the exact bytes received and return the parsed object together with those
 * bytes and their digest, so nothing is ever re-serialized before hashing. Serializers
 * produce the canonical bytes for objects stratum creates itself.
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
