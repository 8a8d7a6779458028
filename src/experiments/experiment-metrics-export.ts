import type { MetricsRegistry } from "../schema/metrics";
import type { CountsSnapshot } from "./counts-store";
import type { ExperimentConfig } from "./experiment-config";
import { IMPRESSION_FIELDS, type ExperimentMetrics } from "./online-metrics";
import type { DriftReport } from "./drift";
import { histogramQuantile, labelDrift, METRICS } from "./report";

/**
 * The per-variant online metrics in /metrics. The registry renders synchronously and the counters may live in Redis,
 * so a snapshot is refreshed in the background (every `refreshMs`) and rendered from there. Labels: experiment and
 * variant names from config (bounded), and fixed counter / metric names.
 *
 * - reelfeed_experiment_total{experiment,variant,counter}: impressions, clicks, watchSec, completions, likes,
 *   dislikes, notInterested, outcomes, requests, fallbackRequests (totals across replicas with Redis);
 * - reelfeed_experiment_value{experiment,variant,metric}: ctr, watchSecPerImpression, completionRate, likeRate,
 *   dislikeRate, notInterestedRate, latencyMs (mean), fallbackRate, latencyP50Ms, latencyP99Ms, predictedCtr and
 *   labelRatio (observed CTR / predicted: label drift);
 * - reelfeed_drift_psi{feature}: PSI of each dense ranker feature, served rows against training rows, and
 *   reelfeed_drift_rows{side} (reference, served), when a drift monitor is given.
 */
export function registerExperimentMetrics(
  registry: MetricsRegistry,
  options: {
    metrics: Pick<ExperimentMetrics, "snapshot">;
    experiments: () => readonly ExperimentConfig[];
    drift?: () => DriftReport;
    refreshMs?: number;
    onError?: (e: unknown, where: string) => void;
  },
): { refresh(): Promise<void>; close(): void } {
  const { metrics, experiments, drift, refreshMs = 5000, onError = () => {} } = options;
  let snapshot: CountsSnapshot = new Map();
  let refreshedAt = 0;
  const refresh = async (): Promise<void> => {
    refreshedAt = Date.now();
    try {
      snapshot = await metrics.snapshot();
    } catch (err) {
      onError(err, "experiment metrics refresh");
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), refreshMs);
  timer.unref();
  // Only the experiments configured now: a removed one's counters stay in the store for its report, not in /metrics.
  // A scrape also starts a refresh (at most one a second), which the next scrape shows.
  const rows = () => {
    if (Date.now() - refreshedAt > 1000) void refresh();
    return experiments().flatMap((e) => e.variants.map((v) => ({ experiment: e.name, variant: v.name, counts: snapshot.get(e.name)?.get(v.name) ?? {} })));
  };
  const counters = [...IMPRESSION_FIELDS.filter((f) => f !== "watchSecSq"), "requests", "fallbackRequests"];
  registry.series("reelfeed_experiment_total", "Experiment counters per variant (impressions, joined outcomes, requests).", "counter", () =>
    rows().flatMap(({ experiment, variant, counts }) => counters.map((counter) => ({ labels: { experiment, variant, counter }, value: counts[counter] ?? 0 }))),
  );
  registry.series("reelfeed_experiment_value", "Experiment metrics per variant: rates and means per impression, guardrails per request.", "gauge", () =>
    rows().flatMap(({ experiment, variant, counts }) => [
      ...METRICS.map((m) => {
        const d = counts[m.denominator] ?? 0;
        return { labels: { experiment, variant, metric: m.name }, value: d > 0 ? (counts[m.numerator] ?? 0) / d : NaN };
      }),
      { labels: { experiment, variant, metric: "latencyP50Ms" }, value: histogramQuantile(counts, 0.5) },
      { labels: { experiment, variant, metric: "latencyP99Ms" }, value: histogramQuantile(counts, 0.99) },
      { labels: { experiment, variant, metric: "predictedCtr" }, value: labelDrift(counts, 1).predictedCtr },
      { labels: { experiment, variant, metric: "labelRatio" }, value: labelDrift(counts, 1).labelRatio },
    ]),
  );
  if (drift) {
    registry.series("reelfeed_drift_psi", "Population stability index of each dense ranker feature: served rows against the bundle's training rows.", "gauge", () =>
      drift().features.map((f) => ({ labels: { feature: f.feature }, value: f.psi })),
    );
    registry.series("reelfeed_drift_rows", "Ranker rows behind the drift PSI (reference: training; served: sampled per request).", "gauge", () => {
      const r = drift();
      return [
        { labels: { side: "reference" }, value: r.referenceRows },
        { labels: { side: "served" }, value: r.servedRows },
      ];
    });
  }
  return { refresh, close: () => clearInterval(timer) };
}
