import { describe, expect, it } from "vitest";
import {
  betaI,
  logGamma,
  meanVariance,
  normalCdf,
  normalQuantile,
  normalSf,
  ratioDeltaZTest,
  ratioVariance,
  studentTQuantile,
  studentTSf,
  twoProportionZTest,
  welchTTest,
} from "../../src/experiments/stats";

/** Published values (Abramowitz & Stegun tables, and the t tables every statistics text prints). */
describe("special functions against known values", () => {
  it("log-gamma", () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
  });

  it("standard normal", () => {
    expect(normalSf(1.959963984540054)).toBeCloseTo(0.025, 12);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 12);
    expect(normalSf(0)).toBeCloseTo(0.5, 14);
    expect(normalSf(6)).toBeCloseTo(9.865876450376946e-10, 18);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 9);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489, 9);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 9);
  });

  it("incomplete beta and Student's t", () => {
    expect(betaI(1, 1, 0.3)).toBeCloseTo(0.3, 12);
    expect(betaI(2, 3, 0.4)).toBeCloseTo(0.5248, 10); // 1 − Σ_{k<2} C(4,k)0.4^k 0.6^(4−k)
    expect(studentTSf(1, 1)).toBeCloseTo(0.25, 12); // Cauchy
    expect(studentTSf(2.228138851986, 10)).toBeCloseTo(0.025, 9);
    expect(studentTSf(2.042272456301, 30)).toBeCloseTo(0.025, 9);
    expect(studentTSf(3.169272672617, 10)).toBeCloseTo(0.005, 9);
    expect(studentTSf(-2.228138851986, 10)).toBeCloseTo(0.975, 9);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228138851986, 8);
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062047364, 7);
    expect(studentTQuantile(0.975, 1e6)).toBeCloseTo(1.96, 3);
  });
});

describe("two-proportion z-test", () => {
  it("matches the hand computation: 200/1000 vs 250/1000", () => {
    const r = twoProportionZTest(200, 1000, 250, 1000);
    // pooled p = 0.225, SE = sqrt(0.225·0.775·0.002) = 0.0186748...; z = 0.05 / SE
    expect(r.statistic).toBeCloseTo(2.677398, 5);
    expect(r.pValue).toBeCloseTo(0.0074198, 5);
    expect(r.diff).toBeCloseTo(0.05, 12);
    // Wald interval, unpooled SE = sqrt(.2·.8/1000 + .25·.75/1000) = 0.0186414
    expect(r.ciLow).toBeCloseTo(0.05 - 1.959964 * 0.0186414, 5);
    expect(r.ciHigh).toBeCloseTo(0.05 + 1.959964 * 0.0186414, 5);
    expect(r.relative).toBeCloseTo(0.25, 12);
  });

  it("no difference and no variation give p = 1, not NaN", () => {
    expect(twoProportionZTest(0, 100, 0, 100).pValue).toBe(1);
    expect(twoProportionZTest(50, 100, 50, 100).pValue).toBeCloseTo(1, 12);
  });
});

describe("Welch t-test", () => {
  const stats = (xs: number[]) => ({ n: xs.length, sum: xs.reduce((s, x) => s + x, 0), sumSq: xs.reduce((s, x) => s + x * x, 0) });

  it("equal sizes and variances: Welch's df is 2n − 2 and t is Student's", () => {
    // Both samples have variance 1 (n = 10): the difference that gives t = t(0.975, 18) must give p = 0.05.
    const base = [-1.5, -1, -0.5, 0, 0, 0, 0, 0.5, 1, 1.5];
    const v = meanVariance(10, stats(base).sum, stats(base).sumSq).variance;
    const shift = 2.100922040241 * Math.sqrt((2 * v) / 10);
    const r = welchTTest(stats(base), stats(base.map((x) => x + shift)));
    expect(r.df).toBeCloseTo(18, 9);
    expect(r.statistic).toBeCloseTo(2.100922040241, 9);
    expect(r.pValue).toBeCloseTo(0.05, 9);
    // The interval's edge touches 0 exactly at p = α.
    expect(r.ciLow).toBeCloseTo(0, 9);
  });

  it("unequal variances: the Welch–Satterthwaite df", () => {
    const a = { n: 20, sum: 20 * 10, sumSq: 19 * 4 + 20 * 100 }; // mean 10, variance 4
    const b = { n: 40, sum: 40 * 11, sumSq: 39 * 25 + 40 * 121 }; // mean 11, variance 25
    const r = welchTTest(a, b);
    const s1 = 4 / 20;
    const s2 = 25 / 40;
    expect(r.df).toBeCloseTo((s1 + s2) ** 2 / (s1 ** 2 / 19 + s2 ** 2 / 39), 9); // 56.15...
    expect(r.df).toBeCloseTo(56.1512, 3);
    expect(r.statistic).toBeCloseTo(1 / Math.sqrt(s1 + s2), 9);
    expect(r.pValue).toBeGreaterThan(0.27);
    expect(r.pValue).toBeLessThan(0.28);
  });
});

describe("ratio metrics with users randomized (delta method)", () => {
  const sums = (users: Array<[number, number]>) => ({
    units: users.length,
    sumX: users.reduce((s, [x]) => s + x, 0),
    sumN: users.reduce((s, [, n]) => s + n, 0),
    sumX2: users.reduce((s, [x]) => s + x * x, 0),
    sumN2: users.reduce((s, [, n]) => s + n * n, 0),
    sumXN: users.reduce((s, [x, n]) => s + x * n, 0),
  });

  it("with one trial per user it is Welch's statistic on the per-user values", () => {
    const a = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3].map((x) => [x, 1] as [number, number]);
    const b = [2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4].map((x) => [x, 1] as [number, number]);
    const r = ratioDeltaZTest(sums(a), sums(b));
    const w = welchTTest(
      { n: a.length, sum: sums(a).sumX, sumSq: sums(a).sumX2 },
      { n: b.length, sum: sums(b).sumX, sumSq: sums(b).sumX2 },
    );
    expect(r.statistic).toBeCloseTo(w.statistic, 12);
    expect(r.diff).toBeCloseTo(w.diff, 12);
  });

  it("clustered clicks: wider than the per-impression z-test", () => {
    // Half the users click everything, half nothing, 20 impressions each: per impression it looks like a huge
    // sample, but there are only 20 independent users per variant.
    const users = (clickers: number, total: number) => Array.from({ length: total }, (_, i) => [i < clickers ? 20 : 0, 20] as [number, number]);
    const c = sums(users(10, 20));
    const t = sums(users(13, 20));
    const delta = ratioDeltaZTest(c, t);
    const naive = twoProportionZTest(c.sumX, c.sumN, t.sumX, t.sumN);
    expect(delta.diff).toBeCloseTo(naive.diff, 12);
    expect(delta.pValue).toBeGreaterThan(0.05);
    expect(naive.pValue).toBeLessThan(0.05);
    // Var(R) by hand for the control: per-user X ∈ {0, 20}, N = 20: var(X) = 400·20/(4·19), cov = 0, R = 0.5.
    expect(ratioVariance(c).variance).toBeCloseTo(((400 * 20) / (4 * 19)) / (20 * 400), 12);
  });
});
