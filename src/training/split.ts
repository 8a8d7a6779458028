/**
 * How history is divided for offline evaluation, and which events count as a positive interaction.
 *
 * The split is by time, never random: a recommender is always asked about the future, so a random split (which
 * lets the model train on a user's tomorrow to predict their yesterday) flatters every model and most of all the
 * ones that memorise popularity trends. Cut times are quantiles of the event times, so "validation: 0.1" means the
 * latest ~10 % of events before the test period, whatever the data's time span.
 */
import { badInput } from "../errors";
import type { ReelEvent } from "../data/types";

/** Fractions of events (by count, ordered by time) that go to validation and test; train gets the rest. */
export interface TimeSplitOptions {
  /** @default 0.1 */
  validation?: number;
  /** @default 0.1 */
  test?: number;
}

export interface TimeSplit<E> {
  /** Exclusive end of the training period (epoch ms): train has ts < trainUntil. */
  trainUntil: number;
  /** Exclusive end of the validation period: validation has trainUntil ≤ ts < validationUntil; test the rest. */
  validationUntil: number;
  /** Each part is sorted by ts (stable: equal times keep input order). */
  train: E[];
  validation: E[];
  test: E[];
}

function checkFraction(name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0 && value < 1)) {
    throw badInput(name, `must be a fraction in [0, 1), got ${value}`);
  }
}

/**
 * Splits events at two cut times taken from the event-time quantiles, so that every train event is strictly
 * earlier than every validation event, which is strictly earlier than every test event. Events sharing a time
 * stamp never straddle a cut (they all go to the later part), so fractions are met up to ties.
 */
export function timeSplit<E extends { ts: number }>(events: readonly E[], options: TimeSplitOptions = {}): TimeSplit<E> {
  const { validation = 0.1, test = 0.1 } = options;
  checkFraction("validation", validation);
  checkFraction("test", test);
  if (validation + test >= 1) throw badInput("validation", `validation + test must be < 1, got ${validation + test}`);
  if (events.length === 0) throw badInput("events", "is empty: nothing to split");
  for (let i = 0; i < events.length; i++) {
    if (!Number.isFinite(events[i].ts)) throw badInput("events", `event ${i} has a non-finite ts (${events[i].ts})`);
  }
  let sorted: E[] = events.slice();
  let ordered = true;
  for (let i = 1; i < sorted.length && ordered; i++) ordered = sorted[i - 1].ts <= sorted[i].ts;
  if (!ordered) sorted = sorted.sort((a, b) => a.ts - b.ts); // Array.prototype.sort is stable

  const n = sorted.length;
  // The cut is the time of the first event of the later part; rounding keeps fractions closest to the request.
  const trainCount = Math.round(n * (1 - validation - test));
  const validationEnd = Math.round(n * (1 - test));
  const cutAt = (index: number) => (index >= n ? sorted[n - 1].ts + 1 : sorted[index].ts);
  const trainUntil = cutAt(trainCount);
  const validationUntil = Math.max(trainUntil, cutAt(validationEnd));

  const firstAtOrAfter = (t: number) => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid].ts < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const a = firstAtOrAfter(trainUntil);
  const b = firstAtOrAfter(validationUntil);
  return {
    trainUntil,
    validationUntil,
    train: sorted.slice(0, a),
    validation: sorted.slice(a, b),
    test: sorted.slice(b),
  };
}

/**
 * What counts as a positive interaction for retrieval (the items a user "wanted"):
 * - `watch` with watchedSec / videoDurationSec ≥ minCompletion, or watchedSec ≥ minWatchSec (a long watch of a
 *   long video is interest even at low completion);
 * - `progress` at ≥ minCompletion·100 percent (the same completion signal, reported as milestones);
 * - `like`, `share`, `save` (explicit, strong signals).
 * Clicks, starts, impressions and comments are not positives: a click followed by a 3-second bounce is the
 * clickbait case the funnel must not learn to chase, and a comment can be a complaint.
 */
export interface PositiveRule {
  /** @default 0.5 */
  minCompletion?: number;
  /** @default 30 */
  minWatchSec?: number;
}

/** True when `event` is a positive interaction with its video under `rule`. */
export function isPositive(event: ReelEvent, rule: PositiveRule = {}): boolean {
  const { minCompletion = 0.5, minWatchSec = 30 } = rule;
  switch (event.type) {
    case "watch": {
      if (event.watchedSec >= minWatchSec) return true;
      return event.videoDurationSec > 0 && event.watchedSec / event.videoDurationSec >= minCompletion;
    }
    case "progress":
      return event.percent >= minCompletion * 100;
    case "like":
    case "share":
    case "save":
      return true;
    default:
      return false;
  }
}

/** A positive interaction, reduced to what retrieval needs. */
export interface PositiveInteraction {
  userId: string;
  videoId: string;
  ts: number;
}

/** Positive interactions in time order, one per (user, video): the first positive event of each pair. */
export function positiveInteractions(events: readonly ReelEvent[], rule: PositiveRule = {}): PositiveInteraction[] {
  const out: PositiveInteraction[] = [];
  const seen = new Set<string>();
  for (const e of byTime(events)) {
    if (!("videoId" in e) || !isPositive(e, rule)) continue;
    const key = `${e.userId}\u0000${e.videoId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ userId: e.userId, videoId: e.videoId, ts: e.ts });
  }
  return out;
}

/** Per user, the videos they interacted positively with, ordered by the time of the first positive, deduplicated. */
export function positivesByUser(events: readonly ReelEvent[], rule: PositiveRule = {}): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of positiveInteractions(events, rule)) {
    let list = out.get(p.userId);
    if (!list) out.set(p.userId, (list = []));
    list.push(p.videoId);
  }
  return out;
}

/**
 * Per user, every video they touched with any video event except impressions (being shown a video is not having
 * seen it). Used to exclude already-consumed items from recommendations and from the relevant set.
 */
export function seenByUser(events: readonly ReelEvent[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.type === "impression" || !("videoId" in e)) continue;
    let set = out.get(e.userId);
    if (!set) out.set(e.userId, (set = new Set()));
    set.add(e.videoId);
  }
  return out;
}

function byTime(events: readonly ReelEvent[]): readonly ReelEvent[] {
  for (let i = 1; i < events.length; i++) {
    if (events[i - 1].ts > events[i].ts) return events.slice().sort((a, b) => a.ts - b.ts);
  }
  return events;
}
