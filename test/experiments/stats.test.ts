import { describe, expect, it } from "vitest";
import {
  betaI,
  logGamma,
  meanVariance,
  normalCdf,
  normalQuantile,
  normalSf,
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
