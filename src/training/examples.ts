import type { Dataset, ReelEvent, User, Video } from "../data/types";
import type { UserAggregates } from "../features/aggregates";
import { COMPLETION_THRESHOLD } from "../features/aggregates";
import { replayEvents } from "../features/replay";
import type { RankerRowInput } from "../features/rows";
import type { Progress } from "../util/progress";
import { isPositive } from "./split";

/**
 * Training examples, point-in-time: every example's features come from the replayed aggregates strictly before
 * its own timestamp (features/replay.ts), through the same row inputs the server builds at request time.
 */

/** Post-click outcomes are joined to an impression when they happen within this window after it. */
export const OUTCOME_WINDOW_MS = 6 * 3_600_000;
/** A click counts for an impression within this window. */
export const CLICK_WINDOW_MS = 30 * 60_000;

export const RANKER_HEADS = ["click", "completion", "like", "dislike"] as const;
export type RankerHead = (typeof RANKER_HEADS)[number];

export interface RankerExamples {
  inputs: RankerRowInput[];
  labels: Record<RankerHead, Float32Array>;
  /** 1 where a head's label applies: post-click heads learn only from clicked rows (selection bias). */
  masks: Record<RankerHead, Float32Array>;
  /** How the rows were made: "impressions" or "sampled-negatives". */
  negatives: "impressions" | "sampled-negatives";
}

export interface TwoTowerExamples {
  /** The user side of each example, as the user was just before the positive interaction. */
  users: Array<{ user?: User; userAgg?: UserAggregates; context: { now: number; device?: ReelEvent["device"]; country?: string } }>;
  /** Catalog row of the positive video per example. */
  positives: Int32Array;
}

interface Outcome {
  ts: number;
  type: ReelEvent["type"];
  completion?: number;
}

/** (user, video) → that pair's click/watch/like/dislike events in time order. */
function outcomeIndex(events: readonly ReelEvent[]): Map<string, Outcome[]> {
  const index = new Map<string, Outcome[]>();
  for (const e of events) {
    if (e.type !== "click" && e.type !== "watch" && e.type !== "like" && e.type !== "dislike") continue;
    const key = `${e.userId}\u0000${e.videoId}`;
    const completion = e.type === "watch" && e.videoDurationSec > 0 ? Math.min(1, e.watchedSec / e.videoDurationSec) : undefined;
    const list = index.get(key);
    const o = { ts: e.ts, type: e.type, completion };
    if (list) list.push(o);
    else index.set(key, [o]);
  }
  for (const list of index.values()) list.sort((a, b) => a.ts - b.ts);
  return index;
}

function firstAtOrAfter(list: readonly Outcome[], ts: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Seeded PRNG (mulberry32): sampled negatives are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ExampleOptions {
  /** Only events with from ≤ ts < until become examples (features still see all earlier history). */
  from?: number;
  until: number;
  progress?: Progress;
}

export interface RankerExampleOptions extends ExampleOptions {
  /** Negatives sampled per positive when the data has no impressions. @default 3 */
  negativesPerPositive?: number;
  /** @default 7 */
  seed?: number;
  /** Keep at most this many examples (uniformly subsampled, seeded). @default Infinity */
  maxExamples?: number;
}

/**
 * Impression-level ranker rows. With impressions: one row per impression, click = a click on it within
 * CLICK_WINDOW_MS, completion/like/dislike from what followed the click within OUTCOME_WINDOW_MS (masked to clicked
 * rows). Without impressions (e.g. MovieLens): every watch is a clicked row and `negativesPerPositive` videos
 * sampled by popularity among those already uploaded are unclicked rows, with the same point-in-time features.
 */
export function buildRankerExamples(dataset: Dataset, options: RankerExampleOptions): RankerExamples {
  const { from = -Infinity, until, negativesPerPositive = 3, seed = 7, maxExamples = Infinity, progress } = options;
  const users = new Map(dataset.users.map((u) => [u.id, u]));
  const videos = new Map(dataset.videos.map((v) => [v.id, v]));
  const hasImpressions = dataset.events.some((e) => e.type === "impression" && e.ts < until && e.ts >= from);
  const outcomes = outcomeIndex(dataset.events);
  const random = seededRandom(seed);
  const inputs: RankerRowInput[] = [];
  const rows: Array<Record<RankerHead, [label: number, mask: number]>> = [];

  // Popularity-proportional sampling pool of watched videos (a video enters once uploaded and watched).
  const pool: Video[] = [];

  const outcomesAfter = (userId: string, videoId: string, ts: number, clickRequired: boolean) => {
    const list = outcomes.get(`${userId}\u0000${videoId}`) ?? [];
    let clicked = !clickRequired;
    let completion = 0;
    let like = 0;
    let dislike = 0;
    for (let i = firstAtOrAfter(list, ts); i < list.length && list[i].ts <= ts + OUTCOME_WINDOW_MS; i++) {
      const o = list[i];
      if (o.type === "click" && o.ts <= ts + CLICK_WINDOW_MS) clicked = true;
      if (o.type === "watch") completion = Math.max(completion, o.completion ?? 0);
      if (o.type === "like") like = 1;
      if (o.type === "dislike") dislike = 1;
    }
    return { clicked, completion: completion >= COMPLETION_THRESHOLD ? 1 : 0, like, dislike };
  };

  const state = replayEvents(
    dataset,
    (e, before, current) => {
      if (e.ts < from) {
        if (!hasImpressions && e.type === "watch") {
          const v = videos.get(e.videoId);
          if (v) pool.push(v);
        }
        return;
      }
      const user = users.get(e.userId);
      const context = { now: e.ts, device: e.device ?? user?.device, country: e.country ?? user?.country };
      if (hasImpressions && e.type === "impression") {
        const video = videos.get(e.videoId);
        if (!video) return;
        const o = outcomesAfter(e.userId, e.videoId, e.ts, true);
        const post = o.clicked ? 1 : 0;
        inputs.push({ user, userAgg: before.userAgg, video, videoAgg: before.videoAgg, context: { ...context, surface: e.surface, position: e.position } });
        rows.push({ click: [o.clicked ? 1 : 0, 1], completion: [o.completion, post], like: [o.like, post], dislike: [o.dislike, post] });
      } else if (!hasImpressions && e.type === "watch") {
        const video = videos.get(e.videoId);
        if (!video) return;
        const o = outcomesAfter(e.userId, e.videoId, e.ts, false);
        inputs.push({ user, userAgg: before.userAgg, video, videoAgg: before.videoAgg, context });
        rows.push({ click: [1, 1], completion: [o.completion, 1], like: [o.like, 1], dislike: [o.dislike, 1] });
        const seen = new Set(before.userAgg?.recent.map((r) => r.videoId));
        seen.add(video.id);
        for (let n = 0, tries = 0; n < negativesPerPositive && pool.length > 0 && tries < negativesPerPositive * 5; tries++) {
          const neg = pool[Math.floor(random() * pool.length)];
          if (seen.has(neg.id) || neg.uploadedAt > e.ts) continue;
          seen.add(neg.id);
          inputs.push({ user, userAgg: before.userAgg, video: neg, videoAgg: current.videos.get(neg.id), context });
          rows.push({ click: [0, 1], completion: [0, 0], like: [0, 0], dislike: [0, 0] });
          n++;
        }
        pool.push(video);
      }
    },
    { until, progress },
  );
  void state;

  let keep = Array.from(inputs.keys());
  if (keep.length > maxExamples) {
    for (let i = keep.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [keep[i], keep[j]] = [keep[j], keep[i]];
    }
    keep = keep.slice(0, maxExamples).sort((a, b) => a - b);
  }
  const labels = {} as Record<RankerHead, Float32Array>;
  const masks = {} as Record<RankerHead, Float32Array>;
  for (const head of RANKER_HEADS) {
    labels[head] = new Float32Array(keep.length);
    masks[head] = new Float32Array(keep.length);
    keep.forEach((row, i) => {
      labels[head][i] = rows[row][head][0];
      masks[head][i] = rows[row][head][1];
    });
  }
  return { inputs: keep.map((i) => inputs[i]), labels, masks, negatives: hasImpressions ? "impressions" : "sampled-negatives" };
}

/** One example per positive interaction (split.ts `isPositive`) in [from, until): the user as they were just before. */
export function buildTwoTowerExamples(dataset: Dataset, videoRow: ReadonlyMap<string, number>, options: ExampleOptions): TwoTowerExamples {
  const { from = -Infinity, until, progress } = options;
  const users = new Map(dataset.users.map((u) => [u.id, u]));
  const out: TwoTowerExamples["users"] = [];
  const positives: number[] = [];
  // A watch and a like of the same video are one interaction: the first positive event makes the example.
  const done = new Set<string>();
  replayEvents(
    dataset,
    (e, before) => {
      if (e.ts < from || !isPositive(e)) return;
      const videoId = (e as { videoId: string }).videoId;
      const row = videoRow.get(videoId);
      const key = `${e.userId}\u0000${videoId}`;
      if (row === undefined || done.has(key)) return;
      done.add(key);
      const user = users.get(e.userId);
      out.push({ user, userAgg: before.userAgg, context: { now: e.ts, device: e.device ?? user?.device, country: e.country ?? user?.country } });
      positives.push(row);
    },
    { until, progress },
  );
  return { users: out, positives: Int32Array.from(positives) };
}
