// Field checkers shared by the manifest, index and config parsers. Each takes the value, its
// path for the error message and a factory for the module's error class, so one set of rules
// yields ManifestError or ConfigError as the document requires.
import { checkDigest } from "../digest/mod.ts";
import type { Descriptor, Platform } from "./descriptor.ts";

/** Makes the error for a field; `field` is a path such as `layers[2].digest`. */
export type ErrorFactory = (field: string, problem: string, options?: ErrorOptions) => Error;

/** A JSON object as parsed. */
export type JsonObject = Record<string, unknown>;

// RFC 6838 section 4.2, as the OCI descriptor schema uses it.
const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes UTF-8 JSON bytes into an object, naming `what` when they are not one. */
export function decodeObject(bytes: Uint8Array, what: string, fail: ErrorFactory): JsonObject {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`The ${what} must be given as a Uint8Array of its exact bytes`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw fail("", `${what} is not valid UTF-8`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    const start = JSON.stringify(text.slice(0, 40));
    throw fail("", `${what} is not JSON (${(cause as Error).message}); it starts with ${start}`, {
      cause,
    });
  }
  if (!isObject(value)) throw fail("", `${what} must be a JSON object, got ${kind(value)}`);
  return value;
}

/** True for a plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Names the JSON type of `value` for messages. */
export function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

/** Joins a parent path and a key: `config` + `Env` → `config.Env`; the root has no prefix. */
export function at(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** Requires an object at `path`. */
export function object(value: unknown, path: string, fail: ErrorFactory): JsonObject {
  if (!isObject(value)) throw fail(path, `must be an object, got ${kind(value)}`);
  return value;
}

/** Requires a string at `path`. */
export function string(value: unknown, path: string, fail: ErrorFactory): string {
  if (typeof value !== "string") throw fail(path, `must be a string, got ${kind(value)}`);
  return value;
}

/** Checks an optional string at `path`. */
export function optionalString(value: unknown, path: string, fail: ErrorFactory): void {
  if (value !== undefined) string(value, path, fail);
}

/** Checks an optional array of strings at `path`. */
export function optionalStringArray(value: unknown, path: string, fail: ErrorFactory): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw fail(path, `must be an array of strings, got ${kind(value)}`);
  value.forEach((item, i) => string(item, `${path}[${i}]`, fail));
}

/** Checks an optional map of string to string at `path` (annotations, labels). */
export function optionalStringMap(value: unknown, path: string, fail: ErrorFactory): void {
  if (value === undefined) return;
  const map = object(value, path, fail);
  for (const [key, item] of Object.entries(map)) {
    string(item, `${path}[${JSON.stringify(key)}]`, fail);
  }
}

/** Requires a media type (RFC 6838 form) at `path`. */
export function mediaType(value: unknown, path: string, fail: ErrorFactory): string {
  const text = string(value, path, fail);
  if (!MEDIA_TYPE.test(text)) throw fail(path, `is not a media type: ${JSON.stringify(text)}`);
  return text;
}

/**
 * Requires a digest at `path` as the image-spec accepts them: sha256 and sha512 with their
 * exact hex, and well-formed digests in other algorithms (`sha256+b64u:...`), which the
 * spec's validator lets through as unsupported rather than invalid.
 */
export function digest(value: unknown, path: string, fail: ErrorFactory): void {
  const text = string(value, path, fail);
  try {
    checkDigest(text);
  } catch (cause) {
    throw fail(path, (cause as Error).message, { cause });
  }
}

/**
 * Requires an absolute URI at `path` (the schema's `"format": "uri"`): a scheme, then a
 * valid URL. `"value"` is refused, `"https://example.com/foo"` accepted.
 */
export function url(value: string, path: string, fail: ErrorFactory): void {
  let valid = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(value);
  if (valid) {
    try {
      new URL(value);
    } catch {
      valid = false;
    }
  }
  if (!valid) throw fail(path, `is not an absolute URL: ${JSON.stringify(value)}`);
}

/** Requires a non-negative safe integer size at `path`. */
export function size(value: unknown, path: string, fail: ErrorFactory): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw fail(path, `must be a non-negative integer, got ${kind(value)}`);
  }
  return value;
}

/** Validates a platform object at `path`. */
export function platform(value: unknown, path: string, fail: ErrorFactory): Platform {
  const p = object(value, path, fail);
  string(p.architecture, at(path, "architecture"), fail);
  string(p.os, at(path, "os"), fail);
  optionalString(p["os.version"], at(path, "os.version"), fail);
  optionalStringArray(p["os.features"], at(path, "os.features"), fail);
  optionalString(p.variant, at(path, "variant"), fail);
  optionalStringArray(p.features, at(path, "features"), fail);
  return p as unknown as Platform;
}

/** Validates a descriptor at `path` (OCI image-spec descriptor.md). */
export function descriptor(value: unknown, path: string, fail: ErrorFactory): Descriptor {
  const d = object(value, path, fail);
  mediaType(d.mediaType, at(path, "mediaType"), fail);
  digest(d.digest, at(path, "digest"), fail);
  const declared = size(d.size, at(path, "size"), fail);
  optionalStringArray(d.urls, at(path, "urls"), fail);
  (d.urls as string[] | undefined)?.forEach((u, i) => url(u, `${at(path, "urls")}[${i}]`, fail));
  optionalStringMap(d.annotations, at(path, "annotations"), fail);
  if (d.platform !== undefined) platform(d.platform, at(path, "platform"), fail);
  if (d.artifactType !== undefined) mediaType(d.artifactType, at(path, "artifactType"), fail);
  if (d.data !== undefined) {
    const data = string(d.data, at(path, "data"), fail);
    if (!BASE64.test(data)) throw fail(at(path, "data"), "must be base64");
    const padding = data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0;
    const length = (data.length / 4) * 3 - padding;
    if (length !== declared) {
      throw fail(at(path, "data"), `holds ${length} bytes but size says ${declared}`);
    }
  }
  return d as unknown as Descriptor;
}
