import { DigestMismatchError, SizeMismatchError } from "./errors.ts";
import { createHasher, type HashEngine } from "./hasher.ts";
import { checkDigest, type HashAlgorithm } from "./parse_digest.ts";
import { UnsupportedDigestError } from "./errors.ts";

/** Options for {@linkcode VerifyStream}. */
export interface VerifyStreamOptions {
  /** The exact size in bytes; more errors at once, fewer errors at the end. */
  size?: number;
  /** Names the input in error messages (a blob digest, a path, a URL). @default {the digest} */
  subject?: string;
  /** Hash engine; see {@linkcode createHasher}. @default {"auto"} */
  engine?: HashEngine;
}

/**
 * A pass-through stream that checks the bytes against an expected digest (and size).
 * A size overrun errors as soon as it happens; a short read or a digest mismatch errors
 * when the input ends, so a consumer that commits only on a clean end never keeps bad
 * bytes.
 */
export class VerifyStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates a stream that verifies `expected`, a `sha256:` or `sha512:` digest.
   *
   * @throws {SyntaxError} for a malformed digest.
   * @throws {UnsupportedDigestError} for a well-formed one in another algorithm.
   */
  constructor(expected: string, options: VerifyStreamOptions = {}) {
    const { algorithm, verifiable } = checkDigest(expected);
    if (!verifiable) throw new UnsupportedDigestError(expected, algorithm);
    const limit = options.size;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new RangeError(`Invalid expected size ${limit}: must be a non-negative integer`);
    }
    const subject = options.subject ?? expected;
    let hasher: Awaited<ReturnType<typeof createHasher>>;
    let size = 0;
    super({
      async start() {
        hasher = await createHasher({
          engine: options.engine,
          algorithm: algorithm as HashAlgorithm,
        });
      },
      transform(chunk, controller) {
        size += chunk.length;
        if (limit !== undefined && size > limit) {
          throw new SizeMismatchError(limit, size, subject);
        }
        hasher.update(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        if (limit !== undefined && size !== limit) {
          throw new SizeMismatchError(limit, size, subject);
        }
        const actual = hasher.digest();
        if (actual !== expected) throw new DigestMismatchError(expected, actual, subject);
      },
    });
  }
}
