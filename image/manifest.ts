import { type Digest, sha256 } from "../digest/mod.ts";
import {
  decodeObject,
  descriptor,
  type ErrorFactory,
  type JsonObject,
  kind,
  mediaType as checkMediaType,
  optionalStringMap,
} from "./_check.ts";
import { encodeJson, ordered, orderedDescriptor, sorted } from "./_encode.ts";
import type { Descriptor } from "./descriptor.ts";
import { ManifestError } from "./errors.ts";
import { isIndexMediaType, isManifestMediaType, MediaType } from "./media_types.ts";

/** A single-image manifest: OCI image manifest or Docker schema 2 (OCI image-spec manifest.md). */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** `OCI_MANIFEST` or `DOCKER_MANIFEST`; OCI allows it to be absent in received manifests. */
  mediaType?: string;
  /** For artifacts: the artifact's type. */
  artifactType?: string;
  /** The image config (or, for artifacts, any blob). */
  config: Descriptor;
  /** The layers, base first. */
  layers: Descriptor[];
  /** A manifest this one refers to (signatures, SBOMs). */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** An image index or Docker manifest list (OCI image-spec image-index.md). */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** `OCI_INDEX` or `DOCKER_MANIFEST_LIST`; OCI allows it to be absent in received indexes. */
  mediaType?: string;
  /** For artifacts: the artifact's type. */
  artifactType?: string;
  /** The manifests, usually one per platform. */
  manifests: Descriptor[];
  /** A manifest this one refers to. */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** What {@linkcode parseManifest} returns: the document, its exact bytes and their digest. */
export type ParsedManifest =
  | {
    /** A single-image manifest. */
    kind: "manifest";
    /** The media type the manifest was recognised as. */
    mediaType: string;
    /** The validated manifest. */
    manifest: ImageManifest;
    /** The exact bytes parsed; hash and store these, never a re-serialization. */
    bytes: Uint8Array;
    /** sha256 of `bytes`: the manifest digest (`name@sha256:...`). */
    digest: Digest;
  }
  | {
    /** An image index or manifest list. */
    kind: "index";
    /** The media type the index was recognised as. */
    mediaType: string;
    /** The validated index. */
    index: ImageIndex;
    /** The exact bytes parsed; hash and store these, never a re-serialization. */
    bytes: Uint8Array;
    /** sha256 of `bytes`: the index digest. */
    digest: Digest;
  };

const fail: ErrorFactory = (field, problem, options) => new ManifestError(field, problem, options);

const SCHEMA1 =
  "Docker image manifest schema 1 is deprecated and unsupported; push the image again with a " +
  "current client to get a schema 2 or OCI manifest";

// Bodies served with these Content-Types say nothing about what they are; the body decides.
const GENERIC_TYPES = new Set(["", "application/json", "application/octet-stream", "text/plain"]);

function bareType(contentType: string): string {
  return contentType.split(";")[0].trim().toLowerCase();
}

function isSchema1(mediaType: unknown): boolean {
  return mediaType === MediaType.DOCKER_MANIFEST_SCHEMA1 ||
    mediaType === MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED;
}

/** Decides the media type from the body's `mediaType`, the Content-Type and the shape. */
function resolveMediaType(body: JsonObject, contentType: string): string {
  const declared = body.mediaType;
  if (declared !== undefined) {
    const text = checkMediaType(declared, "mediaType", fail);
    if (isSchema1(text)) throw fail("mediaType", SCHEMA1);
    if (!isManifestMediaType(text) && !isIndexMediaType(text)) {
      throw fail("mediaType", `"${text}" is not an image manifest or index media type`);
    }
    if (!GENERIC_TYPES.has(contentType) && contentType !== text) {
      throw fail("mediaType", `"${text}" does not match the Content-Type "${contentType}"`);
    }
    return text;
  }
  if (contentType === MediaType.DOCKER_MANIFEST || contentType === MediaType.DOCKER_MANIFEST_LIST) {
    // Docker's schema 2 requires the field (distribution's schema2 package refuses it missing).
    throw fail("mediaType", `is required for "${contentType}"`);
  }
  if (contentType === MediaType.OCI_MANIFEST || contentType === MediaType.OCI_INDEX) {
    return contentType;
  }
  const hasManifests = "manifests" in body;
  const hasConfig = "config" in body || "layers" in body;
  if (hasManifests && hasConfig) {
    throw fail("mediaType", "is missing and the body has both manifests and config/layers");
  }
  if (hasManifests) return MediaType.OCI_INDEX;
  if (hasConfig) return MediaType.OCI_MANIFEST;
  throw fail("", "no mediaType, and neither config/layers nor manifests");
}

function descriptorList(value: unknown, path: string): void {
  if (!Array.isArray(value)) throw fail(path, `must be an array, got ${kind(value)}`);
  value.forEach((item, i) => descriptor(item, `${path}[${i}]`, fail));
}

function checkCommon(body: JsonObject): void {
  if (body.artifactType !== undefined) checkMediaType(body.artifactType, "artifactType", fail);
  if (body.subject !== undefined) descriptor(body.subject, "subject", fail);
  optionalStringMap(body.annotations, "annotations", fail);
}

/**
 * Validates a manifest or index given as its exact bytes and returns it with those bytes and
 * their digest.
 *
 * `contentType` is the HTTP `Content-Type` (or the media type from a descriptor) if known;
 * parameters such as `; charset=utf-8` are ignored. When it names a manifest type it must
 * agree with the body's `mediaType`. Throws {@linkcode ManifestError} naming the offending
 * field for a non-JSON body, a wrong or missing media type, missing fields, malformed digests,
 * and negative or non-integer sizes; Docker schema 1 is refused as deprecated.
 *
 * @example
 * ```ts
 * import { parseManifest } from "./manifest.ts";
 * const json = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`;
 * const parsed = await parseManifest(new TextEncoder().encode(json));
 * if (parsed.kind !== "index" || !parsed.digest.startsWith("sha256:")) throw new Error();
 * ```
 */
export async function parseManifest(
  bytes: Uint8Array,
  contentType?: string,
): Promise<ParsedManifest> {
  const type = bareType(contentType ?? "");
  if (isSchema1(type)) throw fail("", SCHEMA1);
  if (!GENERIC_TYPES.has(type) && !isManifestMediaType(type) && !isIndexMediaType(type)) {
    throw fail("", `Content-Type "${type}" is not an image manifest or index media type`);
  }
  const body = decodeObject(bytes, "manifest", fail);
  if (body.schemaVersion === 1 || isSchema1(body.mediaType)) {
    throw fail(body.schemaVersion === 1 ? "schemaVersion" : "mediaType", SCHEMA1);
  }
  if (body.schemaVersion !== 2) {
    throw fail("schemaVersion", `must be 2, got ${kind(body.schemaVersion)}`);
  }
  const mediaType = resolveMediaType(body, type);
  checkCommon(body);
  const digest = await sha256(bytes);
  if (isIndexMediaType(mediaType)) {
    descriptorList(body.manifests, "manifests");
    return { kind: "index", mediaType, index: body as unknown as ImageIndex, bytes, digest };
  }
  descriptor(body.config, "config", fail);
  descriptorList(body.layers, "layers");
  return { kind: "manifest", mediaType, manifest: body as unknown as ImageManifest, bytes, digest };
}

/**
 * Serializes a manifest or index stratum creates into canonical bytes (compact JSON, keys in
 * the image-spec order, maps sorted), validates the result and returns it as
 * {@linkcode parseManifest} would. `mediaType` must be set. Never use this on a received
 * manifest: keep and hash its bytes instead.
 *
 * @example
 * ```ts
 * import { MediaType } from "./media_types.ts";
 * import { serializeManifest } from "./manifest.ts";
 * const parsed = await serializeManifest({
 *   schemaVersion: 2,
 *   mediaType: MediaType.OCI_INDEX,
 *   manifests: [],
 * });
 * if (new TextDecoder().decode(parsed.bytes) !== `{"schemaVersion":2,"mediaType":"${MediaType.OCI_INDEX}","manifests":[]}`) {
 *   throw new Error();
 * }
 * ```
 */
export async function serializeManifest(
  document: ImageManifest | ImageIndex,
): Promise<ParsedManifest> {
  if (typeof document?.mediaType !== "string") {
    throw new TypeError("serializeManifest() needs the document's mediaType set");
  }
  const isIndex = "manifests" in document;
  const common = {
    subject: orderedDescriptor(document.subject),
    annotations: sorted(document.annotations),
  };
  const canonical = isIndex
    ? ordered({
      ...document,
      ...common,
      manifests: (document as ImageIndex).manifests?.map(orderedDescriptor),
    }, ["schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"])
    : ordered({
      ...document,
      ...common,
      config: orderedDescriptor((document as ImageManifest).config),
      layers: (document as ImageManifest).layers?.map(orderedDescriptor),
    }, [
      "schemaVersion",
      "mediaType",
      "artifactType",
      "config",
      "layers",
      "subject",
      "annotations",
    ]);
  return await parseManifest(encodeJson(canonical), document.mediaType);
}
