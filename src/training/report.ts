/**
 * The evaluation report: one JSON-serialisable object (report.json in a model bundle) and its Markdown rendering
 * (report.md), written for a person deciding whether a model is worth shipping: the verdict first, then tables,
 * a picture, and the facts needed to trust the numbers (data, split, timings).
 */
import { join } from "node:path";
import { CHART_PALETTE, barChartSvg } from "../charts/index";
import { writeFileAtomic } from "../util/fs";
import type { RankerHeadMetrics } from "./evaluate";

/** Metric name → value, e.g. { "recall@20": 0.07, "ndcg@20": 0.29, "users": 74 } (see evaluateRetrieval). */
export type MetricRecord = Record<string, number>;

export interface EvaluationReport {
  /** ISO time the report was made. */
  createdAt: string;
  dataset: {
    /** e.g. "movielens:ml-latest-small". */
    source: string;
    users: number;
    videos: number;
    events: number;
    /** Interactions the retrieval models were fitted and scored on (after the positive rule). */
    interactions?: number;
    /** Epoch ms of the first and last event. */
    firstEventAt?: number;
    lastEventAt?: number;
  };
  split: {
    method: "time";
    validationFraction: number;
    testFraction: number;
    /** Epoch ms cut times (exclusive ends) from timeSplit. */
    trainUntil: number;
    validationUntil: number;
    trainEvents: number;
    validationEvents: number;
    testEvents: number;
    /** Users scored by evaluateRetrieval (those with test positives not seen before). */
    evaluatedUsers?: number;
    /** Human description of what counted as a relevant interaction. */
    positiveRule?: string;
  };
  /** Model name (twoTower, popularity, random, itemKnn, ease, ...) → metrics from evaluateRetrieval. */
  retrieval: Record<string, MetricRecord>;
  /** Ranker head (click, completion, like, ...) → metrics from evaluateRanker; {} when no ranker was evaluated. */
  ranker: Record<string, RankerHeadMetrics>;
  coverage: {
    /** Recommendable videos: the coverage denominator. */
    catalogSize: number;
    /** Model → "coverage@K" → fraction of the catalog in the union of users' top-K lists. */
    byModel: Record<string, MetricRecord>;
  };
  /** Step name → milliseconds (e.g. "fit.ease", "train.twoTower", "evaluate.retrieval"). */
  timings: Record<string, number>;
  /** The full serving funnel (retrieval → ranking → re-ranking) scored like a retrieval model, when run. */
  funnel?: Record<string, MetricRecord>;
  /** The protocols that judge the models where each is strong: warm users first, cold users on their own. */
  protocols?: { warm?: WarmProtocolReport; cold?: { users: number; retrieval: Record<string, MetricRecord> } };
  /** Free-form remarks shown at the end (e.g. "EASE restricted to the 2000 most popular items"). */
  notes?: string[];
}

/**
 * The warm protocol (per-user temporal hold-out, training/warm-split.ts): every model fitted on each user's first
 * 80 % and asked for the rest, the baselines' settings chosen on a validation slice of train.
 */
export interface WarmProtocolReport {
  users: number;
  holdout: number;
  minTrain: number;
  trainEvents: number;
  heldOutEvents: number;
  /** What validation chose for the baselines (and, for λ, the shipped item neighbours). */
  tuned: { easeLambda: number; easeItems: number; itemKnn: { neighbors: number; shrink: number }; neighbours: { lambda: number; halfLife: number } };
  /** Model → metrics: popularity, itemKnn, ease, twoTower, neighbours, funnel, funnelStagesOff. */
  retrieval: Record<string, MetricRecord>;
}

/** The coverage section from evaluateRetrieval's output: every "coverage@K" entry, per model. */
export function coverageSection(retrieval: Record<string, MetricRecord>, catalogSize: number): EvaluationReport["coverage"] {
  const byModel: Record<string, MetricRecord> = {};
  for (const [model, metrics] of Object.entries(retrieval)) {
    byModel[model] = Object.fromEntries(Object.entries(metrics).filter(([key]) => key.startsWith("coverage@")));
  }
  return { catalogSize, byModel };
}

const FAMILIES: ReadonlyArray<{ prefix: string; title: string; blurb: string }> = [
  { prefix: "recall", title: "Recall@K", blurb: "share of each user's held-out items found in the top K, averaged over users" },
  { prefix: "ndcg", title: "NDCG@K", blurb: "like recall, but a hit near the top counts more (binary relevance)" },
  { prefix: "hit", title: "Hit@K", blurb: "share of users with at least one held-out item in the top K" },
];

const HEADLINE_K = 20;

function ksOf(records: Record<string, MetricRecord>, prefix: string): number[] {
  const ks = new Set<number>();
  for (const metrics of Object.values(records)) {
    for (const key of Object.keys(metrics)) {
      const m = /^([a-z]+)@(\d+)$/.exec(key);
      if (m && m[1] === prefix) ks.add(Number(m[2]));
    }
  }
  return [...ks].sort((a, b) => a - b);
}

function fmt(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(digits);
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function date(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "n/a";
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function pctChange(a: number, b: number): string {
  if (b === 0) return a > 0 ? "+∞%" : "±0%";
  const p = ((a - b) / b) * 100;
  return `${p >= 0 ? "+" : ""}${p.toFixed(1)}%`;
}

/** A Markdown table with models as rows and K as columns; the best value in each column is bold. */
function metricTable(records: Record<string, MetricRecord>, prefix: string, ks: number[]): string {
  const models = Object.keys(records);
  const lines = [`| model | ${ks.map((k) => `@${k}`).join(" | ")} |`, `|---|${ks.map(() => "---:").join("|")}|`];
  const best = ks.map((k) => {
    let max = -Infinity;
    for (const m of models) {
      const v = records[m][`${prefix}@${k}`];
      if (Number.isFinite(v) && v > max) max = v;
    }
    return max;
  });
  for (const m of models) {
    const cells = ks.map((k, c) => {
      const v = records[m][`${prefix}@${k}`];
      const text = fmt(v);
      return Number.isFinite(v) && v === best[c] && models.length > 1 ? `**${text}**` : text;
    });
    lines.push(`| ${cell(m)} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/** A bar of `value / max` of `width` characters, in eighth-block resolution. */
export function textBar(value: number, max: number, width = 40): string {
  if (!(max > 0) || !(value > 0)) return "";
  const eighths = Math.round((Math.min(value, max) / max) * width * 8);
  return "█".repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
}

/** Recall@K per model as horizontal bars, one group per K, all on one scale so groups compare. */
function recallChart(records: Record<string, MetricRecord>, ks: number[]): string {
  const models = Object.keys(records);
  const nameWidth = Math.max(...models.map((m) => m.length));
  let max = 0;
  for (const m of models) for (const k of ks) max = Math.max(max, records[m][`recall@${k}`] ?? 0);
  const lines: string[] = [];
  for (const k of ks) {
    lines.push(`Recall@${k}`);
    for (const m of models) {
      const v = records[m][`recall@${k}`];
      lines.push(`  ${m.padEnd(nameWidth)} │${textBar(v ?? 0, max)} ${fmt(v)}`);
    }
  }
  return ["```text", ...lines, "```"].join("\n");
}

/** One sentence: does the two-tower model beat popularity on Recall@20 and NDCG@20? */
function summaryLine(retrieval: Record<string, MetricRecord>): string {
  const ks = ksOf(retrieval, "recall");
  const k = ks.includes(HEADLINE_K) ? HEADLINE_K : ks[0];
  const tt = retrieval.twoTower;
  const pop = retrieval.popularity;
  if (k === undefined) return "**Summary:** no retrieval metrics were computed.";
  if (!tt || !pop) {
    let best = "";
    let bestValue = -Infinity;
    for (const [m, r] of Object.entries(retrieval)) {
      if ((r[`recall@${k}`] ?? -Infinity) > bestValue) {
        bestValue = r[`recall@${k}`];
        best = m;
      }
    }
    const missing = [!tt && "twoTower", !pop && "popularity"].filter(Boolean).join(" and ");
    return `**Summary:** no ${missing} results to compare; best Recall@${k}: ${best} (${fmt(bestValue)}).`;
  }
  const parts = (["recall", "ndcg"] as const).map((family) => {
    const a = tt[`${family}@${k}`];
    const b = pop[`${family}@${k}`];
    const label = family === "recall" ? `Recall@${k}` : `NDCG@${k}`;
    return { beats: a > b, text: `${label} ${fmt(a)} vs ${fmt(b)} (${pctChange(a, b)})` };
  });
  const verdict = parts.every((p) => p.beats)
    ? "✅ the two-tower model beats popularity on both"
    : parts.some((p) => p.beats)
      ? "⚠️ the two-tower model beats popularity on only one of"
      : "❌ the two-tower model does not beat popularity on";
  return `**Summary:** ${verdict} Recall@${k} and NDCG@${k}: ${parts.map((p) => p.text).join("; ")}.`;
}

function rankerTable(ranker: EvaluationReport["ranker"]): string {
  const heads = Object.keys(ranker);
  if (heads.length === 0) return "_No ranker was evaluated._";
  const lines = [
    "| head | rows | positives | base rate | AUC | base AUC | log loss | base log loss | log loss vs base |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const h of heads) {
    const r = ranker[h];
    const gain = r.logLoss !== null && r.baseRateLogLoss !== null ? pctChange(r.logLoss, r.baseRateLogLoss) : "n/a";
    lines.push(
      `| ${cell(h)} | ${r.n} | ${r.positives} | ${fmt(r.baseRate)} | ${fmt(r.auc)} | ${fmt(r.baseRateAuc, 1)} | ${fmt(r.logLoss)} | ${fmt(r.baseRateLogLoss)} | ${gain} |`,
    );
  }
  return lines.join("\n");
}

function coverageTable(coverage: EvaluationReport["coverage"]): string {
  const ks = ksOf(coverage.byModel, "coverage");
  if (ks.length === 0) return "_No coverage measured._";
  const lines = [
    `Share of the ${Number.isFinite(coverage.catalogSize) ? coverage.catalogSize : "?"} recommendable videos that appear in at least one user's top K (higher = less concentrated on hits).`,
    "",
    metricTable(coverage.byModel, "coverage", ks),
  ];
  return lines.join("\n");
}

function timingsTable(timings: Record<string, number>): string {
  const entries = Object.entries(timings);
  if (entries.length === 0) return "_No timings recorded._";
  return ["| step | seconds |", "|---|---:|", ...entries.map(([k, ms]) => `| ${cell(k)} | ${(ms / 1000).toFixed(2)} |`)].join("\n");
}

/** "0.1234 (1.06× EASE, 1.62× popularity)": a model's NDCG@20 as ratios to the strongest simple baselines. */
function ratioText(records: Record<string, MetricRecord>, model: string, against: readonly string[], metric = `ndcg@${HEADLINE_K}`): string {
  const v = records[model]?.[metric];
  const parts = against.filter((b) => records[b]?.[metric] > 0).map((b) => `${(v / records[b][metric]).toFixed(2)}× ${b}`);
  return `${fmt(v)}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

function protocolSections(protocols: NonNullable<EvaluationReport["protocols"]>, charts: readonly ReportChart[]): string[] {
  const out: string[] = [];
  const { warm, cold } = protocols;
  if (warm) {
    const r = warm.retrieval;
    out.push("## Warm users: per-user temporal hold-out", "");
    out.push(
      `Each of ${warm.users} users with ≥ ${warm.minTrain} train interactions keeps the first ${Math.round((1 - warm.holdout) * 100)} % of their ` +
        `interactions (in time order) for training and is asked for the rest; every model is fitted on the train part only, ` +
        `train videos are excluded from lists and relevance, and the whole catalogue is ranked. Baselines tuned on a validation ` +
        `slice of train: EASE λ = ${warm.tuned.easeLambda} (${warm.tuned.easeItems} most engaged videos), item-kNN ${warm.tuned.itemKnn.neighbors} neighbours, ` +
        `shrink ${warm.tuned.itemKnn.shrink}; the shipped item neighbours λ = ${warm.tuned.neighbours.lambda}, history half-life ${warm.tuned.neighbours.halfLife}. This is where the collaborative baselines are strong: the funnel is judged by its ratio to them.`,
      "",
    );
    const lines: string[] = [];
    if (r.funnel) lines.push(`- **funnel** (default pipeline, every stage on): NDCG@${HEADLINE_K} ${ratioText(r, "funnel", ["ease", "popularity"])}`);
    if (r.funnelStagesOff) lines.push(`- funnel with the re-rank stages off: NDCG@${HEADLINE_K} ${ratioText(r, "funnelStagesOff", ["ease", "popularity"])}`);
    if (r.funnel && r.funnelStagesOff) {
      const cost = 1 - r.funnel[`ndcg@${HEADLINE_K}`] / r.funnelStagesOff[`ndcg@${HEADLINE_K}`];
      lines.push(`- what the default diversity / exploration / guardrail stages cost: ${(cost * 100).toFixed(1)} % of NDCG@${HEADLINE_K}`);
    }
    if (r.twoTower) lines.push(`- two-tower alone: NDCG@${HEADLINE_K} ${ratioText(r, "twoTower", ["itemKnn", "popularity"])}`);
    if (r.neighbours) lines.push(`- item neighbours alone (the Neighbours source): NDCG@${HEADLINE_K} ${ratioText(r, "neighbours", ["ease"])}`);
    out.push(...lines, "", ...chartImage(charts, "warm"));
    for (const { prefix, title } of FAMILIES) {
      const ks = ksOf(r, prefix);
      if (ks.length > 0) out.push(`### ${title}`, "", metricTable(r, prefix, ks), "");
    }
  }
  if (cold) {
    out.push("## Cold users: no history before the test period", "");
    out.push(`The ${cold.users} users of the time split's test period who had no event before it (a global time cut).`, "");
    if (cold.retrieval.funnel && cold.retrieval.popularity) {
      out.push(`- **funnel**: NDCG@${HEADLINE_K} ${ratioText(cold.retrieval, "funnel", ["popularity"])}, Recall@${HEADLINE_K} ${ratioText(cold.retrieval, "funnel", ["popularity"], `recall@${HEADLINE_K}`)}`, "");
    }
    out.push(...chartImage(charts, "cold"));
    for (const { prefix, title } of FAMILIES) {
      const ks = ksOf(cold.retrieval, prefix).filter((k) => k <= 50);
      if (ks.length > 0) out.push(`### ${title}`, "", metricTable(cold.retrieval, prefix, ks), "");
    }
  }
  return out;
}

/** One chart file of the report: written beside report.md and linked from it. */
export interface ReportChart {
  /** The view it draws: "warm", "cold" or "all" (the global time split). */
  view: "warm" | "cold" | "all";
  /** File name beside report.md, e.g. "report-warm.svg". */
  file: string;
  /** The image's alt text in report.md. */
  alt: string;
  svg: string;
}

/**
 * Each model keeps one colour (Okabe–Ito) in every chart of the report, though the views hold different models, and
 * the charts list them in one order: baselines first, then ours, the shipped funnel last beside its stages-off twin
 * (the same blue, lighter). Models not named here take the palette's colours left unused, in order.
 */
const MODEL_COLORS: ReadonlyArray<[string, string]> = [
  ["random", "#000000"],
  ["popularity", "#E69F00"],
  ["itemKnn", "#F0E442"],
  ["ease", "#009E73"],
  ["neighbours", "#CC79A7"],
  ["twoTower", "#D55E00"],
  ["funnel", "#0072B2"],
  ["funnelStagesOff", "#56B4E9"],
];

function modelSeries(models: readonly string[]): Array<{ name: string; color: string }> {
  const known = new Map(MODEL_COLORS);
  const rank = (m: string) => (known.has(m) ? MODEL_COLORS.findIndex(([name]) => name === m) : -1);
  // Unknown models first (in their given order), then the known ones in MODEL_COLORS order.
  const ordered = [...models].sort((a, b) => rank(a) - rank(b) || models.indexOf(a) - models.indexOf(b));
  const used = new Set(ordered.filter((m) => known.has(m)).map((m) => known.get(m)!));
  const spare = CHART_PALETTE.filter((c) => !used.has(c));
  let next = 0;
  return ordered.map((name) => ({ name, color: known.get(name) ?? spare[next++ % Math.max(1, spare.length)] ?? CHART_PALETTE[0] }));
}

/**
 * Recall@K and NDCG@K of every model of one view as grouped bars: a group per metric@K (recall first, then NDCG,
 * K ascending), a bar per model. One scale for both families, so a group's bars compare directly and recall's
 * larger values stay visible beside NDCG's. Undefined when the view has no such metric.
 */
function viewChart(view: ReportChart["view"], title: string, records: Record<string, MetricRecord>, maxK: number): ReportChart | undefined {
  const models = modelSeries(Object.keys(records));
  const families = (["recall", "ndcg"] as const).map((prefix) => ({ prefix, ks: ksOf(records, prefix).filter((k) => k <= maxK) }));
  const categories = families.flatMap(({ prefix, ks }) => ks.map((k) => `${prefix === "recall" ? "Recall" : "NDCG"}@${k}`));
  if (models.length === 0 || categories.length === 0) return undefined;
  const series = models.map(({ name, color }) => ({
    name,
    color,
    values: families.flatMap(({ prefix, ks }) => ks.map((k) => records[name][`${prefix}@${k}`] ?? Number.NaN)),
  }));
  // ~14 px per bar and a gap per group keep value labels legible; never narrower than a README column.
  const width = Math.min(1200, Math.max(640, 120 + categories.length * (models.length * 14 + 24)));
  const svg = barChartSvg({ title, categories, series, yLabel: "score (higher is better)", width, height: 380 });
  return { view, file: `report-${view}.svg`, alt: `${title} (bar chart)`, svg };
}

/** The report's charts, one per view that has retrieval metrics. Pure: same report in, byte-identical SVG out. */
export function reportCharts(report: EvaluationReport): ReportChart[] {
  const out: Array<ReportChart | undefined> = [];
  const { warm, cold } = report.protocols ?? {};
  // The charts stop at K = 100 (the cold tables at 50): past that, recall mostly measures the catalogue's size and
  // its bars would dwarf the rest. The tables keep every K.
  if (warm) out.push(viewChart("warm", `Warm users (${warm.users}): Recall@K and NDCG@K per model`, warm.retrieval, 100));
  if (cold) out.push(viewChart("cold", `Cold users (${cold.users}): Recall@K and NDCG@K per model`, cold.retrieval, 50));
  const users = Object.values(report.retrieval)[0]?.users ?? report.split.evaluatedUsers;
  // The serving funnel is scored on the same users as the retrieval models: one chart puts it beside them.
  const all = { ...report.retrieval, ...(report.funnel ?? {}) };
  const scope = report.protocols ? "All test-period users" : "Retrieval";
  out.push(viewChart("all", `${scope}${users !== undefined ? ` (${users})` : ""}: Recall@K and NDCG@K per model`, all, 100));
  return out.filter((c): c is ReportChart => c !== undefined);
}

/** The Markdown that shows a chart, or nothing when the report was rendered without that one. */
function chartImage(charts: readonly ReportChart[], view: ReportChart["view"]): string[] {
  const chart = charts.find((c) => c.view === view);
  return chart ? [`![${chart.alt.replace(/[[\]\\]/g, "\\$&")}](${chart.file})`, ""] : [];
}

export interface RenderReportOptions {
  /**
   * Charts to link, as written beside report.md (see writeReportFiles); only these are linked, so report.md never
   * points at a file that is not there.
   * @default [] (text only)
   */
  charts?: readonly ReportChart[];
}

/** Renders the report as Markdown (report.md). Pure: same report in, same text out. */
export function renderReportMarkdown(report: EvaluationReport, options: RenderReportOptions = {}): string {
  const { charts = [] } = options;
  const { dataset, split, retrieval } = report;
  // Tolerate reports assembled by hand or from older versions: a missing section renders as "not measured".
  const ranker = report.ranker ?? {};
  const coverage = report.coverage ?? coverageSection(retrieval, Number.NaN);
  const timings = report.timings ?? {};
  const out: string[] = [];
  out.push("# reelfeed evaluation report", "");
  out.push(`_${cell(dataset.source)} · created ${report.createdAt}_`, "");
  out.push(summaryLine(retrieval), "");
  if (report.protocols) out.push(...protocolSections(report.protocols, charts));

  out.push(report.protocols ? "## All test-period users: global time split" : "## Retrieval", "");
  const users = Object.values(retrieval)[0]?.users ?? split.evaluatedUsers;
  out.push(
    `Each model recommends for every user with held-out positives${users !== undefined ? ` (${users} users)` : ""}; ` +
      "videos the user already interacted with before the test period are excluded from the lists and from the relevant set.",
    "",
    ...chartImage(charts, "all"),
  );
  for (const { prefix, title, blurb } of FAMILIES) {
    const ks = ksOf(retrieval, prefix);
    if (ks.length === 0) continue;
    out.push(`### ${title}`, "", `_${blurb}; best per column in bold._`, "", metricTable(retrieval, prefix, ks), "");
  }
  const recallKs = ksOf(retrieval, "recall");
  if (recallKs.length > 0) out.push("### Recall@K at a glance", "", recallChart(retrieval, recallKs), "");

  if (report.funnel && Object.keys(report.funnel).length > 0) {
    out.push("## Serving funnel", "", "_Retrieval → ranking → re-ranking, scored like the retrieval models._", "");
    for (const { prefix, title } of FAMILIES) {
      const ks = ksOf(report.funnel, prefix);
      if (ks.length > 0) out.push(`### ${title}`, "", metricTable(report.funnel, prefix, ks), "");
    }
  }

  out.push("## Ranker", "", "_Per head: AUC and log loss on the test rows, next to a constant predictor of the training positive rate._", "");
  out.push(rankerTable(ranker), "");

  out.push("## Coverage", "", coverageTable(coverage), "");

  out.push("## Data and split", "");
  out.push("| | |", "|---|---|");
  out.push(`| source | ${cell(dataset.source)} |`);
  out.push(`| users / videos / events | ${dataset.users} / ${dataset.videos} / ${dataset.events} |`);
  if (dataset.interactions !== undefined) out.push(`| interactions used | ${dataset.interactions} |`);
  if (dataset.firstEventAt !== undefined) out.push(`| events span | ${date(dataset.firstEventAt)} → ${date(dataset.lastEventAt)} |`);
  out.push(
    `| split | by time: train ${fmt((1 - split.validationFraction - split.testFraction) * 100, 0)}% / validation ${fmt(split.validationFraction * 100, 0)}% / test ${fmt(split.testFraction * 100, 0)}% of events |`,
  );
  out.push(`| train | ${split.trainEvents} events, before ${date(split.trainUntil)} |`);
  out.push(`| validation | ${split.validationEvents} events, until ${date(split.validationUntil)} |`);
  out.push(`| test | ${split.testEvents} events, from ${date(split.validationUntil)} |`);
  if (split.evaluatedUsers !== undefined) out.push(`| users evaluated | ${split.evaluatedUsers} |`);
  if (split.positiveRule) out.push(`| relevant = | ${cell(split.positiveRule)} |`);
  out.push("");

  out.push("## Timings", "", timingsTable(timings), "");
  if (report.notes && report.notes.length > 0) {
    out.push("## Notes", "", ...report.notes.map((n) => `- ${n}`), "");
  }
  return out.join("\n");
}

/**
 * Writes the report's files into `dir`: report.json, the chart SVGs, then report.md. Each file is written atomically
 * (a reader sees the old file or the whole new one), and the charts go before the Markdown that links them, so at no
 * moment does report.md point at a missing or half-written image. Inside a bundle the whole folder is atomic too
 * (writeDirAtomic).
 */
export async function writeReportFiles(dir: string, report: EvaluationReport, files = { json: "report.json", markdown: "report.md" }): Promise<ReportChart[]> {
  const charts = reportCharts(report);
  await writeFileAtomic(join(dir, files.json), JSON.stringify(report, null, 2) + "\n");
  for (const chart of charts) await writeFileAtomic(join(dir, chart.file), chart.svg);
  await writeFileAtomic(join(dir, files.markdown), renderReportMarkdown(report, { charts }));
  return charts;
}
