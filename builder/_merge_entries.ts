/**
 * The entries of a COPY of several sources, merged in path order as each source is walked:
 * a COPY of two directories (`COPY src/ lib/ /app/`) held an entry per file of both until
 * the layer was written. Private to builder/.
 *
 * @module
 */
import type { PlannedEntry } from "./copy_plan.ts";
import { MinHeap } from "./_min_heap.ts";

/** One source's walk and the entry it stands at. */
interface Head {
  entry: PlannedEntry;
  rank: number;
  rest: AsyncIterator<PlannedEntry>;
}

/**
 * `streams` (each in path order) merged in path order. Where several give a path, the one
 * given last in `streams` wins, as copying them one after the other does; the root (`""`)
 * is no entry.
 */
export async function* mergeByPath(
  streams: (AsyncIterable<PlannedEntry> | Iterable<PlannedEntry>)[],
): AsyncGenerator<PlannedEntry> {
  const heap = new MinHeap<Head>((a, b) => a.entry.path < b.entry.path);
  const advance = async (rank: number, rest: AsyncIterator<PlannedEntry>) => {
    const next = await rest.next();
    if (!next.done) heap.push({ entry: next.value, rank, rest });
  };
  for (const [rank, stream] of streams.entries()) {
    const rest = Symbol.asyncIterator in stream
      ? stream[Symbol.asyncIterator]()
      : fromSync(stream[Symbol.iterator]());
    await advance(rank, rest);
  }
  while (heap.size > 0) {
    let winner = heap.pop();
    const taken = [winner];
    while (heap.size > 0 && heap.peek()!.entry.path === winner.entry.path) {
      const same = heap.pop();
      if (same.rank > winner.rank) winner = same;
      taken.push(same);
    }
    if (winner.entry.path !== "") yield winner.entry;
    for (const head of taken) await advance(head.rank, head.rest);
  }
}

function fromSync<T>(iterator: Iterator<T>): AsyncIterator<T> {
  return { next: () => Promise.resolve(iterator.next()) };
}

/**
 * Files of a copy that share an inode, made hardlinks to the first of them in the order
 * the layer is written: `inodes` has the inode of each file that may share one. Decided
 * as the merged entries leave, since the walks meet them in another order.
 */
export async function* linkSharedInodes(
  entries: AsyncIterable<PlannedEntry>,
  inodes: WeakMap<PlannedEntry, number>,
): AsyncGenerator<PlannedEntry> {
  const firsts = new Map<number, string>();
  for await (const entry of entries) {
    const ino = inodes.get(entry);
    const first = ino === undefined ? undefined : firsts.get(ino);
    if (ino !== undefined && first === undefined) firsts.set(ino, entry.path);
    if (first === undefined) {
      yield entry;
      continue;
    }
    yield {
      path: entry.path,
      type: "hardlink",
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      size: 0,
      linkTarget: first,
      xattrs: entry.xattrs,
    };
  }
}
