/**
 * How the CLI is launched: the V8 flags every launcher passes to the runtime — deno.json's
 * `stratum`, `demo` and `compile` tasks, the README's `deno install`, the npm bin's shebang
 * and the benches — and how the C library is told to hand freed memory back. `cli/launch_test.ts` keeps the copies that cannot import this module
 * (deno.json, the README) equal to it.
 *
 * Why flags at all: a build of a large context keeps a few small objects per file for its
 * whole run, so nearly everything the young generation holds survives. V8 answers that by
 * growing the young generation to its maximum (2 × 32 MiB on 64-bit) and the old one to
 * about 4× what is alive. On the bench's 30,000-file build that is a 125 MiB heap around
 * 35 MiB of live objects, and a 230 MiB peak; with these flags the same build peaks at
 * about 140 MiB (Deno and Node alike) for some 10% more CPU in garbage collection. Flags
 * cannot be set once the runtime runs (Deno freezes them; the young generation's size is
 * fixed when the heap is made), so each launcher passes them.
 *
 * @module
 */

/**
 * V8 flags for the CLI: heap limits that follow what is alive (`--optimize-for-size`) and
 * a young generation of at most 2 × 4 MiB.
 */
export const V8_FLAGS: readonly string[] = ["--optimize-for-size", "--max-semi-space-size=4"];

/** `V8_FLAGS` as Deno's `--v8-flags=` option takes them. */
export const DENO_V8_FLAGS_OPTION = `--v8-flags=${V8_FLAGS.join(",")}`;

/** glibc's `mallopt` parameter: the size from which a block is mapped on its own. */
const M_MMAP_THRESHOLD = -3;

/** What {@linkcode returnLargeFreedBlocks} uses of Deno's namespace. */
interface DenoFfi {
  build: { os: string };
  permissions: { querySync(descriptor: { name: "ffi" }): { state: string } };
  dlopen(
    path: string,
    symbols: { mallopt: { parameters: ["i32", "i32"]; result: "i32" } },
  ): { symbols: { mallopt(parameter: number, value: number): number }; close(): void };
}

/**
 * Has glibc give every freed block of 128 KiB or more straight back to the system. By
 * default its threshold rises to the largest block freed so far, and blocks below that are
 * then carved from the heap, where they stay once freed: 10 MiB of the peak of a build of
 * 200,000 files. Done where the CLI runs on Deno on Linux and may use FFI (`-A`, as every
 * launcher passes); Node has no FFI. Returns whether it was done.
 */
export function returnLargeFreedBlocks(): boolean {
  const deno = (globalThis as unknown as { Deno?: Partial<DenoFfi> }).Deno;
  if (!deno?.dlopen || !deno.permissions || deno.build?.os !== "linux") return false;
  try {
    // Asked first: an FFI call without permission would prompt on a terminal.
    if (deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
    const libc = deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
    });
    try {
      return libc.symbols.mallopt(M_MMAP_THRESHOLD, 128 << 10) === 1;
    } finally {
      libc.close();
    }
  } catch {
    return false; // No glibc (musl names its C library otherwise): its defaults stay.
  }
}
