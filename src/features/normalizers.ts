import { ReelfeedError } from "../errors";
import { assertNever } from "../data/types";
import { DAY_MS, HOUR_MS } from "./aggregates";

/**
 * Normalisers for dense columns. Every fitted normaliser is plain JSON so the feature artifacts of a bundle carry
 * the exact statistics training used; serving applies them with the same `normalize` function.
 */

/** Normalised values are clipped here: one absurd count must not saturate a whole layer. */
export const NORMALIZED_CLIP = 8;
/** Below this the std is treated as zero (a constant column): dividing by it would blow noise up. */
const MIN_STD = 1e-9;

export type NormalizerKind = "zscore" | "log1p_zscore" | "identity";

/** A fitted dense-column normaliser. `log1p_zscore` applies sign(x)·log1p(|x|) before the z-score. */
export type Normalizer =
  | { kind: "zscore"; mean: number; std: number }
  | { kind: "log1p_zscore"; mean: number; std: number }
  | { kind: "identity" };

/** Signed log1p: keeps order for negative values, compresses heavy tails (counts, durations). */
export function slog1p(x: number): number {
  return x < 0 ? -Math.log1p(-x) : Math.log1p(x);
}

/** Streaming mean / variance (Welford): fits from millions of rows without keeping them. */
export interface RunningStats {
  count: number;
  mean: number;
  m2: number;
}

export function emptyStats(): RunningStats {
  return { count: 0, mean: 0, m2: 0 };
}

export function pushStats(s: RunningStats, x: number): void {
  if (!Number.isFinite(x)) return;
  s.count += 1;
  const d = x - s.mean;
  s.mean += d / s.count;
  s.m2 += d * (x - s.mean);
}

export function statsStd(s: RunningStats): number {
  return s.count > 1 ? Math.sqrt(s.m2 / (s.count - 1)) : 0;
}

/** Transform applied before statistics are accumulated for a kind. */
export function preTransform(kind: NormalizerKind, x: number): number {
  return kind === "log1p_zscore" ? slog1p(x) : x;
}

/** Finishes a normaliser of `kind` from statistics accumulated on pre-transformed values. */
export function normalizerFromStats(kind: NormalizerKind, s: RunningStats): Normalizer {
  switch (kind) {
    case "identity":
      return { kind };
    case "zscore":
    case "log1p_zscore": {
      const std = statsStd(s);
      // A constant column (std 0) becomes all zeros rather than NaN / ±Infinity.
      return { kind, mean: s.count > 0 ? s.mean : 0, std: std > MIN_STD ? std : 1 };
    }
    default:
      return assertNever(kind, "normalizer kind");
  }
}

export function fitZScore(values: Iterable<number>): Normalizer {
  const s = emptyStats();
  for (const x of values) pushStats(s, x);
  return normalizerFromStats("zscore", s);
}

export function fitLog1pZScore(values: Iterable<number>): Normalizer {
  const s = emptyStats();
  for (const x of values) pushStats(s, slog1p(x));
  return normalizerFromStats("log1p_zscore", s);
}

/** Applies a fitted normaliser. Non-finite input maps to 0 (the mean), output is clipped to ±NORMALIZED_CLIP. */
export function normalize(n: Normalizer, x: number): number {
  if (!Number.isFinite(x)) return 0;
  let y: number;
  switch (n.kind) {
    case "identity":
      y = x;
      break;
    case "zscore":
      y = (x - n.mean) / n.std;
      break;
    case "log1p_zscore":
      y = (slog1p(x) - n.mean) / n.std;
      break;
    default:
      return assertNever(n, "normalizer");
  }
  return y > NORMALIZED_CLIP ? NORMALIZED_CLIP : y < -NORMALIZED_CLIP ? -NORMALIZED_CLIP : y;
}

export function normalizerFromJSON(json: unknown, where = "normalizer"): Normalizer {
  const bad = (msg: string): never => {
    throw new ReelfeedError("BAD_BUNDLE", `${where}: ${msg}`, { field: where });
  };
  if (typeof json !== "object" || json === null) return bad("expected an object");
  const o = json as Record<string, unknown>;
  if (o.kind === "identity") return { kind: "identity" };
  if (o.kind === "zscore" || o.kind === "log1p_zscore") {
    if (typeof o.mean !== "number" || !Number.isFinite(o.mean)) return bad("mean must be a finite number");
    if (typeof o.std !== "number" || !Number.isFinite(o.std) || o.std <= 0) return bad("std must be a positive number");
    return { kind: o.kind, mean: o.mean, std: o.std };
  }
  return bad(`unknown kind ${JSON.stringify(o.kind)}`);
}

/**
 * Quantile bucketizer: edges are fitted so buckets hold about equal counts; `bucket(x)` is the number of edges
 * ≤ x, in 0..edges.length. Duplicate edges (heavy ties) are merged.
 */
export interface QuantileBuckets {
  edges: number[];
}

export function fitQuantileBuckets(values: Iterable<number>, buckets: number): QuantileBuckets {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
  const sorted = Float64Array.from([...values].filter((x) => Number.isFinite(x))).sort();
  const edges: number[] = [];
  if (sorted.length === 0) return { edges };
  for (let b = 1; b < buckets; b++) {
    const e = sorted[Math.min(sorted.length - 1, Math.floor((b * sorted.length) / buckets))];
    if (edges.length === 0 || e > edges[edges.length - 1]) edges.push(e);
  }
  // An edge at the minimum would leave bucket 0 empty forever.
  if (edges.length > 0 && edges[0] <= sorted[0]) edges.shift();
  return { edges };
}

export function bucket(q: QuantileBuckets, x: number): number {
  const e = q.edges;
  let lo = 0;
  let hi = e.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (e[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function quantileBucketsFromJSON(json: unknown, where = "buckets"): QuantileBuckets {
  const edges = (json as { edges?: unknown } | null)?.edges;
  if (!Array.isArray(edges) || edges.some((x, i) => typeof x !== "number" || !Number.isFinite(x) || (i > 0 && x <= edges[i - 1]))) {
    throw new ReelfeedError("BAD_BUNDLE", `${where}.edges: expected strictly increasing finite numbers`, { field: `${where}.edges` });
  }
  return { edges: edges.slice() as number[] };
}

const TWO_PI = 2 * Math.PI;

/** Hour of day (UTC, fractional) on the unit circle: 23:59 sits next to 00:00. Returns [sin, cos]. */
export function hourOfDayCyclical(ts: number): [number, number] {
  const h = (((ts % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS;
  const a = (TWO_PI * h) / 24;
  return [Math.sin(a), Math.cos(a)];
}

/** Day of week (UTC, fractional, 0 = Sunday) on the unit circle. Returns [sin, cos]. */
export function dayOfWeekCyclical(ts: number): [number, number] {
  // 1970-01-01 was a Thursday (day 4).
  const days = ts / DAY_MS + 4;
  const d = ((days % 7) + 7) % 7;
  const a = (TWO_PI * d) / 7;
  return [Math.sin(a), Math.cos(a)];
}
