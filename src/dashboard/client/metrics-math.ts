/**
 * Time series from successive metrics snapshots, computed in the page: the server keeps no history for the
 * dashboard (nothing runs when no one has it open); the page polls `metricsSnapshot` and differences counters.
 */

export interface Sample {
  name: string;
  labels: Array<{ key: string; value: string }>;
  value: number | null;
}

export interface Snapshot {
  /** Epoch ms. */
  at: number;
  samples: Sample[];
}

const label = (s: Sample, key: string): string | undefined => s.labels.find((l) => l.key === key)?.value;

const matches = (s: Sample, name: string, where: Record<string, string>): boolean =>
  s.name === name && Object.entries(where).every(([k, v]) => label(s, k) === v);

/** Sum of every sample of `name` whose labels include `where`. */
export function sum(snapshot: Snapshot, name: string, where: Record<string, string> = {}): number {
  let total = 0;
  for (const s of snapshot.samples) if (matches(s, name, where) && s.value !== null) total += s.value;
  return total;
}

/** Per-second rate of a counter between two snapshots; a counter that went down (a restart) counts from zero. */
export function rate(prev: Snapshot, next: Snapshot, name: string, where: Record<string, string> = {}): number {
  const dt = (next.at - prev.at) / 1000;
  if (dt <= 0) return 0;
  const a = sum(prev, name, where);
  const b = sum(next, name, where);
  return (b >= a ? b - a : b) / dt;
}

/** Distinct values of `key` among the samples of `name`. */
export function labelValues(snapshot: Snapshot, name: string, key: string): string[] {
  const out = new Set<string>();
  for (const s of snapshot.samples) {
    if (s.name !== name) continue;
    const v = label(s, key);
    if (v !== undefined) out.add(v);
  }
  return [...out].sort();
}

/** Cumulative bucket counts of a histogram (`<base>_bucket`), by upper bound, for the samples matching `where`. */
export function buckets(snapshot: Snapshot, base: string, where: Record<string, string> = {}): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of snapshot.samples) {
    if (!matches(s, `${base}_bucket`, where) || s.value === null) continue;
    const le = label(s, "le");
    const bound = le === "+Inf" ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + s.value);
  }
  return out;
}

/**
 * The q-quantile of the observations between two snapshots, from cumulative histogram buckets, interpolated
 * linearly inside the bucket (as Prometheus's histogram_quantile does). Undefined when nothing was observed; the
 * highest finite bound when the quantile falls in +Inf.
 */
export function quantileBetween(prev: Map<number, number>, next: Map<number, number>, q: number): number | undefined {
  const bounds = [...next.keys()].sort((a, b) => a - b);
  const delta = bounds.map((b) => Math.max(0, (next.get(b) ?? 0) - (prev.get(b) ?? 0)));
  const total = delta[delta.length - 1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (delta[i] >= rank) {
      const upper = bounds[i];
      const lower = i === 0 ? 0 : bounds[i - 1];
      if (!Number.isFinite(upper)) return lower;
      const below = i === 0 ? 0 : delta[i - 1];
      const inBucket = delta[i] - below;
      return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
    }
  }
  return bounds.filter(Number.isFinite).pop();
}

/** A bounded history: the newest `max` points. */
export function pushBounded<T>(list: readonly T[], item: T, max: number): T[] {
  const out = [...list, item];
  return out.length > max ? out.slice(out.length - max) : out;
}
