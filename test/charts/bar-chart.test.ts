import { describe, expect, it } from "vitest";
import { CHART_PALETTE, barChartSvg, type BarChartSpec } from "../../src/charts/index";
import { findAll, ownText, parseXml, type XmlElement } from "./xml";

const spec: BarChartSpec = {
  title: "Warm users: Recall@K per model",
  categories: ["Recall@10", "Recall@20"],
  series: [
    { name: "popularity", values: [0.05, 0.0966] },
    { name: "ease", values: [0.1, 0.1659] },
    { name: "funnel", values: [0.12, 0.2] },
  ],
  yLabel: "recall",
};

/** The bars in document order: each series' <g fill> holds one <rect> per category it has a value for. */
function bars(root: XmlElement): Array<{ fill: string; x: number; y: number; width: number; height: number; title: string }> {
  return findAll(root, "g")
    .filter((g) => g.attrs.fill && CHART_PALETTE.includes(g.attrs.fill))
    .flatMap((g) =>
      findAll(g, "rect").map((r) => ({
        fill: g.attrs.fill,
        x: Number(r.attrs.x),
        y: Number(r.attrs.y),
        width: Number(r.attrs.width),
        height: Number(r.attrs.height),
        title: ownText(findAll(r, "title")[0]),
      })),
    );
}

function texts(root: XmlElement): string[] {
  return findAll(root, "text").map(ownText);
}

describe("barChartSvg", () => {
  it("is a well-formed, accessible SVG document: role img, aria-label and <title> first, <desc> with the data", () => {
    const svg = barChartSvg(spec);
    const root = parseXml(svg);
    expect(root.name).toBe("svg");
    expect(root.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
    expect(root.attrs.role).toBe("img");
    expect(root.attrs["aria-label"]).toBe(spec.title);
    expect(root.attrs.viewBox).toBe("0 0 640 360");
    const first = root.children.find((c) => typeof c !== "string") as XmlElement;
    expect(first.name).toBe("title");
    expect(ownText(first)).toBe(spec.title);
    const desc = ownText(findAll(root, "desc")[0]);
    expect(desc).toContain("Recall@20: popularity 0.0966, ease 0.1659, funnel 0.2");
  });

  it("is byte-identical for the same spec, and self-contained: no URL, font file, id or script", () => {
    const a = barChartSvg(spec);
    expect(barChartSvg(structuredClone(spec))).toBe(a);
    expect(a.replace('xmlns="http://www.w3.org/2000/svg"', "")).not.toMatch(/https?:|url\(|href|@font-face|@import|\bid=|<script|<style/);
  });

  it("draws one bar per (category, series), grouped by category in series order, heights proportional to the values", () => {
    const root = parseXml(barChartSvg(spec));
    const all = bars(root);
    expect(all).toHaveLength(6);
    // Left to right: category by category, and within one category the series in legend order.
    const byX = [...all].sort((a, b) => a.x - b.x);
    expect(byX.map((b) => b.title)).toEqual([
      "popularity · Recall@10: 0.05",
      "ease · Recall@10: 0.1",
      "funnel · Recall@10: 0.12",
      "popularity · Recall@20: 0.0966",
      "ease · Recall@20: 0.1659",
      "funnel · Recall@20: 0.2",
    ]);
    expect(byX.map((b) => b.fill)).toEqual([...CHART_PALETTE.slice(0, 3), ...CHART_PALETTE.slice(0, 3)]);
    // Every bar stands on the same baseline, and height / value is one constant (within rounding to 1/100 px).
    const base = all[0].y + all[0].height;
    const perUnit = byX[0].height / 0.05;
    const values = [0.05, 0.1, 0.12, 0.0966, 0.1659, 0.2];
    byX.forEach((b, i) => {
      expect(b.y + b.height).toBeCloseTo(base, 1);
      expect(b.height).toBeCloseTo(values[i] * perUnit, 1);
    });
    // Bars of one group do not overlap, and groups do not overlap each other.
    for (let i = 1; i < byX.length; i++) expect(byX[i].x).toBeGreaterThanOrEqual(byX[i - 1].x + byX[i - 1].width - 0.01);
  });

  it("has nice y ticks from zero, category labels, a legend entry per series and value labels where they fit", () => {
    const t = texts(parseXml(barChartSvg(spec)));
    for (const tick of ["0.00", "0.05", "0.10", "0.15", "0.20"]) expect(t).toContain(tick);
    for (const label of ["Recall@10", "Recall@20", "popularity", "ease", "funnel", "recall"]) expect(t).toContain(label);
    // One format for all value labels: three significant digits of the largest.
    for (const value of ["0.050", "0.100", "0.120", "0.097", "0.166", "0.200"]) expect(t).toContain(value);
  });

  it("leaves value labels out where bars are too narrow for them, keeping the tooltips", () => {
    const many: BarChartSpec = {
      title: "crowded",
      categories: ["a", "b", "c", "d"],
      series: Array.from({ length: 30 }, (_, i) => ({ name: `s${i}`, values: [0.1234, 0.2, 0.3, 0.4].map((v) => v + i / 1000) })),
      width: 300,
      height: 200,
    };
    const root = parseXml(barChartSvg(many));
    expect(texts(root)).not.toContain("0.123");
    expect(findAll(root, "rect").filter((r) => findAll(r, "title").length === 1)).toHaveLength(120);
  });

  it("draws negative values below the zero line and skips NaN / missing values", () => {
    const root = parseXml(barChartSvg({ title: "t", categories: ["a", "b", "c"], series: [{ name: "s", values: [2, -1, NaN] }] }));
    const [pos, neg] = bars(root);
    expect(bars(root)).toHaveLength(2);
    expect(neg.y).toBeCloseTo(pos.y + pos.height, 1); // the negative bar hangs from the zero line
    expect(neg.height).toBeCloseTo(pos.height / 2, 1);
    expect(ownText(findAll(root, "desc")[0])).toContain("c: s n/a");
  });

  it("escapes every text and keeps the document well-formed whatever the names hold", () => {
    const nasty = `a<b>&"c'\u0001\ud800]]>`;
    const svg = barChartSvg({ title: nasty, categories: [nasty], series: [{ name: nasty, values: [1] }], yLabel: nasty });
    const root = parseXml(svg);
    expect(root.attrs["aria-label"]).toBe(`a<b>&"c'\ufffd]]>`);
    expect(texts(root)).toContain(`a<b>&"c'\ufffd]]>`);
  });

  it("shows 'No data' instead of throwing when there is nothing to draw", () => {
    for (const empty of [
      { title: "no categories", categories: [], series: [{ name: "s", values: [] }] },
      { title: "no series", categories: ["a"], series: [] },
      { title: "only NaN", categories: ["a"], series: [{ name: "s", values: [NaN] }] },
    ]) {
      const root = parseXml(barChartSvg(empty));
      expect(texts(root)).toContain("No data");
      expect(bars(root)).toHaveLength(0);
    }
  });

  it("takes width and height, and falls back to the defaults for non-positive ones", () => {
    expect(parseXml(barChartSvg({ ...spec, width: 900, height: 400 })).attrs.viewBox).toBe("0 0 900 400");
    expect(parseXml(barChartSvg({ ...spec, width: 0, height: NaN })).attrs.viewBox).toBe("0 0 640 360");
  });

  it("keeps series apart past the palette's eight colours (lighter fill on the second round)", () => {
    const root = parseXml(barChartSvg({ title: "t", categories: ["a"], series: Array.from({ length: 10 }, (_, i) => ({ name: `s${i}`, values: [i + 1] })) }));
    const groups = findAll(root, "g").filter((g) => g.attrs.fill && CHART_PALETTE.includes(g.attrs.fill));
    expect(groups).toHaveLength(10);
    expect(groups[8].attrs.fill).toBe(groups[0].attrs.fill);
    expect(groups[8].attrs["fill-opacity"]).toBe("0.7");
    expect(groups[0].attrs["fill-opacity"]).toBeUndefined();
  });

  it("uses a series' own #rrggbb colour and ignores anything else", () => {
    const root = parseXml(
      barChartSvg({ title: "t", categories: ["a"], series: [{ name: "s", values: [1], color: "#56B4E9" }, { name: "u", values: [2], color: "red;x" }] }),
    );
    const fills = findAll(root, "g").filter((g) => g.attrs.fill && findAll(g, "rect").some((r) => findAll(r, "title").length > 0)).map((g) => g.attrs.fill);
    expect(fills).toEqual(["#56B4E9", CHART_PALETTE[1]]);
  });

  it("leaves room above the tallest bar for its value label, even upright", () => {
    for (const width of [640, 260]) {
      const root = parseXml(barChartSvg({ title: "t", categories: ["a", "b"], series: [{ name: "s", values: [0.1234, 0.4] }, { name: "u", values: [0.2, 0.3] }], width }));
      const tallest = bars(root).reduce((a, b) => (b.height > a.height ? b : a));
      const label = findAll(root, "text").find((t) => ownText(t) === "0.400");
      expect(label).toBeDefined();
      // Level or upright, the label starts above the bar's top (y grows downwards) and inside the chart.
      expect(Number(label!.attrs.y)).toBeLessThan(tallest.y);
      expect(label!.attrs.fill).toBe("#555555");
    }
  });

  it("slants category labels that do not fit their group, cut with an ellipsis and the full name as tooltip", () => {
    const categories = ["click", "completion", "a category name far too long for any group of this chart, really"];
    const root = parseXml(barChartSvg({ title: "t", categories, series: [{ name: "AUC", values: [0.7, 0.6, 0.9] }], width: 300, height: 240 }));
    const labels = findAll(root, "text").filter((t) => t.attrs.transform?.startsWith("rotate(-35"));
    expect(labels.map(ownText).slice(0, 2)).toEqual(["click", "completion"]);
    expect(ownText(labels[2])).toMatch(/…$/);
    expect(ownText(findAll(labels[2], "title")[0])).toBe(categories[2]);
    // Level labels when they fit.
    const level = parseXml(barChartSvg({ title: "t", categories: ["a", "b"], series: [{ name: "s", values: [1, 2] }] }));
    expect(findAll(level, "text").filter((t) => t.attrs.transform?.startsWith("rotate(-35"))).toHaveLength(0);
  });
});
