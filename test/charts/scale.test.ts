import { describe, expect, it } from "vitest";
import { linearScale, timeScale } from "../../src/charts/scale";
import { escapeXml, formatValue, num, textWidth, truncate } from "../../src/charts/svg";

describe("linearScale", () => {
  it("rounds the domain out to nice ticks and maps it onto the range (y grows downwards)", () => {
    const s = linearScale(0, 0.28, 300, 100, 5);
    expect(s.domain).toEqual([0, 0.3]);
    expect(s.ticks.map(s.format)).toEqual(["0.00", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"]);
    expect(s.map(0)).toBe(300);
    expect(s.map(0.3)).toBeCloseTo(100, 9);
  });

  it("widens a degenerate domain instead of dividing by zero", () => {
    for (const [lo, hi] of [[0, 0], [5, 5], [-3, -3], [NaN, 1], [Infinity, 2]]) {
      const s = linearScale(lo, hi, 100, 0, 4);
      expect(s.domain[1]).toBeGreaterThan(s.domain[0]);
      expect(Number.isFinite(s.map(Number.isFinite(lo) ? lo : 0))).toBe(true);
      expect(s.ticks.length).toBeGreaterThanOrEqual(2);
    }
  });

  it("keeps `room` pixels free beyond the data, ending off-tick rather than a whole step further", () => {
    const plain = linearScale(0, 0.36, 400, 0, 8); // nice top 0.4: 44 px above 0.36
    expect(plain.domain[1]).toBe(0.4);
    const roomy = linearScale(0, 0.36, 400, 0, 8, { low: 0, high: 60 });
    expect(roomy.map(0.36)).toBeCloseTo(60, 6);
    expect(roomy.ticks.at(-1)).toBeLessThanOrEqual(roomy.domain[1]);
    expect(roomy.ticks.every((t) => Math.abs(t * 20 - Math.round(t * 20)) < 1e-9)).toBe(true); // still 0.05 steps
  });

  it("formats large values with k/M/G and never prints -0 or 0k", () => {
    const s = linearScale(-20_000, 60_000, 0, 100, 4);
    expect(s.ticks.map(s.format)).toEqual(["-20k", "0", "20k", "40k", "60k"]);
    const m = linearScale(0, 3e6, 0, 100, 3);
    expect(m.ticks.map(m.format)).toEqual(["0", "1M", "2M", "3M"]);
    const tiny = linearScale(-0.001, 0.001, 0, 100, 2);
    expect(tiny.ticks.map(tiny.format)).not.toContain("-0.000");
  });
});

describe("timeScale", () => {
  it("puts ticks on whole UTC minutes over the data's own extent", () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 20);
    const s = timeScale(t0, t0 + 5 * 60_000, 0, 500, 5);
    expect(s.domain).toEqual([t0, t0 + 5 * 60_000]);
    expect(s.ticks.map(s.format)).toEqual(["10:01:00", "10:02:00", "10:03:00", "10:04:00", "10:05:00"]);
    expect(s.ticks.map(s.dateLine)).toEqual(["2026-01-01", "", "", "", ""]);
  });

  it("uses whole seconds for short spans and widens a single instant to a minute", () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 0);
    expect(timeScale(t0, t0 + 10_000, 0, 500, 5).ticks.map((t) => (t - t0) / 1000)).toEqual([0, 2, 4, 6, 8, 10]);
    const one = timeScale(t0, t0, 0, 500, 4);
    expect(one.domain).toEqual([t0 - 30_000, t0 + 30_000]);
    expect(one.map(t0)).toBe(250);
  });
});

describe("svg text helpers", () => {
  it("escapes markup and quotes, drops what XML 1.0 cannot hold, and keeps valid surrogate pairs", () => {
    expect(escapeXml(`<a href="x">&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    expect(escapeXml("a\u0000b\u001fc\uffff")).toBe("abc");
    expect(escapeXml("tab\there\nnew")).toBe("tab here new");
    expect(escapeXml("😀 \ud800x \udc00")).toBe("😀 \ufffdx \ufffd");
  });

  it("prints coordinates with at most two decimals and never -0 or NaN", () => {
    expect(num(1.23456)).toBe("1.23");
    expect(num(-0.001)).toBe("0");
    expect(num(NaN)).toBe("0");
    expect(num(100)).toBe("100");
  });

  it("formats values locale-free with significant digits and SI suffixes", () => {
    expect(formatValue(0.073612)).toBe("0.0736");
    expect(formatValue(0.1508, 4)).toBe("0.1508");
    expect(formatValue(1234)).toBe("1234");
    expect(formatValue(12_345)).toBe("12.3k");
    expect(formatValue(2_500_000)).toBe("2.5M");
    expect(formatValue(-4e9)).toBe("-4G");
    expect(formatValue(0)).toBe("0");
    expect(formatValue(NaN)).toBe("n/a");
  });

  it("estimates wide glyphs wider and truncates to fit with an ellipsis", () => {
    expect(textWidth("mmmm", 10)).toBeGreaterThan(textWidth("iiii", 10) * 2);
    const cut = truncate("a category name that is long", 60, 12);
    expect(cut).toMatch(/…$/);
    expect(textWidth(cut, 12)).toBeLessThanOrEqual(60);
    expect(truncate("short", 100, 12)).toBe("short");
  });
});
