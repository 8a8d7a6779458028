import type { ReelEvent } from "../data/types";
import { joinServedImpressions } from "../events/export-training";
import { decodeExposures, type Exposure } from "./assignment";
import type { CountsSnapshot, ExperimentCountsStore, VariantCounts } from "./counts-store";

/**
 * Online metrics per experiment variant, as events arrive. Each served impression carries its exposures
 * (`served.experiment`); the outcomes the client sends later carry its tracking id. An impression is held for the
 * attribution window (event time) with the events that name it, then joined by export-training's
 * `joinServedImpressions` — the same join training and the export use, so the online CTR and the exported labels
 * cannot disagree — and its row is added to the counters of every (experiment, variant) it was exposed to.
 *
 * The request counters (latency histogram, fallbacks) come from the serving side (`recordRequest`): they are not in
 * any event. Both go to an ExperimentCountsStore (memory or Redis) as sums, so replicas add up; the impression rows
 * also update per-user sums (users are what is randomized: the report's delta-method tests need them).
 *
 * An impression's window closes when the event time seen passes its time + the window (a replay closes them as it
 * goes), or when it has waited the window in wall-clock time since it arrived here (a quiet system). Only closed
 * impressions are in the counters: an impression whose outcomes may still come would bias every rate down.
 *
 * With Redis, the consumer hands each instance the events of the users it owns (src/events/shared-store.ts): a
 * user's impressions and outcomes meet in one instance, and every event is counted by one instance.
 */

/** Latency histogram bounds, ms (the last bucket is everything above). */
export const LATENCY_BOUNDS_MS = [2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 500, 750, 1000, 2000, 5000] as const;

/** The impression counters (rebuilt from the event log) and the request counters (persisted separately). */
export const IMPRESSION_FIELDS = ["impressions", "clicks", "watchSec", "watchSecSq", "completions", "likes", "dislikes", "notInterested", "outcomes"] as const;
/** Counters joined impressions add per user (the ratio metrics' numerators, and their denominator). */
const UNIT_FIELDS = new Set(["impressions", "clicks", "watchSec", "completions", "likes", "dislikes", "notInterested"]);
export const isRequestField = (f: string): boolean => f === "requests" || f === "fallbackRequests" || f === "latencyMsSum" || f === "latencyMsSq" || f.startsWith("lat.");

export interface ExperimentMetricsOptions {
  store: ExperimentCountsStore;
  /** Outcomes are joined for this long after the impression (event time), ms. @default 1800000 */
  attributionWindowMs?: number;
  /** Most impressions held waiting for outcomes; past it the oldest are counted early. @default 500000 */
  maxPending?: number;
  /** Wall clock, for windows closing on a quiet system. @default Date.now */
  clock?: () => number;
}

export interface ExperimentMetrics {
  /** The event consumer's hook: impressions, outcomes. Synchronous apart from the store's buffered writes. */
  onEvents(events: readonly ReelEvent[]): void;
  /** A served feed request: its latency and whether it took a fallback, for each exposure. */
  recordRequest(exposures: readonly Exposure[], latencyMs: number, fallback: boolean): void;
  /** Counters for the report: the store's totals (impressions whose attribution window has closed). */
  snapshot(): Promise<CountsSnapshot>;
  /** Impressions waiting for their attribution window to close. */
  pending(): number;
  /** Counts every waiting impression now (at shutdown: outcomes after a restart are then not joined). */
  drain(): void;
  /** Counts the waiting impressions whose window ended by event time `ts` (a replay read at wall-clock time). */
  closeBefore(ts: number): void;
  close(): Promise<void>;
}

interface Pending {
  ts: number;
  /** Wall-clock time it arrived here. */
  seenAt: number;
  userId: string;
  exposures: Exposure[];
  events: ReelEvent[];
}

/** The counters one joined impression adds. */
function rowCounts(events: readonly ReelEvent[]): VariantCounts | undefined {
  const { rows } = joinServedImpressions(events);
  const row = rows[0];
  if (!row) return undefined;
  return {
    impressions: 1,
    clicks: row.clicked ? 1 : 0,
    watchSec: row.watchedSec,
    watchSecSq: row.watchedSec * row.watchedSec,
    completions: row.completed ? 1 : 0,
    likes: row.liked ? 1 : 0,
    dislikes: row.disliked ? 1 : 0,
    notInterested: row.notInterested ? 1 : 0,
    outcomes: row.outcomes,
    // What the ranker expected: its click probability as served (label drift compares the observed CTR with it).
    ...(Number.isFinite(row.scores.click) && { predictedClick: row.scores.click, predictedRows: 1 }),
  };
}

export function latencyBucket(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((b) => ms <= b);
  return i < 0 ? LATENCY_BOUNDS_MS.length : i;
}

export function createExperimentMetrics(options: ExperimentMetricsOptions): ExperimentMetrics {
  const { store, attributionWindowMs = 30 * 60_000, maxPending = 500_000, clock = Date.now } = options;
  const key = (trackingId: string, videoId: string): string => `${trackingId}\u0000${videoId}`;
  // Insertion order is (nearly) serving order: the oldest impressions are at the front.
  const waiting = new Map<string, Pending>();
  let watermark = -Infinity;

  const count = (p: Pending): void => {
    const counts = rowCounts(p.events);
    if (!counts) return;
    const perUnit = Object.fromEntries(Object.entries(counts).filter(([f]) => UNIT_FIELDS.has(f)));
    const rest = Object.fromEntries(Object.entries(counts).filter(([f]) => !UNIT_FIELDS.has(f)));
    for (const x of p.exposures) {
      store.addUnit(x.experiment, x.variant, p.userId, perUnit);
      store.add(x.experiment, x.variant, rest);
    }
  };
  const closeDue = (): void => {
    const wall = clock();
    for (const [k, p] of waiting) {
      if (p.ts + attributionWindowMs > watermark && p.seenAt + attributionWindowMs > wall && waiting.size <= maxPending) break;
      waiting.delete(k);
      count(p);
    }
  };
  const drain = (): void => {
    for (const p of waiting.values()) count(p);
    waiting.clear();
  };
  const timer = setInterval(closeDue, Math.max(50, Math.min(attributionWindowMs / 4, 10_000)));
  timer.unref();

  return {
    onEvents(events) {
      for (const e of events) {
        if (e.ts > watermark) watermark = e.ts;
        if (!e.trackingId || !("videoId" in e)) continue;
        const k = key(e.trackingId, e.videoId);
        if (e.type === "impression") {
          if (!e.served) continue;
          const exposures = decodeExposures(e.served.experiment);
          // A re-logged impression (same tracking id and video) is the join's duplicate: the first one counts.
          if (exposures.length === 0 || waiting.has(k)) continue;
          waiting.set(k, { ts: e.ts, seenAt: clock(), userId: e.userId, exposures, events: [e] });
        } else {
          waiting.get(k)?.events.push(e);
        }
      }
      closeDue();
    },
    recordRequest(exposures, latencyMs, fallback) {
      if (exposures.length === 0) return;
      const deltas: VariantCounts = {
        requests: 1,
        fallbackRequests: fallback ? 1 : 0,
        latencyMsSum: latencyMs,
        latencyMsSq: latencyMs * latencyMs,
        [`lat.${latencyBucket(latencyMs)}`]: 1,
      };
      for (const x of exposures) store.add(x.experiment, x.variant, deltas);
    },
    snapshot: () => store.read(),
    pending: () => waiting.size,
    drain,
    closeBefore(ts) {
      for (const [k, p] of waiting) {
        if (p.ts + attributionWindowMs > ts) continue;
        waiting.delete(k);
        count(p);
      }
    },
    async close() {
      clearInterval(timer);
      drain();
      await store.close();
    },
  };
}
