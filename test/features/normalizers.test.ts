import { describe, expect, it } from "vitest";
import {
  NORMALIZED_CLIP,
  bucket,
  dayOfWeekCyclical,
  fitLog1pZScore,
  fitQuantileBuckets,
  fitZScore,
  hourOfDayCyclical,
  normalize,
  normalizerFromJSON,
  quantileBucketsFromJSON,
} from "../../src/features/normalizers";

describe("normalizers", () => {
  it("z-score fits mean and sample std", () => {
    const n = fitZScore([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(n).toMatchObject({ kind: "zscore", mean: 5 });
    if (n.kind !== "zscore") throw new Error();
    expect(n.std).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(normalize(n, 5)).toBe(0);
    expect(normalize(n, 5 + n.std)).toBeCloseTo(1, 12);
  });

  it("a constant column normalises to 0, never NaN", () => {
    const n = fitZScore([3, 3, 3]);
    expect(normalize(n, 3)).toBe(0);
    expect(Number.isFinite(normalize(n, 1e6))).toBe(true);
    const empty = fitZScore([]);
    expect(normalize(empty, 0)).toBe(0);
  });

  it("non-finite inputs map to 0 and outputs are clipped", () => {
    const n = fitZScore([0, 1, 2]);
    expect(normalize(n, NaN)).toBe(0);
    expect(normalize(n, Infinity)).toBe(0);
    expect(normalize(n, 1e12)).toBe(NORMALIZED_CLIP);
    expect(normalize(n, -1e12)).toBe(-NORMALIZED_CLIP);
  });

  it("log1p z-score compresses heavy tails", () => {
    const values = [0, 1, 10, 100, 1000, 10000];
    const n = fitLog1pZScore(values);
    if (n.kind !== "log1p_zscore") throw new Error();
    const logs = values.map(Math.log1p);
    expect(n.mean).toBeCloseTo(logs.reduce((a, b) => a + b) / logs.length, 12);
    const z = values.map((x) => normalize(n, x));
    expect(Math.max(...z)).toBeLessThan(2);
    expect(z.reduce((a, b) => a + b)).toBeCloseTo(0, 9);
  });

  it("normalisers round-trip through JSON and bad ones are rejected", () => {
    const n = fitLog1pZScore([1, 5, 9]);
    expect(normalizerFromJSON(JSON.parse(JSON.stringify(n)))).toEqual(n);
    expect(() => normalizerFromJSON({ kind: "zscore", mean: 0, std: 0 }, "dense.x")).toThrow(/dense\.x/);
    expect(() => normalizerFromJSON({ kind: "minmax" })).toThrow(/unknown kind/);
  });

  it("quantile buckets split data into about equal parts", () => {
    const values = Array.from({ length: 1000 }, (_, i) => i);
    const q = fitQuantileBuckets(values, 4);
    expect(q.edges).toEqual([250, 500, 750]);
    const counts = [0, 0, 0, 0];
    for (const x of values) counts[bucket(q, x)]++;
    expect(counts).toEqual([250, 250, 250, 250]);
    expect(bucket(q, -5)).toBe(0);
    expect(bucket(q, 1e9)).toBe(3);
  });

  it("quantile buckets merge ties and survive JSON", () => {
    const q = fitQuantileBuckets([1, 1, 1, 1, 1, 1, 2, 3], 4);
    expect(q.edges).toEqual([2]);
    expect(quantileBucketsFromJSON(JSON.parse(JSON.stringify(q)))).toEqual(q);
    expect(() => quantileBucketsFromJSON({ edges: [3, 2] })).toThrow(/strictly increasing/);
    expect(fitQuantileBuckets([], 4).edges).toEqual([]);
  });

  it("hour of day is cyclical: 23:59 sits next to 00:00, 06:00 is a quarter turn", () => {
    const midnight = Date.UTC(2024, 4, 1);
    const [s0, c0] = hourOfDayCyclical(midnight);
    expect(s0).toBeCloseTo(0, 12);
    expect(c0).toBeCloseTo(1, 12);
    const [s1, c1] = hourOfDayCyclical(midnight - 60_000);
    expect(Math.hypot(s1 - s0, c1 - c0)).toBeLessThan(0.01);
    const [s6, c6] = hourOfDayCyclical(midnight + 6 * 3_600_000);
    expect(s6).toBeCloseTo(1, 12);
    expect(c6).toBeCloseTo(0, 12);
    // Before 1970 too.
    expect(hourOfDayCyclical(-3_600_000)[0]).toBeCloseTo(Math.sin((2 * Math.PI * 23) / 24), 12);
  });

  it("day of week is cyclical and anchored on Sunday = 0", () => {
    const sunday = Date.UTC(2024, 5, 2); // 2 June 2024 was a Sunday
    const [s, c] = dayOfWeekCyclical(sunday);
    expect(s).toBeCloseTo(0, 12);
    expect(c).toBeCloseTo(1, 12);
    const nextSunday = dayOfWeekCyclical(sunday + 7 * 86_400_000);
    expect(nextSunday[0]).toBeCloseTo(s, 9);
    expect(nextSunday[1]).toBeCloseTo(c, 9);
    const wednesday = dayOfWeekCyclical(sunday + 3 * 86_400_000);
    expect(wednesday[0]).toBeCloseTo(Math.sin((2 * Math.PI * 3) / 7), 9);
  });
});
