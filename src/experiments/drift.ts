import type { Dataset, Video } from "../data/types";
import type { VideoAggregates } from "../features/aggregates";
import type { FeatureArtifacts } from "../features/artifacts";
import { buildRankerRows, rankerSpec, type RankerRowInput } from "../features/rows";
import { rowContext } from "../ranking/ranker-model";
import type { FeedQuery } from "../pipeline/types";
import { buildRankerExamples } from "../training/examples";
import { startTsWorker } from "../util/ts-worker";

/**
 * Feature drift: per dense ranker feature, the population stability index (PSI) of the rows the server builds for
 * what it serves against the rows the bundle was trained on. Both sides go through the same row builder
 * (src/features/rows.ts), so a difference is a difference in the data, not in the code.
 *
 * Reference: the training rows rebuilt from the bundle's own data (training/examples.ts, at most 5 000, seeded, in a
 * worker thread), binned into deciles of each feature. Served: a few served items per request (`rowsPerRequest`), binned
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

/** The training side of the comparison: per dense feature, its decile edges and the training rows per bin. */
export interface DriftReference {
  features: string[];
  edges: number[][];
  counts: number[][];
  rows: number;
}

/**
 * The training rows rebuilt from a bundle's data (training/examples.ts, at most `maxRows`, seeded) through the shared
 * row builder, binned per feature. Replays the whole history: seconds on MovieLens-small, so the server runs it in a
 * worker thread (drift-reference-thread.ts).
 */
export function computeDriftReference(dataset: Dataset, artifacts: FeatureArtifacts, maxRows = 5000, bins = 10): DriftReference {
  const features = rankerSpec(artifacts).dense;
  const d = features.length;
  const examples = buildRankerExamples(dataset, { until: Infinity, maxExamples: maxRows });
  const rows = buildRankerRows(artifacts, examples.inputs);
  const edges = features.map((_, j) => {
    const col = new Float64Array(rows.size);
    for (let r = 0; r < rows.size; r++) col[r] = rows.dense[r * d + j];
    return quantileEdges(col, bins);
  });
  const counts = edges.map((e) => new Array<number>(e.length + 1).fill(0));
  for (let r = 0; r < rows.size; r++) for (let j = 0; j < d; j++) counts[j][binOf(edges[j], rows.dense[r * d + j])]++;
  return { features, edges, counts, rows: rows.size };
}

/** Runs computeDriftReference for a bundle in a worker thread: the event loop keeps serving meanwhile. */
export function driftReferenceInWorker(
  bundleDir: string,
  options: { delayMs?: number; maxRows?: number; bins?: number; signal?: AbortSignal } = {},
): Promise<DriftReference> {
  const { delayMs = 0, maxRows = 5000, bins = 10, signal } = options;
  // Aborted (the runtime closed): never settles, the worker (if started) is stopped.
  return new Promise((resolve, reject) => {
    const start = (): void => {
      if (signal?.aborted) return;
      const worker = startTsWorker(new URL("./drift-reference-thread.ts", import.meta.url), { bundleDir, maxRows, bins });
      worker.unref();
      signal?.addEventListener("abort", () => void worker.terminate(), { once: true });
      worker.once("message", (m: { reference?: DriftReference; error?: string }) => {
        if (m.reference) resolve(m.reference);
        else reject(new Error(m.error ?? "drift reference worker failed"));
        void worker.terminate();
      });
      worker.once("error", reject);
      worker.once("exit", (code) => {
        if (!signal?.aborted) reject(new Error(`drift reference worker exited with ${code}`));
      });
    };
    if (delayMs > 0) setTimeout(start, delayMs).unref();
    else start();
  });
}

export interface DriftMonitorOptions {
  /** The bundle's artifacts: served rows are built with them. */
  artifacts: FeatureArtifacts;
  /** The training side (built in a worker: driftReferenceInWorker). */
  reference: Promise<DriftReference>;
  /** config experiments.drift.psiThreshold */
  psiThreshold: number;
  onError?: (error: unknown, where: string) => void;
}

export function createDriftMonitor(options: DriftMonitorOptions): DriftMonitor {
  const { artifacts, psiThreshold, onError = () => {} } = options;
  const names = rankerSpec(artifacts).dense;
  const d = names.length;
  let ref: DriftReference | undefined;
  let served: number[][] = [];
  let servedCount = 0;
  // Rows served before the reference is built wait here (bounded), then are binned with its edges.
  let early: Float32Array[] = [];
  let earlyRows = 0;
  const bin = (dense: Float32Array, n: number): void => {
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) served[j][binOf(ref!.edges[j], dense[r * d + j])]++;
    servedCount += n;
  };
  const ready = options.reference
    .then((r) => {
      if (r.features.length !== d || r.features.some((f, j) => f !== names[j])) throw new Error("drift reference: features differ from the bundle's ranker spec");
      ref = r;
      served = r.edges.map((e) => new Array<number>(e.length + 1).fill(0));
      for (const dense of early) bin(dense, dense.length / d);
      early = [];
    })
    .catch((err: unknown) => onError(err, "drift reference"));

  return {
    ready,
    observe(query, videos, videoAggs) {
      if (videos.length === 0 || (!ref && earlyRows >= 10_000)) return;
      const context = rowContext(query);
      const inputs: RankerRowInput[] = videos.map((video) => ({ user: query.user, userAgg: query.userAgg, video, videoAgg: videoAggs.get(video.id), context }));
      const rows = buildRankerRows(artifacts, inputs);
      if (ref) bin(rows.dense, rows.size);
      else {
        early.push(rows.dense.slice(0, rows.size * d));
        earlyRows += rows.size;
      }
    },
    report() {
      const features: FeatureDrift[] = [];
      if (ref && servedCount > 0) {
        names.forEach((feature, j) => {
          // A constant column in training (one bin) cannot drift in distribution: skipped.
          if (ref!.edges[j].length <= 1 && ref!.counts[j].filter((c) => c > 0).length <= 1) return;
          const value = psi(ref!.counts[j], served[j]);
          features.push({ feature, psi: value, drifting: value >= psiThreshold });
        });
        features.sort((a, b) => b.psi - a.psi);
      }
      return { ready: ref !== undefined, referenceRows: ref?.rows ?? 0, servedRows: servedCount, threshold: psiThreshold, features };
    },
  };
}
