/** Chunks on buffers smaller than this are never freed early: they may share a pool slab. */
const RELEASE_MIN = 64 << 10;

/**
 * ES2024's additions to ArrayBuffer, optional: Node 20's V8 lacks them, and the npm build
 * compiles against ES2022's library.
 */
interface DetachableBuffer {
  transfer?(length: number): ArrayBuffer;
  readonly detached?: boolean;
  readonly resizable?: boolean;
}

const detachable = (buffer: ArrayBuffer) => buffer as ArrayBuffer & DetachableBuffer;

/**
 * Detaches `buffer`, which frees its memory now. Node 20's V8 has no
 * `ArrayBuffer.prototype.transfer`: there the buffer is left to the GC, as before.
 */
function detach(buffer: ArrayBuffer): void {
  const b = detachable(buffer);
  if (typeof b.transfer === "function") b.transfer(0);
}

/**
 * Frees the memory under `chunk`, a chunk that has been written and that nobody else holds,
 * now rather than at V8's next garbage collection. V8 frees a dead ArrayBuffer only when
 * a collection finds it, and it starts one for external memory only after about 64 MiB
 * more of it; streaming a big blob through fresh 256 KiB chunks therefore kept up to that
 * much dead memory around, and more once chunks in flight during a collection were promoted
 * and then waited for a full one. Detaching the buffer (`transfer(0)`) frees it at once.
 * Only a chunk that reaches the end of its buffer is freed, and only a big buffer: what
 * came before it in the buffer was written earlier (streams keep order), and a small pool
 * slab shared with unrelated data (Node's 8 KiB Buffer pool) is left alone.
 */
export function releaseChunk(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (
    buffer instanceof ArrayBuffer && !detachable(buffer).detached &&
    buffer.byteLength >= RELEASE_MIN &&
    chunk.byteOffset + chunk.byteLength === buffer.byteLength && !detachable(buffer).resizable
  ) {
    detach(buffer);
  }
}

/** Buffers of stream chunks that only their stream's one reader ever holds. */
const SOLE = new WeakSet<ArrayBuffer>();

/**
 * A fresh buffer for one chunk of a stream whose reader is the only holder of its chunks
 * (the file streams of {@linkcode FsBlobStore.get}), so that a reader that drops it unused
 * may free it at once with {@linkcode dropChunk}.
 */
export function soleChunk(size: number): Uint8Array<ArrayBuffer> {
  const chunk = new Uint8Array(size);
  SOLE.add(chunk.buffer);
  return chunk;
}

/**
 * Declares `chunk` a sole chunk, as if made by {@linkcode soleChunk}: its producer hands its
 * only reference to one reader, which may then free it with {@linkcode dropChunk}. Only a
 * chunk that spans its whole buffer qualifies: a view into a bigger
 * buffer may share it with bytes someone else still reads. The registry server adopts the
 * chunks of a request body, fresh buffers that nothing else reads once they are handed on.
 */
export function adoptChunk(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (
    buffer instanceof ArrayBuffer && !detachable(buffer).detached &&
    !detachable(buffer).resizable && chunk.byteOffset === 0 &&
    chunk.byteLength === buffer.byteLength
  ) SOLE.add(buffer);
}

/**
 * Frees a chunk its reader is dropping unread (a tar reader skipping a body it was not
 * asked for), if the chunk is the whole of a {@linkcode soleChunk} buffer: then nothing
 * else can hold any part of it. `buildMergedTree` reads every byte of a layer to find the
 * next header; without this the skipped bodies of a 1 GiB layer waited for the GC, about
 * 64 MiB of them at a time. Other chunks are left alone.
 */
export function dropChunk(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (
    buffer instanceof ArrayBuffer && SOLE.has(buffer) && !detachable(buffer).detached &&
    chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength
  ) {
    SOLE.delete(buffer);
    detach(buffer);
  }
}
