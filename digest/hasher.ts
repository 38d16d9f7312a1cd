import type { Digest, HashAlgorithm } from "./parse_digest.ts";

/** An incremental hasher (SHA-256 unless created for SHA-512). */
export interface Hasher {
  /** Feeds more bytes. */
  update(data: Uint8Array): void;
  /** Finishes and returns `sha256:<hex>` (or `sha512:<hex>`); the hasher cannot be used afterwards. */
  digest(): Digest;
}

/** A hasher whose state can be saved and restored to go on without re-reading. */
export interface ResumableHasher extends Hasher {
  /** The bytes hashed so far. */
  readonly size: number;
  /** An opaque snapshot of the state, for {@linkcode createResumableHasher}. */
  save(): Uint8Array;
}

/** Which SHA-256 implementation to use. */
export type HashEngine = "auto" | "native" | "wasm";

/** Options for {@linkcode createHasher}. */
export interface CreateHasherOptions {
  /**
   * `native` is `node:crypto` (Deno, Node, Deno Deploy: several times faster), `wasm` is
   * hash-wasm (every runtime). `auto` picks native where it exists.
   * @default {"auto"}
   */
  engine?: HashEngine;
  /**
   * `sha256`, or `sha512` to verify content named by a sha512 digest.
   * @default {"sha256"}
   */
  algorithm?: HashAlgorithm;
}

type NodeCrypto = typeof import("node:crypto");
type HashWasm = typeof import("hash-wasm");
let hashWasm: Promise<HashWasm> | undefined;

/**
 * hash-wasm, loaded on first use: where node:crypto exists (Deno, Node) only a resumed
 * upload needs it, and its 1.7 MB module cost every command ~30-50 ms of start-up.
 */
function loadHashWasm(): Promise<HashWasm> {
  hashWasm ??= import("hash-wasm");
  return hashWasm;
}
let nativeCrypto: Promise<NodeCrypto | null> | undefined;

function loadNativeCrypto(): Promise<NodeCrypto | null> {
  // A dynamic import so that runtimes without node: modules (browsers, some edges)
  // still load this file and fall back to WASM; getBuiltinModule first, since import()
  // fails in the single executable's CommonJS bundle.
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
    .process;
  const builtin = proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
  nativeCrypto ??= builtin
    ? Promise.resolve(builtin)
    : import("node:crypto").then((m) => m, () => null);
  return nativeCrypto;
}

/** True when the native engine is available in this runtime. */
export async function hasNativeHasher(): Promise<boolean> {
  return (await loadNativeCrypto()) !== null;
}

/**
 * Creates a SHA-256 hasher.
 *
 * @example
 * ```ts
 * import { createHasher } from "./hasher.ts";
 * const h = await createHasher();
 * h.update(new TextEncoder().encode("abc"));
 * const d = h.digest(); // sha256:ba7816bf...
 * if (!d.startsWith("sha256:ba7816bf")) throw new Error(d);
 * ```
 */
export async function createHasher(options: CreateHasherOptions = {}): Promise<Hasher> {
  const engine = options.engine ?? "auto";
  const algorithm = options.algorithm ?? "sha256";
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new RangeError(`Unknown hash algorithm "${algorithm}": use "sha256" or "sha512"`);
  }
  if (engine !== "wasm") {
    const crypto = await loadNativeCrypto();
    if (crypto) {
      const hash = crypto.createHash(algorithm);
      return {
        update: (data) => void hash.update(data),
        digest: () => `${algorithm}:${hash.digest("hex")}`,
      };
    }
    if (engine === "native") {
      throw new Error("The native SHA-256 engine (node:crypto) is not available");
    }
  }
  if (algorithm === "sha512") {
    const wasm = await (await loadHashWasm()).createSHA512();
    wasm.init();
    return {
      update: (data) => void wasm.update(data),
      digest: () => `sha512:${wasm.digest("hex")}`,
    };
  }
  return await createResumableHasher();
}

/**
 * Creates a WASM SHA-256 hasher whose state can be saved; pass a saved `state` to resume.
 * Resumable uploads and downloads use this to continue hashing where they left off.
 */
export async function createResumableHasher(state?: Uint8Array): Promise<ResumableHasher> {
  const wasm = await (await loadHashWasm()).createSHA256();
  let size = 0;
  if (state) {
    if (state.length < 8) throw new RangeError("Invalid saved hasher state: too short");
    wasm.load(state.subarray(8));
    size = Number(new DataView(state.buffer, state.byteOffset, 8).getBigUint64(0));
  } else {
    wasm.init();
  }
  return {
    get size() {
      return size;
    },
    update(data) {
      wasm.update(data);
      size += data.length;
    },
    digest: () => `sha256:${wasm.digest("hex")}`,
    save() {
      const inner = wasm.save();
      const out = new Uint8Array(8 + inner.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(size));
      out.set(inner, 8);
      return out;
    },
  };
}

/** Hashes one whole buffer at once, synchronously. */
export type Sha256Function = (data: Uint8Array) => Digest;

/**
 * A synchronous SHA-256 of whole buffers, loaded once: for hashing many small inputs (the
 * files of a build context) without a hasher object and a promise per input.
 *
 * @example
 * ```ts
 * import { sha256Function } from "./hasher.ts";
 * const hash = await sha256Function();
 * const d = hash(new Uint8Array(0));
 * if (d !== "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
 *   throw new Error(d);
 * }
 * ```
 */
export async function sha256Function(): Promise<Sha256Function> {
  const crypto = await loadNativeCrypto();
  if (crypto) {
    return (data) => `sha256:${crypto.createHash("sha256").update(data).digest("hex")}` as Digest;
  }
  const wasm = await (await loadHashWasm()).createSHA256();
  return (data) => {
    wasm.init();
    wasm.update(data);
    return `sha256:${wasm.digest("hex")}` as Digest;
  };
}

/**
 * The digest of `data` (bytes or a UTF-8 string).
 *
 * @example
 * ```ts
 * import { sha256 } from "./hasher.ts";
 * const d = await sha256("");
 * if (d !== "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
 *   throw new Error(d);
 * }
 * ```
 */
export async function sha256(
  data: Uint8Array | string,
  options?: CreateHasherOptions,
): Promise<Digest> {
  const h = await createHasher(options);
  if (typeof data === "string") updateWithText(h, data);
  else h.update(data);
  return h.digest();
}

/** UTF-16 units of a string encoded at a time by {@linkcode updateWithText}. */
const TEXT_PIECE = 1 << 16;

/**
 * Feeds `text`'s UTF-8 bytes to `h` a piece at a time through one buffer, not as one copy
 * of the whole text (a build's cache key hashes JSON that names every context file). A
 * piece never ends inside a surrogate pair.
 */
function updateWithText(h: Hasher, text: string): void {
  const encoder = new TextEncoder();
  if (text.length <= TEXT_PIECE) return h.update(encoder.encode(text));
  const buffer = new Uint8Array(TEXT_PIECE * 3);
  for (let start = 0; start < text.length;) {
    let end = Math.min(start + TEXT_PIECE, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    const { written } = encoder.encodeInto(text.slice(start, end), buffer);
    h.update(buffer.subarray(0, written));
    start = end;
  }
}
