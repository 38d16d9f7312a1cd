/** No blob with that digest is in the store. */
export class BlobNotFoundError extends Error {
  /** The digest that was asked for. */
  readonly digest: string;
  /** Builds the error for `digest`. */
  constructor(digest: string, options?: ErrorOptions) {
    super(`Blob not found: ${digest}`, options);
    this.name = "BlobNotFoundError";
    this.digest = digest;
  }
}

/** No image matches a reference, an ID or an ID prefix. */
export class ImageNotFoundError extends Error {
  /** What the caller asked for, as typed. */
  readonly reference: string;
  /** Builds the error for `reference`. */
  constructor(reference: string, options?: ErrorOptions) {
    super(`No such image: ${reference}`, options);
    this.name = "ImageNotFoundError";
    this.reference = reference;
  }
}

/** A store operation that is refused as it stands (e.g. removing an image still in use). */
export class ConflictError extends Error {
  /** Builds the error with `message`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConflictError";
  }
}

/** An archive or layout that cannot be imported (truncated, inconsistent, wrong digests). */
export class ArchiveError extends Error {
  /** Builds the error with `message`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ArchiveError";
  }
}
