/** A tar archive is malformed: bad checksum, truncated, unsupported entry, bad PAX record. */
export class TarFormatError extends Error {
  /** The archive the error is about (a layer digest or a file name). */
  readonly subject: string;
  /** Byte offset in the uncompressed archive where the problem was found. */
  readonly offset: number;
  /** Builds the error. */
  constructor(subject: string, offset: number, reason: string, options?: ErrorOptions) {
    super(`Cannot read tar "${subject}" at byte ${offset}: ${reason}`, options);
    this.name = "TarFormatError";
    this.subject = subject;
    this.offset = offset;
  }
}

/** A layer is well-formed tar but cannot be applied: e.g. a hardlink to a missing file. */
export class InvalidLayerError extends Error {
  /** The layer (its digest) the entry is in. */
  readonly layer: string;
  /** The entry's path in the archive. */
  readonly path: string;
  /** Builds the error. */
  constructor(layer: string, path: string, reason: string, options?: ErrorOptions) {
    super(`Cannot apply layer "${layer}": entry "${path}" ${reason}`, options);
    this.name = "InvalidLayerError";
    this.layer = layer;
    this.path = path;
  }
}

/** A file operation on a copy-on-write layer failed the way the same call on a disk would. */
export class PathError extends Error {
  /** The errno-style code: `ENOENT`, `EEXIST`, `ENOTDIR`, `EISDIR`, `ENOTEMPTY`, `EINVAL`. */
  readonly code: string;
  /** The path the operation was given. */
  readonly path: string;
  /** Builds the error. */
  constructor(code: string, operation: string, path: string, reason: string) {
    super(`Cannot ${operation} "${path}": ${reason} (${code})`);
    this.name = "PathError";
    this.code = code;
    this.path = path;
  }
}
