/**
 * Latency statistics for benchmarks. Nearest-rank percentiles (no interpolation): a reported p99 is a latency
 * some request really had, which is what a latency budget is checked against.
 */

/** The p-th percentile (0 < p ≤ 100) of ascending `sorted` values, nearest rank; NaN for an empty list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Count, min, mean, p50/p95/p99 and max of `values` (any order; not modified). NaN fields when empty. */
export function summarize(values: readonly number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  const list = Array.from(sorted);
  let sum = 0;
  for (const v of list) sum += v;
  return {
    count: list.length,
    min: list.length > 0 ? list[0] : Number.NaN,
    mean: list.length > 0 ? sum / list.length : Number.NaN,
    p50: percentile(list, 50),
    p95: percentile(list, 95),
    p99: percentile(list, 99),
    max: list.length > 0 ? list[list.length - 1] : Number.NaN,
  };
}
