import { UnsupportedDigestError } from "./errors.ts";

/**
 * A content digest in the OCI form `sha256:<64 lower-case hex>`; a hasher created for
 * SHA-512 gives `sha512:<128 lower-case hex>`.
 */
export type Digest = `sha256:${string}` | `sha512:${string}`;

/** The parts of a validated digest. */
export interface ParsedDigest {
  /** `sha256` or `sha512`: other algorithms are refused by {@linkcode parseDigest}. */
  algorithm: HashAlgorithm;
  /** The lower-case hex: 64 characters for sha256, 128 for sha512. */
  hex: string;
}

// Algorithms registered in the OCI image-spec (descriptor.md) and the length of their hex.
// These are the ones stratum hashes, so stores can verify and keep content they name.
const REGISTERED: Record<string, number> = { sha256: 64, sha512: 128 };
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
// The image-spec's grammar for the encoded part (defs-descriptor.json).
const ENCODED = /^[a-zA-Z0-9=_-]+$/;

/** An algorithm stratum can compute: the registered ones. */
export type HashAlgorithm = "sha256" | "sha512";

/** What {@linkcode checkDigest} finds in a digest. */
export interface CheckedDigest {
  /** The algorithm as written: `sha256`, `sha512`, `sha256+b64u`, `multihash+base58`, ... */
  algorithm: string;
  /** The part after the colon. */
  encoded: string;
  /** True for the algorithms stratum computes (and so can verify): sha256 and sha512. */
  verifiable: boolean;
}

/**
 * Checks `input` against the OCI image-spec's digest grammar, as the spec's schema and
 * go-digest do: `algorithm:encoded`, the algorithm lower-case components joined by one of
 * `+._-`, the encoded part `[a-zA-Z0-9=_-]+`; the registered algorithms (sha256, sha512)
 * must have exactly their number of lower-case hex characters. Algorithms that are well
 * formed but not registered (`sha256+b64u:...`) are accepted, not verifiable.
 *
 * @example
 * ```ts
 * import { checkDigest } from "./parse_digest.ts";
 * const d = checkDigest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8");
 * if (d.verifiable || d.algorithm !== "multihash+base58") throw new Error();
 * ```
 * @throws {SyntaxError} for anything the grammar refuses, quoting the input.
 */
export function checkDigest(input: string): CheckedDigest {
  if (typeof input !== "string") {
    throw new TypeError(`Digest must be a string, got ${typeof input}`);
  }
  const colon = input.indexOf(":");
  if (colon <= 0) {
    throw new SyntaxError(`Invalid digest "${input}": expected "<algorithm>:<encoded>"`);
  }
  const algorithm = input.slice(0, colon);
  const encoded = input.slice(colon + 1);
  if (!ALGORITHM.test(algorithm)) {
    throw new SyntaxError(`Invalid digest "${input}": malformed algorithm "${algorithm}"`);
  }
  const length = Object.hasOwn(REGISTERED, algorithm) ? REGISTERED[algorithm] : undefined;
  if (length === undefined) {
    if (!ENCODED.test(encoded)) {
      throw new SyntaxError(`Invalid digest "${input}": malformed encoded part`);
    }
    return { algorithm, encoded, verifiable: false };
  }
  if (!new RegExp(`^[0-9a-f]{${length}}$`).test(encoded)) {
    const why = new RegExp(`^[0-9a-fA-F]{${length}}$`).test(encoded)
      ? "hex must be lower case"
      : `expected ${length} hex characters, got ${encoded.length}`;
    throw new SyntaxError(`Invalid digest "${input}": ${why}`);
  }
  return { algorithm, encoded, verifiable: true };
}

/**
 * Validates `input` as a digest stratum can verify, `sha256:` or `sha512:`, and splits it.
 * Stores accept content under either; what stratum computes itself (image IDs, manifest
 * digests, diff_ids) is always sha256.
 *
 * Throws `SyntaxError` for malformed input (wrong length, upper case, no algorithm) and
 * {@linkcode UnsupportedDigestError}, naming the algorithm, for a well-formed digest in an
 * algorithm stratum cannot hash (`sha256+b64u:...`, `multihash+base58:...`).
 *
 * @example
 * ```ts
 * import { parseDigest } from "./parse_digest.ts";
 * const d = parseDigest("sha256:" + "a".repeat(64));
 * if (d.hex.length !== 64) throw new Error();
 * if (parseDigest("sha512:" + "b".repeat(128)).algorithm !== "sha512") throw new Error();
 * ```
 */
export function parseDigest(input: string): ParsedDigest {
  if (typeof input !== "string") {
    throw new TypeError(`Digest must be a string, got ${typeof input}`);
  }
  const colon = input.indexOf(":");
  if (colon <= 0) throw new SyntaxError(`Invalid digest "${input}": expected "sha256:<hex>"`);
  const { algorithm, encoded, verifiable } = checkDigest(input);
  if (!verifiable) throw new UnsupportedDigestError(input, algorithm);
  return { algorithm: algorithm as HashAlgorithm, hex: encoded };
}

/** True when `input` is a valid `sha256:` or `sha512:` digest. Never throws. */
export function isDigest(input: unknown): input is Digest {
  return typeof input === "string" &&
    (/^sha256:[0-9a-f]{64}$/.test(input) || /^sha512:[0-9a-f]{128}$/.test(input));
}
