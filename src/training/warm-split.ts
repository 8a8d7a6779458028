import type { ReelEvent } from "../data/types";
import { badInput } from "../errors";
import { isPositive, seenByUser } from "./split";

/**
 * The warm protocol's split: per user, a temporal hold-out (the standard protocol for users with history, where
 * the collaborative baselines are strong; docs/training.md "Protocols").
 *
 * For each user, their positive interactions in time order (ties: input order; a video counts once, at its first
 * positive event) are cut so that train keeps ceil((1 − holdout) · n) of them; every event of the user from the
 * first held-out interaction on is held out. Evaluated users have ≥ `minTrain` train interactions and ≥ 1 held-out
 * one; relevant = their held-out videos minus anything they touched in train (the evaluator excludes train videos
 * from the ranking and from the relevant set).
 */
export interface PerUserSplitOptions {
  /** Share of each user's interactions held out. @default 0.2 */
  holdout?: number;
  /** Train interactions a user needs to be evaluated. @default 5 */
  minTrain?: number;
}

export interface PerUserSplit<E> {
  /** Every user's train events, in the input's (time) order: what a model may be fitted on. */
  train: E[];
  /** Held-out videos per evaluated user. */
  test: Map<string, Set<string>>;
  /** Videos each user touched in train (excluded from lists and relevance). */
  trainSeen: Map<string, Set<string>>;
  /** Users with ≥ minTrain train and ≥ 1 held-out interaction. */
  evaluatedUsers: number;
  /** The held-out events, in time order. */
  heldOut: E[];
}

/** `events` must be in time order (a Dataset's are); the split keeps that order. */
export function perUserTemporalSplit<E extends ReelEvent>(events: readonly E[], options: PerUserSplitOptions = {}): PerUserSplit<E> {
  const { holdout = 0.2, minTrain = 5 } = options;
  if (!(holdout > 0 && holdout < 1)) throw badInput("holdout", `must be a fraction in (0, 1), got ${holdout}`);
  for (let i = 1; i < events.length; i++) {
    if (events[i].ts < events[i - 1].ts) throw badInput("events", `not in time order at ${i}`);
  }
  // Per user: the index (into `events`) of each distinct positive interaction's first event.
  const interactions = new Map<string, number[]>();
  const counted = new Set<string>();
  events.forEach((e, i) => {
    if (!("videoId" in e) || !isPositive(e)) return;
    const key = `${e.userId}\u0000${e.videoId}`;
    if (counted.has(key)) return;
    counted.add(key);
    let list = interactions.get(e.userId);
    if (!list) interactions.set(e.userId, (list = []));
    list.push(i);
  });
  // The event index from which each user's events are held out.
  const cutAt = new Map<string, number>();
  for (const [userId, list] of interactions) {
    const keep = Math.ceil((1 - holdout) * list.length);
    if (keep < list.length) cutAt.set(userId, list[keep]);
  }
  const train: E[] = [];
  const heldOut: E[] = [];
  events.forEach((e, i) => {
    const cut = cutAt.get(e.userId);
    (cut !== undefined && i >= cut ? heldOut : train).push(e);
  });
  const trainSeen = seenByUser(train);
  const test = new Map<string, Set<string>>();
  for (const [userId, list] of interactions) {
    const cut = cutAt.get(userId);
    if (cut === undefined) continue;
    const keep = Math.ceil((1 - holdout) * list.length);
    if (keep < minTrain) continue;
    const relevant = new Set<string>();
    for (const i of list.slice(keep)) {
      const videoId = (events[i] as E & { videoId: string }).videoId;
      if (!trainSeen.get(userId)?.has(videoId)) relevant.add(videoId);
    }
    if (relevant.size > 0) test.set(userId, relevant);
  }
  return { train, test, trainSeen, evaluatedUsers: test.size, heldOut };
}
