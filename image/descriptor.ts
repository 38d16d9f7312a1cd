import type { Digest } from "../digest/mod.ts";

/** The platform an image runs on (OCI image-spec image-index.md `platform`). */
export interface Platform {
  /** CPU architecture in Go's `GOARCH` spelling: `amd64`, `arm64`, `arm`, `386`, ... */
  architecture: string;
  /** Operating system in Go's `GOOS` spelling: `linux`, `windows`, ... */
  os: string;
  /** Operating system version, e.g. `10.0.14393.1066` for Windows. */
  "os.version"?: string;
  /** Required OS features, e.g. `win32k`. */
  "os.features"?: string[];
  /** CPU variant: `v8` for arm64, `v7`/`v6`/`v5` for arm. */
  variant?: string;
  /** Reserved by the OCI spec for CPU features. */
  features?: string[];
}

/** A reference to content by media type, digest and size (OCI image-spec descriptor.md). */
export interface Descriptor {
  /** The media type of the referenced content. */
  mediaType: string;
  /** The digest of the referenced content's exact bytes. */
  digest: Digest;
  /** The size of the referenced content in bytes. */
  size: number;
  /** Other places the content may be fetched from. */
  urls?: string[];
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** For entries of an index: the platform of the referenced manifest. */
  platform?: Platform;
  /** For artifacts: the type of the referenced artifact. */
  artifactType?: string;
  /** The content itself, base64-encoded, embedded for small blobs. */
  data?: string;
}
