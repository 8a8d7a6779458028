/**
 * Keeps an insertion-ordered Map or Set within `bound` keys by deleting its oldest ones (the first in iteration
 * order: a FIFO window, or an LRU whose writes delete and set again), a batch at a time: past the bound it goes back
 * down to 99 % of it (exactly to the bound below 100).
 *
 * Not one `keys().next()` per insert: V8 leaves a deleted key's slot empty until the table is rebuilt (once half of
 * its slots are), and the iterator walks every empty slot before the first live key. A full window that evicted one
 * key per insert piled those slots up at its front and walked further each time: 35–300 µs an event at a million
 * ids (bench/eviction-bench.ts, docs/benchmarks-events.md). A batch walks them once for 1 % of the bound, and costs
 * no memory up front (an LRU library that preallocates for its bound took ~28 MB per million, empty).
 */
export function evictOldest<K>(keyed: Map<K, unknown> | Set<K>, bound: number): void {
  if (keyed.size <= bound) return;
  const target = bound - Math.floor(bound / 100);
  const doomed: K[] = [];
  for (const key of keyed.keys()) {
    if (keyed.size - doomed.length <= target) break;
    doomed.push(key);
  }
  for (const key of doomed) keyed.delete(key);
}
