/**
 * A binary min-heap, for merging many sorted walks in order (a wildcard can match thousands
 * of sources). Private to builder/.
 *
 * @module
 */

/** Items in a heap ordered by `before`, the least first out. */
export class MinHeap<T> {
  #items: T[] = [];
  #before: (a: T, b: T) => boolean;

  /** An empty heap where `before(a, b)` says `a` comes out before `b`. */
  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  /** How many items. */
  get size(): number {
    return this.#items.length;
  }

  /** The item that comes out next, left in. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds `item`. */
  push(item: T): void {
    const items = this.#items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.#before(items[i], items[up])) break;
      [items[i], items[up]] = [items[up], items[i]];
      i = up;
    }
  }

  /** Takes out the least item; the heap must not be empty. */
  pop(): T {
    const items = this.#items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length === 0) return top;
    items[0] = last;
    for (let i = 0;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && this.#before(items[l], items[m])) m = l;
      if (r < items.length && this.#before(items[r], items[m])) m = r;
      if (m === i) break;
      [items[i], items[m]] = [items[m], items[i]];
      i = m;
    }
    return top;
  }
}
