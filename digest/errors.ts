/** The bytes read do not hash to the digest that named them. */
export class DigestMismatchError extends Error {
  /** The digest the caller expected. */
  readonly expected: string;
  /** The digest of the bytes actually read. */
  readonly actual: string;
  /** Builds the error; `subject` names the input (a blob, a file, a URL). */
  constructor(expected: string, actual: string, subject = "content") {
    super(`Digest mismatch for ${subject}: expected ${expected}, got ${actual}`);
    this.name = "DigestMismatchError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** The bytes read are more or fewer than the size that was declared for them. */
export class SizeMismatchError extends Error {
  /** The declared size in bytes. */
  readonly expected: number;
  /** The bytes seen so far (for an overrun, the count at which reading stopped). */
  readonly actual: number;
  /** Builds the error; `subject` names the input. */
  constructor(expected: number, actual: number, subject = "content") {
    super(
      actual > expected
        ? `Size mismatch for ${subject}: declared ${expected} bytes, got more`
        : `Size mismatch for ${subject}: declared ${expected} bytes, got ${actual}`,
    );
    this.name = "SizeMismatchError";
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A well-formed digest in an algorithm stratum cannot hash (`sha256+b64u:`,
 * `multihash+base58:`, ...): accepted in descriptors, refused wherever the bytes it names
 * must be verified or stored.
 */
export class UnsupportedDigestError extends Error {
  /** The algorithm named in the digest. */
  readonly algorithm: string;
  /** Builds the error for `digest`. */
  constructor(digest: string, algorithm: string) {
    super(
      `Unsupported digest algorithm "${algorithm}" in "${digest}": stratum can verify only sha256 and sha512`,
    );
    this.name = "UnsupportedDigestError";
    this.algorithm = algorithm;
  }
}
