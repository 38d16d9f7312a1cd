import { decodeObject, kind } from "./_check.ts";
import { ImageLayoutError } from "./errors.ts";

/** The one layout version the image-spec defines (image-layout.md, image-layout-schema.json). */
export const IMAGE_LAYOUT_VERSION = "1.0.0";

/** The content of an OCI image layout's `oci-layout` file. */
export interface ImageLayout {
  /** Always `"1.0.0"`. */
  imageLayoutVersion: typeof IMAGE_LAYOUT_VERSION;
}

/**
 * Reads an `oci-layout` file as the image-spec's schema does: a JSON object whose
 * `imageLayoutVersion` is the string `"1.0.0"`.
 *
 * @example
 * ```ts
 * import { parseImageLayout } from "./image_layout.ts";
 * const layout = parseImageLayout(new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}'));
 * if (layout.imageLayoutVersion !== "1.0.0") throw new Error();
 * ```
 * @throws {ImageLayoutError} for bytes that are not such an object, quoting what was found.
 */
export function parseImageLayout(bytes: Uint8Array): ImageLayout {
  const layout = decodeObject(
    bytes,
    "oci-layout",
    (_field, problem, options) => new ImageLayoutError(problem, options),
  );
  const version = layout.imageLayoutVersion;
  if (version === undefined) throw new ImageLayoutError("imageLayoutVersion is missing");
  if (version !== IMAGE_LAYOUT_VERSION) {
    throw new ImageLayoutError(
      `imageLayoutVersion must be the string "${IMAGE_LAYOUT_VERSION}", got ${kind(version)}`,
    );
  }
  return { imageLayoutVersion: IMAGE_LAYOUT_VERSION };
}
