import type { CountsSnapshot, VariantCounts } from "./counts-store";
import type { ExperimentConfig, ExperimentsConfig } from "./experiment-config";
import { LATENCY_BOUNDS_MS } from "./online-metrics";
import { ratioDeltaZTest, twoProportionZTest, welchTTest, type Comparison } from "./stats";

/**
 * An experiment's report: per variant the online metrics, and per treatment variant each metric compared with the
 * control (the first variant) with a confidence interval and a two-sided test.
 *
 * Which test: users are randomized, so the per-impression metrics are ratios of per-user sums, tested with the delta
 * method on those sums (ratioDeltaZTest): a user's impressions are not independent draws, and the per-impression
 * z-test would find differences in an A/A test far more often than α (test/experiments/simulation.test.ts measures
 * both). The guardrails are per request: latency by Welch's t-test, the fallback rate by the two-proportion z-test.
 *
 * Repeated looks: the report may be read at any time, but it is a fixed-horizon design. A difference is declared
 * `significant` only once every variant has `analysis.minImpressionsPerVariant` impressions; before that the
 * p-values are shown and `decided` is false. Reading a fixed-horizon test every hour and stopping at the first
 * p < α would inflate the false-positive rate several-fold; fixing the horizon in config before the start keeps it
 * at α per metric. The primary metrics are several: read them as several tests (a Bonferroni view, α / number of
 * primary metrics, is given beside each p-value as `pBonferroni`).
 */

export type MetricKind = "primary" | "guardrail";

export interface MetricDefinition {
  name: string;
  kind: MetricKind;
  /** "proportion": successes / trials (z-test); "mean": per-trial mean from Σ and Σ² (Welch). */
  shape: "proportion" | "mean";
  /** Counter names: successes (or Σ) and, for means, Σ²; trials. */
  numerator: string;
  squares?: string;
  denominator: string;
  /** Higher is better (a guardrail worsening is flagged). */
  higherIsBetter: boolean;
  description: string;
}

export const METRICS: readonly MetricDefinition[] = [
  { name: "ctr", kind: "primary", shape: "proportion", numerator: "clicks", denominator: "impressions", higherIsBetter: true, description: "clicks per impression" },
  { name: "watchSecPerImpression", kind: "primary", shape: "mean", numerator: "watchSec", squares: "watchSecSq", denominator: "impressions", higherIsBetter: true, description: "seconds watched per impression" },
  { name: "completionRate", kind: "primary", shape: "proportion", numerator: "completions", denominator: "impressions", higherIsBetter: true, description: "completed watches per impression" },
  { name: "likeRate", kind: "primary", shape: "proportion", numerator: "likes", denominator: "impressions", higherIsBetter: true, description: "likes per impression" },
  { name: "dislikeRate", kind: "primary", shape: "proportion", numerator: "dislikes", denominator: "impressions", higherIsBetter: false, description: "dislikes per impression" },
  { name: "notInterestedRate", kind: "primary", shape: "proportion", numerator: "notInterested", denominator: "impressions", higherIsBetter: false, description: "'not interested' per impression" },
  { name: "latencyMs", kind: "guardrail", shape: "mean", numerator: "latencyMsSum", squares: "latencyMsSq", denominator: "requests", higherIsBetter: false, description: "feed latency per request, ms (mean; p50/p99 per variant)" },
  { name: "fallbackRate", kind: "guardrail", shape: "proportion", numerator: "fallbackRequests", denominator: "requests", higherIsBetter: false, description: "requests answered with a fallback" },
];

export interface VariantSummary {
  name: string;
  /** Users with a closed impression. */
  users: number;
  impressions: number;
  requests: number;
  /** Metric name → value (rate or mean); NaN without data. */
  values: Record<string, number>;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Mean served click probability of the ranker (what it expected), and observed CTR / that: label drift. */
  predictedCtr: number;
  labelRatio: number;
  /** The label ratio is outside [1/threshold, threshold] (config experiments.drift.labelRatioThreshold). */
  labelDrift: boolean;
}

export interface MetricComparison extends Comparison {
  metric: string;
  kind: MetricKind;
  /** p < α, the horizon reached. */
  significant: boolean;
  /** min(1, p × number of primary metrics). */
  pBonferroni: number;
  /** The treatment is significantly worse on this metric (guardrails: a failed guardrail). */
  worse: boolean;
}

export interface ExperimentReport {
  experiment: string;
  /** Impressions still inside their attribution window (not in the numbers yet). */
  pendingImpressions: number;
  control: string;
  alpha: number;
  minImpressionsPerVariant: number;
  /** Every variant reached the horizon: significance is decided. */
  decided: boolean;
  variants: VariantSummary[];
  comparisons: Array<{ variant: string; metrics: MetricComparison[] }>;
}

/** The q-quantile of a bucketed latency histogram (linear within the bucket), ms. */
export function histogramQuantile(counts: VariantCounts, q: number): number {
  const n = LATENCY_BOUNDS_MS.length + 1;
  const buckets = Array.from({ length: n }, (_, i) => counts[`lat.${i}`] ?? 0);
  const total = buckets.reduce((s, c) => s + c, 0);
  if (total === 0) return NaN;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < n; i++) {
    if (seen + buckets[i] >= rank && buckets[i] > 0) {
      const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1];
      const hi = i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i] : LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1] * 2;
      return lo + ((hi - lo) * (rank - seen)) / buckets[i];
    }
    seen += buckets[i];
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}

function value(m: MetricDefinition, c: VariantCounts): number {
  const d = c[m.denominator] ?? 0;
  return d > 0 ? (c[m.numerator] ?? 0) / d : NaN;
}

/** The per-user sums of a ratio metric, when the counters have them. */
function unitSums(m: MetricDefinition, c: VariantCounts) {
  return {
    units: c.units ?? 0,
    sumX: c[m.numerator] ?? 0,
    sumN: c[m.denominator] ?? 0,
    sumX2: c[`u2.${m.numerator}`] ?? 0,
    sumN2: c[`u2.${m.denominator}`] ?? 0,
    sumXN: c[`ux.${m.numerator}`] ?? 0,
  };
}

/** `perImpression`: the naive test that treats impressions as independent (shown for comparison, never decides). */
export function compareMetric(m: MetricDefinition, control: VariantCounts, treatment: VariantCounts, alpha: number, perImpression = false): Comparison {
  const n1 = control[m.denominator] ?? 0;
  const n2 = treatment[m.denominator] ?? 0;
  if (!perImpression && m.denominator === "impressions" && (control.units ?? 0) >= 2 && (treatment.units ?? 0) >= 2) {
    return ratioDeltaZTest(unitSums(m, control), unitSums(m, treatment), alpha);
  }
  if (m.shape === "proportion") return twoProportionZTest(control[m.numerator] ?? 0, n1, treatment[m.numerator] ?? 0, n2, alpha);
  const sq = m.squares!;
  return welchTTest(
    { n: n1, sum: control[m.numerator] ?? 0, sumSq: control[sq] ?? 0 },
    { n: n2, sum: treatment[m.numerator] ?? 0, sumSq: treatment[sq] ?? 0 },
    alpha,
  );
}

export function buildExperimentReport(
  experiment: ExperimentConfig,
  snapshot: CountsSnapshot,
  analysis: ExperimentsConfig["analysis"],
  pendingImpressions = 0,
  labelRatioThreshold = 1.5,
): ExperimentReport {
  const { alpha, minImpressionsPerVariant } = analysis;
  const byVariant = snapshot.get(experiment.name) ?? new Map<string, VariantCounts>();
  const countsOf = (v: string): VariantCounts => byVariant.get(v) ?? {};
  const variants: VariantSummary[] = experiment.variants.map((v) => {
    const c = countsOf(v.name);
    return {
      name: v.name,
      users: c.units ?? 0,
      impressions: c.impressions ?? 0,
      requests: c.requests ?? 0,
      values: Object.fromEntries(METRICS.map((m) => [m.name, value(m, c)])),
      latencyP50Ms: histogramQuantile(c, 0.5),
      latencyP99Ms: histogramQuantile(c, 0.99),
      ...labelDrift(c, labelRatioThreshold),
    };
  });
  const decided = variants.every((v) => v.impressions >= minImpressionsPerVariant);
  const primaries = METRICS.filter((m) => m.kind === "primary").length;
  const control = experiment.variants[0].name;
  const comparisons = experiment.variants.slice(1).map((v) => ({
    variant: v.name,
    metrics: METRICS.map((m): MetricComparison => {
      const c = compareMetric(m, countsOf(control), countsOf(v.name), alpha);
      const significant = decided && c.pValue < alpha;
      return {
        metric: m.name,
        kind: m.kind,
        ...c,
        significant,
        pBonferroni: Math.min(1, c.pValue * (m.kind === "primary" ? primaries : 1)),
        worse: significant && (m.higherIsBetter ? c.diff < 0 : c.diff > 0),
      };
    }),
  }));
  return { experiment: experiment.name, pendingImpressions, control, alpha, minImpressionsPerVariant, decided, variants, comparisons };
}

/** Observed CTR against the ranker's mean served click probability. */
export function labelDrift(c: VariantCounts, threshold: number): { predictedCtr: number; labelRatio: number; labelDrift: boolean } {
  const predictedCtr = (c.predictedRows ?? 0) > 0 ? (c.predictedClick ?? 0) / c.predictedRows : NaN;
  const ctr = (c.impressions ?? 0) > 0 ? (c.clicks ?? 0) / c.impressions : NaN;
  const labelRatio = predictedCtr > 0 ? ctr / predictedCtr : NaN;
  return { predictedCtr, labelRatio, labelDrift: Number.isFinite(labelRatio) && (labelRatio > threshold || labelRatio < 1 / threshold) };
}

const f = (v: number, digits = 4): string => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");

/** The report as text (`reelfeed experiments report <name>`). */
export function renderExperimentReport(r: ExperimentReport): string {
  const lines: string[] = [];
  lines.push(`experiment ${r.experiment} — control ${r.control}, α = ${r.alpha}, horizon ${r.minImpressionsPerVariant} impressions per variant: ${r.decided ? "reached (decided)" : "not reached (look, do not decide)"}`);
  lines.push("");
  if (r.pendingImpressions > 0) lines.push(`(${r.pendingImpressions} impressions still inside their attribution window are not counted yet)`);
  lines.push(["variant", "users", "impressions", "requests", ...METRICS.map((m) => m.name), "p50 ms", "p99 ms", "predicted ctr", "ctr/predicted"].join("\t"));
  for (const v of r.variants) {
    lines.push(
      [v.name, v.users, v.impressions, v.requests, ...METRICS.map((m) => f(v.values[m.name])), f(v.latencyP50Ms, 1), f(v.latencyP99Ms, 1), f(v.predictedCtr), f(v.labelRatio, 2) + (v.labelDrift ? " LABEL DRIFT" : "")].join("\t"),
    );
  }
  for (const c of r.comparisons) {
    lines.push("");
    lines.push(`${c.variant} vs ${r.control} (difference, ${Math.round((1 - r.alpha) * 100)} % CI, p):`);
    for (const m of c.metrics) {
      const flag = m.significant ? (m.worse ? (m.kind === "guardrail" ? "  GUARDRAIL FAILED" : "  significantly worse") : "  significantly better") : "";
      lines.push(
        `  ${m.metric.padEnd(22)} ${f(m.diff)} [${f(m.ciLow)}, ${f(m.ciHigh)}]  rel ${Number.isFinite(m.relative) ? (m.relative * 100).toFixed(1) + " %" : "n/a"}  p = ${m.pValue.toPrecision(3)} (${m.test})${flag}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}
