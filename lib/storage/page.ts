import type { Page } from './types.js';

/** Byte-order comparison (the spec allows byte order; distribution uses Go's sort.Strings). */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Applies `last` and `n` to names already sorted in byte order. */
export function paginate<T extends string>(sorted: readonly T[], page: Page): T[] {
  let start = 0;
  if (page.last !== undefined) {
    const last = page.last;
    // binary search for the first name strictly after `last`
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] as T) <= last) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const end = page.n === undefined ? sorted.length : Math.min(sorted.length, start + page.n);
  return sorted.slice(start, end);
}
