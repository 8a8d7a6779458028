import type { Dataset, Video } from "../data/types";
import type { VideoAggregates } from "../features/aggregates";
import type { FeatureArtifacts } from "../features/artifacts";
import { buildRankerRows, rankerSpec, type RankerRowInput } from "../features/rows";
import { rowContext } from "../ranking/ranker-model";
import type { FeedQuery } from "../pipeline/types";
import { buildRankerExamples } from "../training/examples";

/**
 * Feature drift: per dense ranker feature, the population stability index (PSI) of the rows the server builds for
 * what it serves against the rows the bundle was trained on. Both sides go through the same row builder
 * (src/features/rows.ts), so a difference is a difference in the data, not in the code.
 *
 * Reference: the training rows rebuilt from the bundle's own data (training/examples.ts, at most `referenceRows`,
 * seeded), binned into deciles of each feature. Served: a few served items per request (`rowsPerRequest`), binned
 * with the same edges. PSI = Σ (served − train) · ln(served / train) over the bins (proportions floored at 1e-4):
 * under 0.1 stable, 0.1–0.25 moderate, above 0.25 a major shift (the usual reading); `psiThreshold` flags a feature.
 *
 * Served rows are what the ranker ranked highest, training rows include sampled negatives: some PSI is selection,
 * not drift. Compare a feature's PSI with its own history (the /metrics series) rather than with zero.
 */

export interface FeatureDrift {
  feature: string;
  psi: number;
  drifting: boolean;
}

export interface DriftReport {
  /** False until the reference is built (in the background after start-up). */
  ready: boolean;
  referenceRows: number;
  servedRows: number;
  threshold: number;
  /** Most drifting first. */
  features: FeatureDrift[];
}

export interface DriftMonitor {
  /** Bins the ranker rows of these served videos for this query (cheap; call off the request path). */
  observe(query: FeedQuery, videos: readonly Video[], videoAggs: ReadonlyMap<string, VideoAggregates>): void;
  report(): DriftReport;
  /** Resolves once the reference is built. */
  ready: Promise<void>;
}

/** `bins`-quantile edges of `values` (the inner edges, ascending, distinct). */
export function quantileEdges(values: ArrayLike<number>, bins = 10): number[] {
  const sorted = Float64Array.from(values).sort();
  const edges: number[] = [];
  for (let b = 1; b < bins; b++) {
    const v = sorted[Math.min(sorted.length - 1, Math.floor((b * sorted.length) / bins))];
    if (edges.length === 0 || v > edges[edges.length - 1]) edges.push(v);
  }
  return edges;
}

/** The bin of `x` given inner edges: values equal to an edge go to the bin above it. */
export function binOf(edges: readonly number[], x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Population stability index of `current` counts against `reference` counts (same bins). */
export function psi(reference: readonly number[], current: readonly number[], floor = 1e-4): number {
  const rt = reference.reduce((s, c) => s + c, 0);
  const ct = current.reduce((s, c) => s + c, 0);
  if (rt === 0 || ct === 0) return NaN;
  let out = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = Math.max(floor, reference[i] / rt);
    const c = Math.max(floor, current[i] / ct);
    out += (c - r) * Math.log(c / r);
  }
  return out;
}

export interface DriftMonitorOptions {
  artifacts: FeatureArtifacts;
  /** The bundle's data: the training rows are rebuilt from it. */
  dataset: Dataset;
  /** config experiments.drift.psiThreshold */
  psiThreshold: number;
  /** @default 5000 */
  referenceRows?: number;
  /** @default 10 */
  bins?: number;
  onError?: (error: unknown, where: string) => void;
}

export function createDriftMonitor(options: DriftMonitorOptions): DriftMonitor {
  const { artifacts, dataset, psiThreshold, referenceRows = 5000, bins = 10, onError = () => {} } = options;
  const names = rankerSpec(artifacts).dense;
  const d = names.length;
  let edges: number[][] | undefined;
  let reference: number[][] = [];
  let served: number[][] = [];
  let referenceCount = 0;
  let servedCount = 0;

  // Built after start-up, off the first requests' path (it replays the bundle's history).
  const ready = new Promise<void>((resolve) => {
    setTimeout(() => {
      try {
        const examples = buildRankerExamples(dataset, { until: Infinity, maxExamples: referenceRows });
        const rows = buildRankerRows(artifacts, examples.inputs);
        referenceCount = rows.size;
        edges = names.map((_, j) => {
          const col = new Float64Array(rows.size);
          for (let r = 0; r < rows.size; r++) col[r] = rows.dense[r * d + j];
          return quantileEdges(col, bins);
        });
        reference = edges.map((e) => new Array(e.length + 1).fill(0));
        served = edges.map((e) => new Array(e.length + 1).fill(0));
        for (let r = 0; r < rows.size; r++) for (let j = 0; j < d; j++) reference[j][binOf(edges[j], rows.dense[r * d + j])]++;
      } catch (err) {
        onError(err, "drift reference");
      }
      resolve();
    }, 0).unref?.();
  });

  return {
    ready,
    observe(query, videos, videoAggs) {
      if (!edges || videos.length === 0) return;
      const context = rowContext(query);
      const inputs: RankerRowInput[] = videos.map((video) => ({ user: query.user, userAgg: query.userAgg, video, videoAgg: videoAggs.get(video.id), context }));
      const rows = buildRankerRows(artifacts, inputs);
      for (let r = 0; r < rows.size; r++) for (let j = 0; j < d; j++) served[j][binOf(edges[j], rows.dense[r * d + j])]++;
      servedCount += rows.size;
    },
    report() {
      const features: FeatureDrift[] = [];
      if (edges && servedCount > 0) {
        names.forEach((feature, j) => {
          // A constant column in training (one bin) cannot drift in distribution: skipped.
          if (edges![j].length === 0) return;
          const value = psi(reference[j], served[j]);
          features.push({ feature, psi: value, drifting: value >= psiThreshold });
        });
        features.sort((a, b) => b.psi - a.psi);
      }
      return { ready: edges !== undefined, referenceRows: referenceCount, servedRows: servedCount, threshold: psiThreshold, features };
    },
  };
}
