import { describe, expect, it } from "vitest";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { coverageSection, renderReportMarkdown, reportCharts, textBar, writeReportFiles, type EvaluationReport } from "../../src/training/report";
import { findAll, ownText, parseXml } from "../charts/xml";

const metrics = (r10: number, r20: number, n20: number) => ({
  "recall@10": r10,
  "recall@20": r20,
  "ndcg@10": n20 * 0.9,
  "ndcg@20": n20,
  "hit@10": r10 * 4,
  "hit@20": r20 * 4,
  "coverage@10": r10 / 2,
  "coverage@20": r20 / 2,
  users: 74,
  msPerUser: 0.3,
});

function makeReport(twoTower: { r10: number; r20: number; n20: number } | null): EvaluationReport {
  const retrieval: EvaluationReport["retrieval"] = {
    popularity: metrics(0.05, 0.0736, 0.2778),
    random: metrics(0.001, 0.0017, 0.0103),
    itemKnn: metrics(0.06, 0.0764, 0.2984),
    ease: metrics(0.061, 0.0781, 0.2902),
  };
  if (twoTower) retrieval.twoTower = metrics(twoTower.r10, twoTower.r20, twoTower.n20);
  return {
    createdAt: "2024-05-01T12:00:00.000Z",
    dataset: { source: "movielens:ml-latest-small", users: 610, videos: 9742, events: 100836, interactions: 100836, firstEventAt: 828124615000, lastEventAt: 1537799250000 },
    split: {
      method: "time",
      validationFraction: 0.1,
      testFraction: 0.1,
      trainUntil: Date.UTC(2016, 2, 22, 8, 27),
      validationUntil: Date.UTC(2017, 5, 21, 7, 17),
      trainEvents: 80668,
      validationEvents: 10084,
      testEvents: 10084,
      evaluatedUsers: 74,
      positiveRule: "every rating | watched",
    },
    retrieval,
    ranker: {
      click: { auc: 0.71, logLoss: 0.41, baseRateLogLoss: 0.47, baseRateAuc: 0.5, baseRate: 0.2, n: 1000, positives: 200 },
      like: { auc: null, logLoss: 0.2, baseRateLogLoss: 0.2, baseRateAuc: 0.5, baseRate: 0.05, n: 10, positives: 0 },
    },
    coverage: coverageSection(retrieval, 9742),
    timings: { "fit.ease": 12_700, "evaluate.retrieval": 950 },
    notes: ["EASE restricted to the 2000 most popular items."],
  };
}

describe("renderReportMarkdown", () => {
  it("renders every section with the data in it", () => {
    const md = renderReportMarkdown(makeReport({ r10: 0.07, r20: 0.09, n20: 0.31 }));
    for (const heading of [
      "# reelfeed evaluation report",
      "## Retrieval",
      "### Recall@K",
      "### NDCG@K",
      "### Hit@K",
      "### Recall@K at a glance",
      "## Ranker",
      "## Coverage",
      "## Data and split",
      "## Timings",
      "## Notes",
    ]) {
      expect(md).toContain(heading);
    }
    expect(md).toMatch(/\*\*Summary:\*\* ✅ the two-tower model beats popularity on both Recall@20 and NDCG@20: Recall@20 0\.0900 vs 0\.0736 \(\+22\.3%\); NDCG@20 0\.3100 vs 0\.2778/);
    // Recall table: models as rows, K as columns, best per column in bold.
    expect(md).toContain("| model | @10 | @20 |");
    expect(md).toContain("| twoTower | **0.0700** | **0.0900** |");
    expect(md).toContain("| popularity | 0.0500 | 0.0736 |");
    // Ranker table with base rate; undefined AUC shown as n/a; log loss change vs base rate.
    expect(md).toContain("| click | 1000 | 200 | 0.2000 | 0.7100 | 0.5 | 0.4100 | 0.4700 | -12.8% |");
    expect(md).toMatch(/\| like \| 10 \| 0 \| 0\.0500 \| n\/a \|/);
    // Split facts and escaped pipes.
    expect(md).toContain("| train | 80668 events, before 2016-03-22 08:27 UTC |");
    expect(md).toContain("every rating \\| watched");
    expect(md).toContain("| fit.ease | 12.70 |");
    expect(md).toContain("Share of the 9742 recommendable videos");
    expect(md).not.toContain("## Serving funnel");
  });

  it("draws Recall@K bars on one scale", () => {
    const md = renderReportMarkdown(makeReport({ r10: 0.07, r20: 0.09, n20: 0.31 }));
    const chart = md.slice(md.indexOf("```text"), md.indexOf("```", md.indexOf("```text") + 7));
    const bar = (model: string, k: number) => {
      const block = chart.slice(chart.indexOf(`Recall@${k}\n`));
      const line = block.split("\n").find((l) => l.trimStart().startsWith(`${model} `))!;
      return line.slice(line.indexOf("│") + 1, line.lastIndexOf(" "));
    };
    expect(bar("twoTower", 20)).toBe("█".repeat(40)); // the maximum fills the width
    expect(bar("random", 20).length).toBeLessThanOrEqual(1);
    expect(bar("popularity", 20).length).toBeGreaterThan(bar("popularity", 10).length);
  });

  it("says so when the two-tower model loses, or is missing", () => {
    expect(renderReportMarkdown(makeReport({ r10: 0.01, r20: 0.02, n20: 0.05 }))).toContain("❌ the two-tower model does not beat popularity");
    expect(renderReportMarkdown(makeReport({ r10: 0.01, r20: 0.08, n20: 0.05 }))).toContain("⚠️ the two-tower model beats popularity on only one of");
    expect(renderReportMarkdown(makeReport(null))).toContain("no twoTower results to compare; best Recall@20: ease (0.0781)");
  });

  it("renders the funnel section when present and survives a JSON round trip", () => {
    const report = makeReport({ r10: 0.07, r20: 0.09, n20: 0.31 });
    report.funnel = { funnel: metrics(0.08, 0.1, 0.33) };
    const roundTripped = JSON.parse(JSON.stringify(report)) as EvaluationReport;
    const md = renderReportMarkdown(roundTripped);
    expect(md).toBe(renderReportMarkdown(report));
    expect(md).toContain("## Serving funnel");
  });

  it("textBar uses eighth blocks", () => {
    expect(textBar(1, 1, 4)).toBe("████");
    expect(textBar(0.5, 1, 4)).toBe("██");
    expect(textBar(1 / 32, 1, 4)).toBe("▏");
    expect(textBar(0, 1, 4)).toBe("");
  });
});

/** A report with the warm and cold protocols, as trainBundle writes it. */
function withProtocols(): EvaluationReport {
  const report = makeReport({ r10: 0.07, r20: 0.09, n20: 0.31 });
  report.funnel = { funnel: metrics(0.08, 0.1, 0.33) };
  const warm = (r20: number, n20: number) => ({ "recall@10": r20 * 0.7, "recall@20": r20, "recall@50": r20 * 1.6, "ndcg@10": n20 * 0.9, "ndcg@20": n20, "ndcg@50": n20 * 1.2 });
  report.protocols = {
    warm: {
      users: 609,
      holdout: 0.2,
      minTrain: 5,
      trainEvents: 80000,
      heldOutEvents: 20000,
      tuned: { easeLambda: 100, easeItems: 1000, itemKnn: { neighbors: 100, shrink: 10 }, neighbours: { lambda: 500, halfLife: 5 } },
      retrieval: { popularity: warm(0.0966, 0.0898), ease: warm(0.1659, 0.1409), funnel: warm(0.17, 0.1508) },
    },
    cold: { users: 41, retrieval: { popularity: { ...warm(0.3, 0.37), "recall@100": 0.5 }, funnel: warm(0.33, 0.417) } },
  };
  return report;
}

describe("report charts", () => {
  it("makes one bar chart per view, Recall@K then NDCG@K per model, and the same bytes every time", () => {
    const report = withProtocols();
    const charts = reportCharts(report);
    expect(charts.map((c) => c.file)).toEqual(["report-warm.svg", "report-cold.svg", "report-all.svg"]);
    expect(reportCharts(structuredClone(report)).map((c) => c.svg)).toEqual(charts.map((c) => c.svg));
    const warm = parseXml(charts[0].svg);
    expect(warm.attrs["aria-label"]).toBe("Warm users (609): Recall@K and NDCG@K per model");
    const categories = ["Recall@10", "Recall@20", "Recall@50", "NDCG@10", "NDCG@20", "NDCG@50"];
    const texts = findAll(warm, "text").map(ownText);
    expect(categories.map((c) => texts.indexOf(c))).toEqual([...categories.map((c) => texts.indexOf(c))].sort((a, b) => a - b));
    // The cold tables stop at K = 50, and so does its chart; the all-users chart puts the funnel beside the models.
    expect(charts[1].svg).not.toContain("Recall@100");
    // Baselines first, ours last, in one order across the views.
    expect(ownText(findAll(parseXml(charts[2].svg), "desc")[0])).toContain("Recall@20: random 0.0017, popularity 0.0736, itemKnn 0.0764, ease 0.0781, twoTower 0.09, funnel 0.1");
  });

  it("gives each model one colour in every chart, though the views hold different models", () => {
    const colours = reportCharts(withProtocols()).map((chart) => {
      const groups = findAll(parseXml(chart.svg), "g").filter((g) => g.attrs.fill && findAll(g, "rect").length > 0 && g.attrs.fill !== "#ffffff");
      return new Map(groups.map((g) => [ownText(findAll(g, "title")[0]).split(" · ")[0], g.attrs.fill]));
    });
    const [warm, cold, all] = colours;
    expect(warm.get("popularity")).toBe(all.get("popularity"));
    expect(cold.get("popularity")).toBe(all.get("popularity"));
    expect(warm.get("funnel")).toBe(cold.get("funnel"));
    expect(new Set(all.values()).size).toBe(all.size);
  });

  it("draws the models' bars left to right, baselines first, with heights in the ratio of the values", () => {
    const [warm] = reportCharts(withProtocols());
    const rects = findAll(parseXml(warm.svg), "rect").filter((r) => findAll(r, "title").length === 1);
    const bar = (label: string) => {
      const r = rects.find((x) => ownText(findAll(x, "title")[0]) === label);
      if (!r) throw new Error(`no bar ${label}`);
      return { x: Number(r.attrs.x), height: Number(r.attrs.height) };
    };
    const pop = bar("popularity · NDCG@20: 0.0898");
    const ease = bar("ease · NDCG@20: 0.1409");
    const funnel = bar("funnel · NDCG@20: 0.1508");
    expect(pop.x).toBeLessThan(ease.x);
    expect(ease.x).toBeLessThan(funnel.x);
    expect(ease.height / pop.height).toBeCloseTo(0.1409 / 0.0898, 2);
    expect(funnel.height / ease.height).toBeCloseTo(0.1508 / 0.1409, 2);
    // Recall groups come before NDCG groups.
    expect(bar("funnel · Recall@50: 0.272").x).toBeLessThan(pop.x);
  });

  it("links only the charts it is given; with none, report.md stays text only", () => {
    const report = withProtocols();
    expect(renderReportMarkdown(report)).not.toContain("![");
    const md = renderReportMarkdown(report, { charts: reportCharts(report).filter((c) => c.view !== "cold") });
    expect(md).toContain("![Warm users (609): Recall@K and NDCG@K per model (bar chart)](report-warm.svg)");
    expect(md).toContain("](report-all.svg)");
    expect(md).not.toContain("report-cold.svg");
    // Each image sits in its own section: the warm one before the cold heading, the all-users one after it.
    expect(md.indexOf("report-warm.svg")).toBeLessThan(md.indexOf("## Cold users"));
    expect(md.indexOf("report-all.svg")).toBeGreaterThan(md.indexOf("## All test-period users"));
  });

  it("writeReportFiles writes report.json, the charts and a report.md whose every image exists and parses", async () => {
    const dir = await mkdtemp(join(tmpdir(), "reelfeed-report-"));
    try {
      const report = withProtocols();
      const charts = await writeReportFiles(dir, report);
      expect(charts).toHaveLength(3);
      const md = await readFile(join(dir, "report.md"), "utf8");
      expect(md).toBe(renderReportMarkdown(report, { charts }));
      const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
      expect(links).toEqual(["report-warm.svg", "report-cold.svg", "report-all.svg"]);
      for (const link of links) {
        expect(existsSync(join(dir, link))).toBe(true);
        expect(parseXml(await readFile(join(dir, link), "utf8")).name).toBe("svg");
      }
      expect(JSON.parse(await readFile(join(dir, "report.json"), "utf8"))).toEqual(JSON.parse(JSON.stringify(report)));
      // Nothing else is left behind: no temporary files from the atomic writes.
      expect((await readdir(dir)).sort()).toEqual(["report-all.svg", "report-cold.svg", "report-warm.svg", "report.json", "report.md"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("has no chart for a view without Recall or NDCG metrics", () => {
    const report = makeReport({ r10: 0.07, r20: 0.09, n20: 0.31 });
    report.retrieval = { popularity: { users: 3 } };
    expect(reportCharts(report)).toEqual([]);
  });
});
