import { describe, expect, it } from "vitest";
import { lineChartSvg, type LineChartSpec } from "../../src/charts/index";
import { findAll, ownText, parseXml, type XmlElement } from "./xml";

const T0 = Date.UTC(2026, 11, 7, 11, 58, 0);

function paths(root: XmlElement): string[] {
  return findAll(root, "path").map((p) => p.attrs.d);
}

function texts(root: XmlElement): string[] {
  return findAll(root, "text").map(ownText);
}

/** The [x, y] pairs of a path's "M x y L x y ..." data, one array per sub-path. */
function segments(d: string): Array<Array<[number, number]>> {
  return d
    .split("M")
    .filter(Boolean)
    .map((seg) => seg.split("L").map((p) => p.trim().split(" ").map(Number) as [number, number]));
}

describe("lineChartSvg", () => {
  const spec: LineChartSpec = {
    title: "Feed latency",
    x: Array.from({ length: 7 }, (_, i) => T0 + i * 30_000),
    xKind: "time",
    series: [
      { name: "p50", values: [10, 12, NaN, 14, 13, 12, 11] },
      { name: "p99", values: [40, 42, 44, 43, 41, 40, 39] },
    ],
    yLabel: "ms",
  };

  it("is a well-formed, accessible, deterministic SVG", () => {
    const svg = lineChartSvg(spec);
    const root = parseXml(svg);
    expect(root.attrs.role).toBe("img");
    expect(root.attrs["aria-label"]).toBe("Feed latency");
    expect(ownText(findAll(root, "title")[0])).toBe("Feed latency");
    expect(ownText(findAll(root, "desc")[0])).toBe(
      "Line chart of ms, 2 series, x from 2026-12-07 11:58:00 UTC to 2026-12-07 12:01:00 UTC. p50: last 11, min 10, max 14; p99: last 39, min 39, max 44.",
    );
    expect(lineChartSvg(structuredClone(spec))).toBe(svg);
    expect(svg.replace('xmlns="http://www.w3.org/2000/svg"', "")).not.toMatch(/https?:|url\(|href|\bid=|<script|<style/);
  });

  it("breaks a line at NaN (a gap, not a drop to zero) and keeps an unbroken series in one piece", () => {
    const [p50, p99] = paths(parseXml(lineChartSvg(spec)));
    const gapped = segments(p50);
    expect(gapped.map((s) => s.length)).toEqual([2, 4]);
    expect(segments(p99)).toHaveLength(1);
    // Higher values are higher on screen (smaller y), and x increases along the line.
    const [run] = segments(p99);
    expect(run[2][1]).toBeLessThan(run[0][1]);
    for (let i = 1; i < run.length; i++) expect(run[i][0]).toBeGreaterThan(run[i - 1][0]);
  });

  it("draws a point with gaps on both sides as a dot, since a one-point path would be invisible", () => {
    const x = Array.from({ length: 200 }, (_, i) => i);
    const values = x.map((i) => (i === 100 ? 5 : i === 99 || i === 101 ? NaN : i % 10));
    const root = parseXml(lineChartSvg({ title: "t", x, series: [{ name: "s", values }] }));
    expect(findAll(root, "circle")).toHaveLength(1);
    expect(segments(paths(root)[0])).toHaveLength(2);
  });

  it("labels a time axis HH:MM:SS (UTC) at whole steps, with the date under the first tick and where it changes", () => {
    const t = texts(parseXml(lineChartSvg(spec)));
    for (const tick of ["11:58:00", "11:59:00", "12:00:00", "12:01:00"]) expect(t).toContain(tick);
    expect(t.filter((s) => s === "2026-12-07")).toHaveLength(1);
    const midnight = Date.UTC(2026, 11, 7, 23, 58, 0);
    const across = texts(parseXml(lineChartSvg({ title: "t", x: [midnight, midnight + 240_000], xKind: "time", series: [{ name: "s", values: [1, 2] }] })));
    expect(across).toContain("00:00:00");
    expect(across).toContain("2026-12-07");
    expect(across).toContain("2026-12-08");
  });

  it("labels ticks a day or more apart with dates (HH:MM:SS would read 00:00:00 on each)", () => {
    const x = [Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1)];
    const t = texts(parseXml(lineChartSvg({ title: "t", x, xKind: "time", series: [{ name: "s", values: [1, 2] }] })));
    expect(t.some((s) => /^2026-11-\d\d$/.test(s))).toBe(true);
    expect(t).not.toContain("00:00:00");
  });

  it("joins points in ascending x whatever the input order, with nice numeric ticks", () => {
    const root = parseXml(lineChartSvg({ title: "t", x: [3, 1, 2], series: [{ name: "s", values: [30, 10, 20] }] }));
    const [run] = segments(paths(root)[0]);
    expect(run.map((p) => p[0])).toEqual([...run.map((p) => p[0])].sort((a, b) => a - b));
    expect(run[0][1]).toBeGreaterThan(run[2][1]); // x = 1 (value 10) is lowest on screen
    const t = texts(root);
    for (const tick of ["1.0", "2.0", "3.0", "10", "20", "30"]) expect(t).toContain(tick);
  });

  it("shows 'No data' instead of throwing for empty, all-NaN or x-less input", () => {
    for (const empty of [
      { title: "t", x: [], series: [] },
      { title: "t", x: [1, 2], series: [{ name: "s", values: [NaN, NaN] }] },
      { title: "t", x: [NaN], xKind: "time" as const, series: [{ name: "s", values: [1] }] },
    ]) {
      const root = parseXml(lineChartSvg(empty));
      expect(texts(root)).toContain("No data");
      expect(paths(root)).toHaveLength(0);
    }
  });

  it("draws a single point (one x) as a dot on a widened axis", () => {
    const root = parseXml(lineChartSvg({ title: "t", x: [T0], xKind: "time", series: [{ name: "s", values: [7] }] }));
    expect(findAll(root, "circle")).toHaveLength(1);
    expect(texts(root)).not.toContain("No data");
  });

  it("dashes lines past the palette's eight colours", () => {
    const series = Array.from({ length: 9 }, (_, i) => ({ name: `s${i}`, values: [i, i + 1] }));
    const p = findAll(parseXml(lineChartSvg({ title: "t", x: [0, 1], series })), "path");
    expect(p[0].attrs["stroke-dasharray"]).toBeUndefined();
    expect(p[8].attrs.stroke).toBe(p[0].attrs.stroke);
    expect(p[8].attrs["stroke-dasharray"]).toBe("6 3");
  });
});
