// Canonical JSON for documents stratum writes. Keys follow the field order of the Go structs
// (image-spec specs-go, moby) and maps are sorted, as Go's encoding/json does, so the same
// object always yields the same bytes and digest whatever order its keys were built in.

/** Copies `obj` with `keys` first in the given order, then any other keys as they were. */
export function ordered(obj: object, keys: readonly string[]): Record<string, unknown> {
  const source = obj as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  for (const [key, value] of Object.entries(source)) {
    if (!(key in out) && value !== undefined) out[key] = value;
  }
  return out;
}

/** Copies a map with its keys sorted, as Go writes maps. */
export function sorted(map: object | undefined): Record<string, unknown> | undefined {
  if (map === undefined) return undefined;
  const source = map as Record<string, unknown>;
  return Object.fromEntries(Object.keys(source).sort().map((key) => [key, source[key]]));
}

const DESCRIPTOR_KEYS = [
  "mediaType",
  "digest",
  "size",
  "urls",
  "annotations",
  "data",
  "platform",
  "artifactType",
];
const PLATFORM_KEYS = ["architecture", "os", "os.version", "os.features", "variant", "features"];

/** Orders a descriptor's keys (and its platform's) the way image-spec's Go types do. */
export function orderedDescriptor(d: object | undefined): Record<string, unknown> | undefined {
  if (d === undefined) return undefined;
  const source = d as Record<string, unknown>;
  return ordered({
    ...source,
    annotations: sorted(source.annotations as object | undefined),
    platform: source.platform === undefined
      ? undefined
      : ordered(source.platform as object, PLATFORM_KEYS),
  }, DESCRIPTOR_KEYS);
}

// Go's encoding/json escapes these inside strings; doing the same keeps our bytes equal to
// what Docker and BuildKit write for the same document.
const GO_ESCAPES = /[<>&\u2028\u2029]/g;

/** Serializes `value` as compact JSON, escaped as Go does, in UTF-8. */
export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value).replace(
    GO_ESCAPES,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return new TextEncoder().encode(text);
}
