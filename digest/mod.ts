/**
 * The one streaming SHA-256 core every stratum module uses.
 *
 * - {@linkcode createHasher}: an incremental hasher; `node:crypto` where it exists for
 *   throughput, hash-wasm elsewhere. {@linkcode createResumableHasher} can save and restore
 *   its state, for resumable transfers.
 * - {@linkcode DigestStream}: hashes and counts bytes as they pass; one read yields both.
 * - {@linkcode VerifyStream}: errors on a size overrun at once and on a mismatch at the end.
 * - {@linkcode parseDigest}: validates the digests stratum can verify and store (`sha256:`,
 *   `sha512:`); {@linkcode checkDigest} the image-spec's wider grammar (`sha256+b64u:`, ...),
 *   for descriptors whose bytes stratum never has to check.
 *
 * @example Hash bytes, then hash and count a stream in one pass
 * ```ts
 * import { createHasher, DigestStream, parseDigest } from "@stratum/stratum/digest";
 *
 * const bytes = new TextEncoder().encode("hello\n");
 * const hasher = await createHasher();
 * hasher.update(bytes);
 * const digest = hasher.digest();
 * console.log(digest); // sha256:5891b5b5...
 *
 * // The same digest and the size from one pass over a stream.
 * const counted = new DigestStream();
 * await new Response(new Blob([bytes]).stream().pipeThrough(counted)).arrayBuffer();
 * const { digest: streamed, size } = await counted.result;
 * if (streamed !== digest || size !== 6) throw new Error("the two digests differ");
 * console.log(parseDigest(digest).hex.length); // 64
 * ```
 *
 * @module
 */
export { DigestMismatchError, SizeMismatchError, UnsupportedDigestError } from "./errors.ts";
export {
  checkDigest,
  type CheckedDigest,
  type Digest,
  type HashAlgorithm,
  isDigest,
  type ParsedDigest,
  parseDigest,
} from "./parse_digest.ts";
export {
  createHasher,
  type CreateHasherOptions,
  createResumableHasher,
  type HashEngine,
  type Hasher,
  hasNativeHasher,
  type ResumableHasher,
  sha256,
  type Sha256Function,
  sha256Function,
} from "./hasher.ts";
export {
  digestOf,
  type DigestResult,
  DigestStream,
  type DigestStreamOptions,
} from "./digest_stream.ts";
export { VerifyStream, type VerifyStreamOptions } from "./verify_stream.ts";
