/**
 * What a COPY from the build context is keyed by: each path it copies, with its type, mode
 * and content digest (or link target), produced in name order as the key is hashed
 * rather than held (`build_cache.ts`'s {@linkcode InputStream}).
 *
 * @module
 */
import { type Digest, sha256Function } from "../digest/mod.ts";
import type { InputStream } from "./build_cache.ts";
import type { BuildContext, ContextStat } from "./build_context.ts";
import { contextFs, resolvePath } from "./copy_source.ts";
import { MinHeap } from "./_min_heap.ts";

/**
 * The content digests a COPY's cache key depends on: every path the plan copies from the
 * context, with its type, mode and content digest (or link target), under `ctx:<path>`.
 * Large files are hashed here; the rest, and the entries themselves, only when the key is
 * made: they are produced in name order and written straight into the key's JSON, since a
 * COPY of 100,000 files held two strings and a property per file through its lookup.
 */
export async function contextInputs(
  context: BuildContext,
  matched: string[],
): Promise<InputStream> {
  const sources: { name: string; real: string }[] = [];
  const large: string[] = [];
  const noteLarge = (st: ContextStat | undefined, real: string) => {
    if (st?.type === "file" && !context.isSmall(st)) large.push(real);
  };
  for (const name of matched) {
    const resolved = await resolvePath(contextFs(context), name, true);
    const real = resolved?.path ?? name;
    // Stat'ed back to back: the walks below find every stat in memory.
    context.statTree(real);
    sources.push({ name, real });
    noteLarge(context.statSync(real), real);
    for (const st of context.below(real)) noteLarge(st, st.path);
  }
  // Streaming big files is I/O bound: a bounded number of reads in flight keeps the disk
  // busy without running out of file descriptors.
  const largeDigests = new Map<string, Digest>();
  let next = 0;
  const worker = async () => {
    while (next < large.length) {
      const real = large[next++];
      largeDigests.set(real, await context.digest(real));
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, large.length) }, worker));
  const hash = await sha256Function();
  const valueOf = (st: ContextStat, real: string): string | undefined => {
    if (st.type === "directory") return `dir:${st.mode.toString(8)}`;
    if (st.type === "symlink") return `link:${st.linkTarget}`;
    if (st.type !== "file") return undefined;
    const digest = context.isSmall(st) ? context.smallDigest(real, hash) : largeDigests.get(real);
    return `${st.mode.toString(8)}:${digest}`;
  };
  return {
    each(emit) {
      // Each source gives its own entry (under the name it was matched by) and what is
      // below it (under the paths it resolved to); later ones win a name given twice.
      const segments: Iterator<[string, string]>[] = [];
      for (const { name, real } of sources) {
        segments.push(
          (function* () {
            const st = context.statSync(real);
            const value = st ? valueOf(st, real) : "missing";
            if (value !== undefined) yield [`ctx:${name}`, value];
          })(),
          (function* () {
            for (const st of context.below(real)) {
              const value = valueOf(st, st.path);
              if (value !== undefined) yield [`ctx:${st.path}`, value];
            }
          })(),
        );
      }
      mergeByName(segments, emit);
    },
  };
}

/**
 * Emits the entries of `segments` (each sorted by name) in name order; of entries with the
 * same name, the one of the last segment.
 */
function mergeByName(
  segments: Iterator<[string, string]>[],
  emit: (name: string, value: string) => void,
): void {
  const heap = new MinHeap<{ name: string; value: string; at: number }>((a, b) => a.name < b.name);
  const advance = (at: number) => {
    const next = segments[at].next();
    if (!next.done) heap.push({ name: next.value[0], value: next.value[1], at });
  };
  for (let at = 0; at < segments.length; at++) advance(at);
  while (heap.size > 0) {
    const first = heap.pop();
    let { value, at: latest } = first;
    advance(first.at);
    while (heap.size > 0 && heap.peek()!.name === first.name) {
      const same = heap.pop();
      if (same.at > latest) [latest, value] = [same.at, same.value];
      advance(same.at);
    }
    emit(first.name, value);
  }
}

/** Context files read at once while hashing. */
const HASH_CONCURRENCY = 32;
