import { describe, expect, it } from "vitest";
import { duration, reasonText } from "../../src/dashboard/client/format";
import { buckets, quantileBetween, rate, sum, type Snapshot } from "../../src/dashboard/client/metrics-math";
import { createDashboardAssets, renderDashboardPage } from "../../src/dashboard/dashboard-assets";
import { parsePrometheusText } from "../../src/schema/dashboard-resolver";
import { createMetricsRegistry, LATENCY_BUCKETS } from "../../src/schema/metrics";
import { evaluationTables } from "../../src/schema/models-resolver";
import type { EvaluationReport } from "../../src/training/report";

/** The dashboard's pure parts: metrics parsing and maths, report tables, words, and the lazy asset cache. */

describe("parsePrometheusText", () => {
  it("reads back what the server's registry renders, escaped labels and histograms included", () => {
    const registry = createMetricsRegistry();
    const c = registry.counter("t_total", "help", ["op"]);
    c.inc({ op: 'a"b\\c\nd' }, 3);
    const hist = registry.histogram("t_seconds", "help", ["op"], [0.1, 1]);
    hist.observe({ op: "feed" }, 0.05);
    hist.observe({ op: "feed" }, 5);
    registry.series("t_value", "help", "gauge", () => [{ labels: { m: "ctr" }, value: NaN }]);
    const samples = parsePrometheusText(registry.render());
    expect(samples.find((s) => s.name === "t_total")).toEqual({ name: "t_total", labels: [{ key: "op", value: 'a"b\\c\nd' }], value: 3 });
    expect(samples.filter((s) => s.name === "t_seconds_bucket").map((s) => [s.labels[1].value, s.value])).toEqual([["0.1", 1], ["1", 1], ["+Inf", 2]]);
    expect(samples.find((s) => s.name === "t_value")?.value).toBeNull();
    // A histogram is kept by its base name.
    expect(new Set(parsePrometheusText(registry.render(), new Set(["t_seconds"])).map((s) => s.name))).toEqual(new Set(["t_seconds_bucket", "t_seconds_sum", "t_seconds_count"]));
  });
});

describe("metrics maths", () => {
  const snap = (at: number, registry: ReturnType<typeof createMetricsRegistry>): Snapshot => ({ at, samples: parsePrometheusText(registry.render()) });

  it("differences counters into rates and histogram buckets into interval percentiles", () => {
    const registry = createMetricsRegistry();
    const c = registry.counter("req_total", "h", ["operation"]);
    const hist = registry.histogram("lat_seconds", "h", ["operation"], LATENCY_BUCKETS);
    for (let i = 0; i < 50; i++) hist.observe({ operation: "feed" }, 0.3); // before the window: not in its percentiles
    c.inc({ operation: "feed" }, 10);
    const a = snap(0, registry);
    c.inc({ operation: "feed" }, 30);
    c.inc({ operation: "trending" }, 6);
    for (let i = 0; i < 90; i++) hist.observe({ operation: "feed" }, 0.02);
    for (let i = 0; i < 10; i++) hist.observe({ operation: "feed" }, 0.2);
    const b = snap(3000, registry);
    expect(rate(a, b, "req_total", { operation: "feed" })).toBe(10);
    expect(rate(a, b, "req_total")).toBe(12);
    expect(sum(b, "req_total")).toBe(46);
    const [ba, bb] = [buckets(a, "lat_seconds", { operation: "feed" }), buckets(b, "lat_seconds", { operation: "feed" })];
    // 90 of 100 in (0.01, 0.025]: the median interpolates inside it; p95 lands in (0.15, 0.25].
    expect(quantileBetween(ba, bb, 0.5)).toBeCloseTo(0.01 + 0.015 * (50 / 90), 6);
    expect(quantileBetween(ba, bb, 0.95)).toBeCloseTo(0.15 + 0.1 * 0.5, 6);
    expect(quantileBetween(bb, bb, 0.5)).toBeUndefined();
  });

  it("treats a counter that went down as a restart, and a quantile in +Inf as the highest bound", () => {
    const registry = createMetricsRegistry();
    const hist = registry.histogram("lat_seconds", "h", [], [0.1, 1]);
    const before = buckets(snap(0, registry), "lat_seconds");
    hist.observe({}, 30);
    expect(quantileBetween(before, buckets(snap(1, registry), "lat_seconds"), 0.99)).toBe(1);
    const up: Snapshot = { at: 0, samples: [{ name: "x_total", labels: [], value: 100 }] };
    const restarted: Snapshot = { at: 2000, samples: [{ name: "x_total", labels: [], value: 8 }] };
    expect(rate(up, restarted, "x_total")).toBe(4);
  });
});

describe("evaluationTables", () => {
  it("lists the report's protocols headline first, with every model's metrics, and skips absent ones", () => {
    const report = {
      createdAt: "2026-12-07T00:00:00Z",
      dataset: { source: "s", users: 1, videos: 1, events: 1 },
      split: { evaluatedUsers: 40 },
      retrieval: { popularity: { "recall@10": 0.1, "ndcg@10": 0.05, users: 40 } },
      protocols: { warm: { users: 15, retrieval: { ease: { "recall@20": 0.4 }, funnel: { "ndcg@20": NaN } } } },
    } as unknown as EvaluationReport;
    expect(evaluationTables(report)).toEqual([
      { protocol: "warm", users: 15, models: [{ model: "ease", metrics: [{ name: "recall@20", value: 0.4 }] }, { model: "funnel", metrics: [{ name: "ndcg@20", value: null }] }] },
      { protocol: "global", users: 40, models: [{ model: "popularity", metrics: [{ name: "recall@10", value: 0.1 }, { name: "ndcg@10", value: 0.05 }, { name: "users", value: 40 }] }] },
    ]);
  });
});

describe("words", () => {
  it("says each reason in words, and a plugin's own code as itself", () => {
    expect(reasonText({ code: "TRENDING_IN", qualifiedCode: "TRENDING_IN", params: [{ key: "country", value: "US" }] })).toBe("Trending in US");
    expect(reasonText({ code: "SIMILAR_TO", qualifiedCode: "SIMILAR_TO", params: [{ key: "videoId", value: "42" }] })).toBe("Because you watched video 42");
    expect(reasonText({ code: "EXPLORATION", qualifiedCode: "EXPLORATION", params: [{ key: "from", value: "POPULAR" }] })).toBe("Something new to explore (proposed as POPULAR)");
    expect(reasonText({ code: "NEW_CODE", qualifiedCode: "my-plugin/NEW_CODE", params: [] })).toBe("my-plugin/NEW_CODE");
    expect([duration(6000), duration(59), duration(3725)]).toEqual(["1:40:00", "0:59", "1:02:05"]);
  });
});

describe("dashboard assets", () => {
  it("builds the bundle once, on the first request, and retries a failed build", async () => {
    let builds = 0;
    let fail = true;
    const assets = createDashboardAssets(async () => {
      builds++;
      if (fail) throw new Error("boom");
      return { js: Buffer.from("js"), css: Buffer.from("css"), sizes: { jsRaw: 2, jsGzip: 2, cssRaw: 3, cssGzip: 3 } };
    });
    expect(assets.built()).toBe(false);
    expect(builds).toBe(0);
    await expect(assets.get("/dashboard/app.js")).rejects.toThrow("boom");
    fail = false;
    expect((await assets.get("/dashboard/app.js"))?.body.toString()).toBe("js");
    expect((await assets.get("/dashboard/app.css"))?.contentType).toMatch(/^text\/css/);
    expect((await assets.get("/dashboard"))?.contentType).toMatch(/^text\/html/);
    expect(await assets.get("/dashboard/other")).toBeUndefined();
    expect(builds).toBe(2);
  });

  it("renders a page that loads only its own assets and escapes what it is given", () => {
    const html = renderDashboardPage({ graphql: '/g"q<' });
    expect(html).toContain('data-graphql="/g&quot;q&lt;"');
    expect([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])).toEqual(["/dashboard/app.css", "/dashboard/app.js"]);
  });
});
