/** Builds `Invalid <what> at "<field>": <problem>`, or without the field part at the top level. */
function describe(what: string, field: string, problem: string): string {
  return field === "" ? `Invalid ${what}: ${problem}` : `Invalid ${what} at "${field}": ${problem}`;
}

/**
 * A manifest or index is malformed, has the wrong media type, or uses an unsupported schema.
 * `field` is the path of the offending field (`layers[2].digest`), or `""` for the whole body.
 */
export class ManifestError extends SyntaxError {
  /** Path of the offending field, e.g. `layers[2].digest`; `""` for the whole document. */
  readonly field: string;
  /** Builds the error; the message names `field` and states `problem`. */
  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(describe("manifest", field, problem), options);
    this.name = "ManifestError";
    this.field = field;
  }
}

/**
 * An image config is malformed. `field` is the path of the offending field
 * (`rootfs.diff_ids[1]`), or `""` for the whole body.
 */
export class ConfigError extends SyntaxError {
  /** Path of the offending field, e.g. `config.Env[0]`; `""` for the whole document. */
  readonly field: string;
  /** Builds the error; the message names `field` and states `problem`. */
  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(describe("image config", field, problem), options);
    this.name = "ConfigError";
    this.field = field;
  }
}

/** A string is not a valid image reference; the message quotes it and says why. */
export class InvalidReferenceError extends SyntaxError {
  /** The string that failed to parse. */
  readonly input: string;
  /** Builds the error for `input`; `reason` says what is wrong with it. */
  constructor(input: string, reason: string, options?: ErrorOptions) {
    super(`Invalid reference "${input}": ${reason}`, options);
    this.name = "InvalidReferenceError";
    this.input = input;
  }
}

/** A platform specifier such as `linux/arm64/v8` is malformed. */
export class InvalidPlatformError extends SyntaxError {
  /** The specifier that failed to parse. */
  readonly input: string;
  /** Builds the error for `input`; `reason` says what is wrong with it. */
  constructor(input: string, reason: string) {
    super(`Invalid platform "${input}": ${reason}`);
    this.name = "InvalidPlatformError";
    this.input = input;
  }
}

/** An OCI image layout's `oci-layout` file is malformed or names an unknown layout version. */
export class ImageLayoutError extends SyntaxError {
  /** Builds the error; `problem` says what is wrong with the file. */
  constructor(problem: string, options?: ErrorOptions) {
    super(`Invalid oci-layout file: ${problem}`, options);
    this.name = "ImageLayoutError";
  }
}
