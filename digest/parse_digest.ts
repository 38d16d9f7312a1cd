import { UnsupportedDigestError } from "./errors.ts";

/** A content digest in the OCI form `sha256:<64 lower-case hex>`. */
export type Digest = `sha256:${string}`;

/** The parts of a validated digest. */
export interface ParsedDigest {
  /** Always `sha256`: other algorithms are refused by {@linkcode parseDigest}. */
  algorithm: "sha256";
  /** 64 lower-case hex characters. */
  hex: string;
}

// Algorithms registered in the OCI image-spec (descriptor.md); known, so they get a
// clearer error than an arbitrary string, but not computed here.
const KNOWN_UNSUPPORTED: Record<string, number> = { sha512: 128 };
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;

/**
 * Validates `input` as a sha256 digest and splits it.
 *
 * Throws `SyntaxError` for malformed input (wrong length, upper case, no algorithm,
 * unknown algorithm) and {@linkcode UnsupportedDigestError} for `sha512:`.
 *
 * @example
 * ```ts
 * import { parseDigest } from "./parse_digest.ts";
 * const d = parseDigest("sha256:" + "a".repeat(64));
 * if (d.hex.length !== 64) throw new Error();
 * ```
 */
export function parseDigest(input: string): ParsedDigest {
  if (typeof input !== "string") {
    throw new TypeError(`Digest must be a string, got ${typeof input}`);
  }
  const colon = input.indexOf(":");
  if (colon <= 0) throw new SyntaxError(`Invalid digest "${input}": expected "sha256:<hex>"`);
  const algorithm = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  if (!ALGORITHM.test(algorithm)) {
    throw new SyntaxError(`Invalid digest "${input}": malformed algorithm "${algorithm}"`);
  }
  if (algorithm === "sha256") {
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      const why = /^[0-9a-fA-F]{64}$/.test(hex)
        ? "hex must be lower case"
        : `expected 64 hex characters, got ${hex.length}`;
      throw new SyntaxError(`Invalid digest "${input}": ${why}`);
    }
    return { algorithm, hex };
  }
  const len = KNOWN_UNSUPPORTED[algorithm];
  if (len !== undefined) {
    if (!new RegExp(`^[0-9a-f]{${len}}$`).test(hex)) {
      throw new SyntaxError(`Invalid digest "${input}": expected ${len} lower-case hex characters`);
    }
    throw new UnsupportedDigestError(input, algorithm);
  }
  throw new SyntaxError(`Invalid digest "${input}": unknown algorithm "${algorithm}"`);
}

/** True when `input` is a valid `sha256:` digest. Never throws. */
export function isDigest(input: unknown): input is Digest {
  return typeof input === "string" && /^sha256:[0-9a-f]{64}$/.test(input);
}
