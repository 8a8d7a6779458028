import type { User, Video } from "../data/types";
import {
  DAY_MS,
  TREND_HALF_LIFE_MS,
  VELOCITY_HALF_LIFE_MS,
  decayedAt,
  type UserAggregates,
  type VideoAggregates,
} from "./aggregates";

/**
 * Human-meaningful features derived from the running aggregates at a time `now`. Everything here is a pure
 * function of (aggregates, catalog entry, now): the row builders call it for training rows and for requests alike.
 *
 * Rates are smoothed towards a prior with a few pseudo-counts, so a video with 1 impression and 1 click does not
 * claim a 100 % CTR, and a cold start (no aggregates) lands exactly on the prior.
 */

/** Priors and pseudo-counts for the smoothed rates. */
export const PRIORS = {
  ctr: { mean: 0.05, weight: 20 },
  completion: { mean: 0.3, weight: 5 },
  likeRate: { mean: 0.05, weight: 10 },
  likeRatio: { mean: 0.8, weight: 4 },
  shareRate: { mean: 0.01, weight: 20 },
  commentRate: { mean: 0.01, weight: 20 },
  negativeRate: { mean: 0.01, weight: 20 },
} as const;

function smoothed(successes: number, trials: number, prior: { mean: number; weight: number }): number {
  return (successes + prior.mean * prior.weight) / (Math.max(0, trials) + prior.weight);
}

function nonNegative(x: number): number {
  return x > 0 && Number.isFinite(x) ? x : 0;
}

export interface UserFeatures {
  /** True when there are no aggregates (a new or unknown user). */
  cold: boolean;
  events: number;
  watches: number;
  avgWatchSec: number;
  /** Smoothed share of watches past the completion threshold. */
  completionRate: number;
  /** Smoothed likes per watch. */
  likeRate: number;
  /** Smoothed clicks per impression. */
  clickRate: number;
  /** Mean duration of watched videos; 0 when unknown. */
  preferredDurationSec: number;
  /** Category → share of watches (sums to 1, empty when none). */
  categoryAffinity: Record<string, number>;
  /** 24 UTC hours → share of activity (uniform when none). */
  activityByHour: number[];
  /** log1p(events per day of the active span). */
  engagementLevel: number;
  daysSinceFirstSeen: number;
  daysSinceLastSeen: number;
}

const UNIFORM_HOURS: readonly number[] = new Array<number>(24).fill(1 / 24);

export function userFeatures(agg: UserAggregates | undefined, now: number): UserFeatures {
  if (!agg || agg.events === 0) {
    return {
      cold: true,
      events: 0,
      watches: 0,
      avgWatchSec: 0,
      completionRate: PRIORS.completion.mean,
      likeRate: PRIORS.likeRate.mean,
      clickRate: PRIORS.ctr.mean,
      preferredDurationSec: 0,
      categoryAffinity: {},
      activityByHour: UNIFORM_HOURS.slice(),
      engagementLevel: 0,
      daysSinceFirstSeen: 0,
      daysSinceLastSeen: 0,
    };
  }
  const categoryAffinity: Record<string, number> = {};
  let catTotal = 0;
  for (const c in agg.categoryWatches) catTotal += agg.categoryWatches[c];
  if (catTotal > 0) for (const c in agg.categoryWatches) categoryAffinity[c] = agg.categoryWatches[c] / catTotal;
  let hourTotal = 0;
  for (const h of agg.hourCounts) hourTotal += h;
  const activityByHour = hourTotal > 0 ? agg.hourCounts.map((h) => h / hourTotal) : UNIFORM_HOURS.slice();
  // Active span in days, at least one: a user whose whole history fits in one afternoon is not "100 events/day".
  const spanDays = Math.max(1, (agg.lastTs - agg.firstTs) / DAY_MS);
  return {
    cold: false,
    events: agg.events,
    watches: agg.watches,
    avgWatchSec: agg.watches > 0 ? nonNegative(agg.watchSec / agg.watches) : 0,
    completionRate: smoothed(agg.completions, agg.watches, PRIORS.completion),
    likeRate: smoothed(agg.likes, agg.watches, PRIORS.likeRate),
    clickRate: smoothed(agg.clicks, agg.impressions, PRIORS.ctr),
    preferredDurationSec: agg.watches > 0 ? nonNegative(agg.watchedDurationSec / agg.watches) : 0,
    categoryAffinity,
    activityByHour,
    engagementLevel: Math.log1p(agg.events / spanDays),
    daysSinceFirstSeen: nonNegative((now - agg.firstTs) / DAY_MS),
    daysSinceLastSeen: nonNegative((now - agg.lastTs) / DAY_MS),
  };
}

export interface VideoFeatures {
  /** True when there are no aggregates (no interactions yet). */
  cold: boolean;
  views: number;
  /** Views with a one-hour half-life, as of `now`. */
  viewVelocity: number;
  /** Views with a one-day half-life, as of `now`. */
  trendingScore: number;
  /** Smoothed mean completion fraction per view. */
  avgCompletion: number;
  avgWatchSec: number;
  /** Smoothed likes / (likes + dislikes). */
  likeRatio: number;
  /** Smoothed likes per view. */
  likeRate: number;
  /** Smoothed clicks per impression. */
  ctr: number;
  shareRate: number;
  commentRate: number;
  /** Smoothed (dislikes + reports + not-interested) per exposure. */
  negativeRate: number;
  ageDays: number;
  durationSec: number;
}

/**
 * `into`: an object to overwrite instead of allocating one (the row builder reuses one per batch: a request builds
 * 500 rows, and each object was garbage the moment its row was written).
 */
export function videoFeatures(agg: VideoAggregates | undefined, video: Video, now: number, into?: VideoFeatures): VideoFeatures {
  const ageDays = nonNegative((now - video.uploadedAt) / DAY_MS);
  const durationSec = nonNegative(video.durationSec);
  const out = into ?? newVideoFeatures();
  if (!agg) {
    out.cold = true;
    out.views = 0;
    out.viewVelocity = 0;
    out.trendingScore = 0;
    out.avgCompletion = PRIORS.completion.mean;
    out.avgWatchSec = 0;
    out.likeRatio = PRIORS.likeRatio.mean;
    out.likeRate = PRIORS.likeRate.mean;
    out.ctr = PRIORS.ctr.mean;
    out.shareRate = PRIORS.shareRate.mean;
    out.commentRate = PRIORS.commentRate.mean;
    out.negativeRate = PRIORS.negativeRate.mean;
  } else {
    const exposures = Math.max(agg.impressions, agg.views);
    out.cold = false;
    out.views = agg.views;
    out.viewVelocity = decayedAt(agg.velocity, now, VELOCITY_HALF_LIFE_MS);
    out.trendingScore = decayedAt(agg.trend, now, TREND_HALF_LIFE_MS);
    out.avgCompletion = smoothed(agg.completionSum, agg.views, PRIORS.completion);
    out.avgWatchSec = agg.views > 0 ? nonNegative(agg.watchSec / agg.views) : 0;
    out.likeRatio = smoothed(agg.likes, agg.likes + agg.dislikes, PRIORS.likeRatio);
    out.likeRate = smoothed(agg.likes, agg.views, PRIORS.likeRate);
    out.ctr = smoothed(agg.clicks, agg.impressions, PRIORS.ctr);
    out.shareRate = smoothed(agg.shares, agg.views, PRIORS.shareRate);
    out.commentRate = smoothed(agg.comments, agg.views, PRIORS.commentRate);
    out.negativeRate = smoothed(agg.dislikes + agg.reports + agg.notInterested, exposures, PRIORS.negativeRate);
  }
  out.ageDays = ageDays;
  out.durationSec = durationSec;
  return out;
}

/** A VideoFeatures with every field present (one hidden class for all of them), for `videoFeatures` to fill. */
function newVideoFeatures(): VideoFeatures {
  return {
    cold: true,
    views: 0,
    viewVelocity: 0,
    trendingScore: 0,
    avgCompletion: 0,
    avgWatchSec: 0,
    likeRatio: 0,
    likeRate: 0,
    ctr: 0,
    shareRate: 0,
    commentRate: 0,
    negativeRate: 0,
    ageDays: 0,
    durationSec: 0,
  };
}

export interface CrossFeatures {
  /** The user's share of watches in the video's category (0 for a cold user). */
  categoryAffinity: number;
  /** ln(video duration / preferred duration), clipped to ±5; 0 when either is unknown. */
  durationLogRatio: number;
  /** 1 same language, 0 different, 0.5 when either is unknown. */
  languageMatch: number;
  /** 1 when the video is in the user's recent watch history (a re-watch candidate). */
  watchedRecently: number;
  /** 1 when the video is among the user's recent likes. */
  likedRecently: number;
}

/** What the user recently watched and liked, as sets: built once per request, probed once per candidate. */
export interface RecentHistory {
  watched: ReadonlySet<string>;
  liked: ReadonlySet<string>;
}

const NO_HISTORY: RecentHistory = { watched: new Set(), liked: new Set() };

export function recentHistory(agg: UserAggregates | undefined): RecentHistory {
  if (!agg) return NO_HISTORY;
  return { watched: new Set(agg.recent.map((r) => r.videoId)), liked: new Set(agg.recentLikes) };
}

/**
 * Cross features of (user, video). `userLanguage` is the profile's language, else the request's
 * (`userLanguageOf`). The ranker computes `uf` and `history` once per request and reuses them for every candidate.
 */
export function crossFeatures(uf: UserFeatures, history: RecentHistory, video: Video, userLanguage: string | undefined, into?: CrossFeatures): CrossFeatures {
  const pref = uf.preferredDurationSec;
  let durationLogRatio = 0;
  if (pref > 0 && video.durationSec > 0) durationLogRatio = Math.max(-5, Math.min(5, Math.log(video.durationSec / pref)));
  const out = into ?? { categoryAffinity: 0, durationLogRatio: 0, languageMatch: 0, watchedRecently: 0, likedRecently: 0 };
  out.categoryAffinity = uf.categoryAffinity[video.category] ?? 0;
  out.durationLogRatio = durationLogRatio;
  out.languageMatch = !userLanguage || !video.language ? 0.5 : userLanguage === video.language ? 1 : 0;
  out.watchedRecently = history.watched.has(video.id) ? 1 : 0;
  out.likedRecently = history.liked.has(video.id) ? 1 : 0;
  return out;
}

/** The user's language for matching: the profile's, else the request's. */
export function userLanguageOf(user: User | undefined, requestLanguage: string | undefined): string | undefined {
  return user?.language ?? requestLanguage;
}

/** Share of the user's activity at the UTC hour of `now` (1/24 for a cold user). */
export function activityAtHour(uf: UserFeatures, now: number): number {
  return uf.activityByHour[new Date(now).getUTCHours()] ?? 1 / 24;
}
