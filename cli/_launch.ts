/**
 * How the CLI is launched: the V8 flags every launcher passes to the runtime — deno.json's
 * `stratum`, `demo` and `compile` tasks, the README's `deno install`, the npm bin's shebang
 * and the benches. `cli/launch_test.ts` keeps the copies that cannot import this module
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
