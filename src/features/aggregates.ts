import type { ReelEvent, Video } from "../data/types";

/**
 * Running aggregates per user and per video: the state every derived feature is computed from.
 *
 * This is the one place where an event changes features. Training replays the event log in time order through
 * `applyUserEvent` / `applyVideoEvent` and snapshots features *before* applying each labelled event (point-in-time
 * correct by construction); the real-time store applies the very same functions as events arrive. Same code, no
 * train/serve skew.
 *
 * Aggregates are plain JSON (no Maps, no classes) so a store can persist them as they are.
 */

/** A counter that decays exponentially: `v` is its value as of time `t`. */
export interface Decayed {
  v: number;
  t: number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Trending: views with a one-day half-life. */
export const TREND_HALF_LIFE_MS = DAY_MS;
/** View velocity: views with a one-hour half-life (≈ views in the last ~1.4 h). */
export const VELOCITY_HALF_LIFE_MS = HOUR_MS;
/** How many recent watches a user's history keeps. */
export const RECENT_HISTORY = 50;
/** A watch counts as completed at this fraction of the video's duration. */
export const COMPLETION_THRESHOLD = 0.8;

export function decayedAt(d: Decayed, t: number, halfLifeMs: number): number {
  if (t <= d.t) return d.v;
  return d.v * Math.pow(0.5, (t - d.t) / halfLifeMs);
}

export function bumpDecayed(d: Decayed, t: number, amount: number, halfLifeMs: number): Decayed {
  // Events can arrive slightly out of order: decay the older one towards the newer time, never backwards.
  if (t >= d.t) return { v: decayedAt(d, t, halfLifeMs) + amount, t };
  return { v: d.v + amount * Math.pow(0.5, (d.t - t) / halfLifeMs), t: d.t };
}

export interface RecentWatch {
  videoId: string;
  ts: number;
  /** watched / duration, clipped to [0, 1]. */
  completion: number;
}

export interface UserAggregates {
  userId: string;
  firstTs: number;
  lastTs: number;
  events: number;
  impressions: number;
  clicks: number;
  starts: number;
  watches: number;
  completions: number;
  likes: number;
  dislikes: number;
  shares: number;
  comments: number;
  saves: number;
  /** Total seconds watched. */
  watchSec: number;
  /** Sum of the durations of videos watched: preferred duration = watchedDurationSec / watches. */
  watchedDurationSec: number;
  /** Watches per category (category affinity). */
  categoryWatches: Record<string, number>;
  /** Activity per UTC hour of day, 24 entries. */
  hourCounts: number[];
  /** Last RECENT_HISTORY watches, oldest first. */
  recent: RecentWatch[];
  /** Last 20 liked video ids, oldest first. */
  recentLikes: string[];
}

export interface VideoAggregates {
  videoId: string;
  firstTs: number;
  lastTs: number;
  impressions: number;
  clicks: number;
  starts: number;
  views: number;
  watchSec: number;
  completionSum: number;
  completions: number;
  likes: number;
  dislikes: number;
  shares: number;
  comments: number;
  saves: number;
  reports: number;
  notInterested: number;
  trend: Decayed;
  velocity: Decayed;
}

export function emptyUserAggregates(userId: string): UserAggregates {
  return {
    userId,
    firstTs: 0,
    lastTs: 0,
    events: 0,
    impressions: 0,
    clicks: 0,
    starts: 0,
    watches: 0,
    completions: 0,
    likes: 0,
    dislikes: 0,
    shares: 0,
    comments: 0,
    saves: 0,
    watchSec: 0,
    watchedDurationSec: 0,
    categoryWatches: {},
    hourCounts: new Array<number>(24).fill(0),
    recent: [],
    recentLikes: [],
  };
}

export function emptyVideoAggregates(videoId: string): VideoAggregates {
  return {
    videoId,
    firstTs: 0,
    lastTs: 0,
    impressions: 0,
    clicks: 0,
    starts: 0,
    views: 0,
    watchSec: 0,
    completionSum: 0,
    completions: 0,
    likes: 0,
    dislikes: 0,
    shares: 0,
    comments: 0,
    saves: 0,
    reports: 0,
    notInterested: 0,
    trend: { v: 0, t: 0 },
    velocity: { v: 0, t: 0 },
  };
}

function completionOf(watchedSec: number, durationSec: number): number {
  if (!(durationSec > 0)) return 0;
  return Math.min(1, Math.max(0, watchedSec / durationSec));
}

function pushCapped<T>(list: T[], item: T, cap: number): T[] {
  const next = list.length >= cap ? list.slice(list.length - cap + 1) : list.slice();
  next.push(item);
  return next;
}

/**
 * Returns the user's aggregates after `event`. Pure: the input is not mutated. `video` is the catalog entry of
 * the event's video when known (category affinity and preferred duration need it).
 */
export function applyUserEvent(agg: UserAggregates, event: ReelEvent, video?: Video): UserAggregates {
  const next: UserAggregates = { ...agg, events: agg.events + 1 };
  next.firstTs = agg.firstTs === 0 ? event.ts : Math.min(agg.firstTs, event.ts);
  next.lastTs = Math.max(agg.lastTs, event.ts);
  next.hourCounts = agg.hourCounts.slice();
  next.hourCounts[new Date(event.ts).getUTCHours()] += 1;
  switch (event.type) {
    case "impression":
      next.impressions += 1;
      break;
    case "click":
      next.clicks += 1;
      break;
    case "start":
      next.starts += 1;
      break;
    case "watch": {
      const duration = event.videoDurationSec > 0 ? event.videoDurationSec : (video?.durationSec ?? 0);
      const completion = completionOf(event.watchedSec, duration);
      next.watches += 1;
      next.watchSec += Math.max(0, event.watchedSec);
      next.watchedDurationSec += duration;
      if (completion >= COMPLETION_THRESHOLD) next.completions += 1;
      if (video) {
        next.categoryWatches = { ...agg.categoryWatches, [video.category]: (agg.categoryWatches[video.category] ?? 0) + 1 };
      }
      next.recent = pushCapped(agg.recent, { videoId: event.videoId, ts: event.ts, completion }, RECENT_HISTORY);
      break;
    }
    case "like":
      next.likes += 1;
      next.recentLikes = pushCapped(agg.recentLikes, event.videoId, 20);
      break;
    case "dislike":
      next.dislikes += 1;
      break;
    case "share":
      next.shares += 1;
      break;
    case "comment":
      next.comments += 1;
      break;
    case "save":
      next.saves += 1;
      break;
    default:
      break;
  }
  return next;
}

/** Returns the video's aggregates after `event` (which must name this video). Pure. */
export function applyVideoEvent(agg: VideoAggregates, event: ReelEvent, video?: Video): VideoAggregates {
  const next: VideoAggregates = { ...agg };
  next.firstTs = agg.firstTs === 0 ? event.ts : Math.min(agg.firstTs, event.ts);
  next.lastTs = Math.max(agg.lastTs, event.ts);
  switch (event.type) {
    case "impression":
      next.impressions += 1;
      break;
    case "click":
      next.clicks += 1;
      break;
    case "start":
      next.starts += 1;
      break;
    case "watch": {
      const duration = event.videoDurationSec > 0 ? event.videoDurationSec : (video?.durationSec ?? 0);
      const completion = completionOf(event.watchedSec, duration);
      next.views += 1;
      next.watchSec += Math.max(0, event.watchedSec);
      next.completionSum += completion;
      if (completion >= COMPLETION_THRESHOLD) next.completions += 1;
      next.trend = bumpDecayed(agg.trend, event.ts, 1, TREND_HALF_LIFE_MS);
      next.velocity = bumpDecayed(agg.velocity, event.ts, 1, VELOCITY_HALF_LIFE_MS);
      break;
    }
    case "like":
      next.likes += 1;
      break;
    case "dislike":
      next.dislikes += 1;
      break;
    case "share":
      next.shares += 1;
      break;
    case "comment":
      next.comments += 1;
      break;
    case "save":
      next.saves += 1;
      break;
    case "report":
      next.reports += 1;
      break;
    case "not_interested":
      next.notInterested += 1;
      break;
    default:
      break;
  }
  return next;
}
