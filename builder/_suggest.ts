/**
 * BuildKit's "(did you mean …?)" hints (util/suggest): the closest option by Levenshtein
 * distance, if it is fewer than 3 edits away and not the value itself. Private to builder/.
 *
 * @module
 */

/** Edits (insert, delete, substitute, each costing 1) that turn `a` into `b`. */
export function levenshtein(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      const substitute = previous[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitute);
    }
    previous = current;
  }
  return previous[y.length];
}

/**
 * The option closest to `value`, or `undefined` when none is close or `value` is one of them.
 * Without `caseSensitive` the suggestion takes the value's case: `runn` → `run`, `RUNN` → `RUN`.
 * Options are tried in sorted order, so ties resolve the same way every time (Go's map order
 * makes BuildKit's pick among equally close options arbitrary).
 */
export function suggest(
  value: string,
  options: Iterable<string>,
  caseSensitive: boolean,
): string | undefined {
  const wanted = caseSensitive ? value : value.toLowerCase();
  let match: string | undefined;
  let best = 3;
  for (const option of [...options].sort()) {
    const candidate = caseSensitive ? option : option.toLowerCase();
    if (candidate === wanted) return undefined;
    const distance = levenshtein(wanted, candidate);
    if (distance < best) {
      best = distance;
      const upper = value !== value.toLowerCase() && value === value.toUpperCase();
      match = !caseSensitive && upper ? candidate.toUpperCase() : candidate;
    }
  }
  return match;
}

/** `message`, plus ` (did you mean X?)` when {@linkcode suggest} finds an X. */
export function withSuggestion(
  message: string,
  value: string,
  options: Iterable<string>,
  caseSensitive: boolean,
): string {
  const match = suggest(value, options, caseSensitive);
  return match === undefined ? message : `${message} (did you mean ${match}?)`;
}
