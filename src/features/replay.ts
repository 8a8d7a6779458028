import type { Dataset, ReelEvent, Video } from "../data/types";
import type { Progress } from "../util/progress";
import {
  applyUserEvent,
  applyVideoEvent,
  emptyUserAggregates,
  emptyVideoAggregates,
  type UserAggregates,
  type VideoAggregates,
} from "./aggregates";

/**
 * Point-in-time replay: the training side of "one feature code path". Events are applied in time order with the
 * same pure `applyUserEvent` / `applyVideoEvent` the real-time store uses, and each event is shown the aggregates
 * as they were strictly before it. Events sharing a timestamp form one group: all of them see the state before
 * the group, none sees another (at serving time, two events in the same millisecond could not have seen each
 * other either, and `aggregatesAt(until)` cuts at `ts < until`, i.e. between groups).
 */

export interface AggregatesSnapshot {
  userAgg?: UserAggregates;
  videoAgg?: VideoAggregates;
}

export interface ReplayOptions {
  /** Resolves a video id to its catalog entry (category affinity, preferred duration). @default the dataset's videos */
  videoOf?: (id: string) => Video | undefined;
  /** Reports progress over events. @default none */
  progress?: Progress;
  /** Only events with ts < until are replayed. @default Infinity */
  until?: number;
}

/** Event indices in ts order, stable for ties (the dataset's order). No copy when already sorted. */
function timeOrder(events: readonly ReelEvent[]): ArrayLike<number> | undefined {
  for (let i = 1; i < events.length; i++) {
    if (events[i].ts < events[i - 1].ts) {
      const order = Array.from(events.keys());
      order.sort((a, b) => events[a].ts - events[b].ts || a - b);
      return order;
    }
  }
  return undefined;
}

function videoLookup(dataset: Dataset, videoOf: ReplayOptions["videoOf"]): (id: string) => Video | undefined {
  if (videoOf) return videoOf;
  const byId = new Map(dataset.videos.map((v) => [v.id, v]));
  return (id) => byId.get(id);
}

export interface AggregateState {
  users: Map<string, UserAggregates>;
  videos: Map<string, VideoAggregates>;
}

function applyEvent(state: AggregateState, e: ReelEvent, videoOf: (id: string) => Video | undefined): void {
  const videoId = "videoId" in e ? e.videoId : undefined;
  const video = videoId === undefined ? undefined : videoOf(videoId);
  state.users.set(e.userId, applyUserEvent(state.users.get(e.userId) ?? emptyUserAggregates(e.userId), e, video));
  if (videoId !== undefined) {
    state.videos.set(videoId, applyVideoEvent(state.videos.get(videoId) ?? emptyVideoAggregates(videoId), e, video));
  }
}

/**
 * Calls `visit(event, before, state)` for every event in ts order, `before` holding the user's and video's
 * aggregates strictly before the event (undefined when there were none). The snapshots are immutable: a visitor may
 * keep them. `state` is every user's and video's aggregates before the event's timestamp group (read-only): what a
 * sampled negative's features are read from.
 * Returns the final state.
 */
export function replayEvents(
  dataset: Dataset,
  visit: (event: ReelEvent, before: AggregatesSnapshot, state: Readonly<AggregateState>) => void,
  options: ReplayOptions = {},
): AggregateState {
  const { progress, until = Infinity } = options;
  const videoOf = videoLookup(dataset, options.videoOf);
  const events = dataset.events;
  const order = timeOrder(events);
  const at = (i: number) => events[order ? order[i] : i];
  const state: AggregateState = { users: new Map(), videos: new Map() };
  const step = progress?.step("replay events", events.length);
  let i = 0;
  while (i < events.length && at(i).ts < until) {
    // [i, j) is one timestamp group: visit all against the state before the group, then apply all.
    const ts = at(i).ts;
    let j = i;
    while (j < events.length && at(j).ts === ts) j++;
    for (let k = i; k < j; k++) {
      const e = at(k);
      const videoId = "videoId" in e ? e.videoId : undefined;
      visit(e, {
        userAgg: state.users.get(e.userId),
        videoAgg: videoId === undefined ? undefined : state.videos.get(videoId),
      }, state);
    }
    for (let k = i; k < j; k++) applyEvent(state, at(k), videoOf);
    step?.tick(j - i);
    i = j;
  }
  step?.done();
  return state;
}

/** The serving state at a cut-off: aggregates from every event with ts < until, applied in the replay's order. */
export function aggregatesAt(
  dataset: Dataset,
  until: number,
  options: Omit<ReplayOptions, "until"> = {},
): AggregateState {
  const videoOf = videoLookup(dataset, options.videoOf);
  const events = dataset.events;
  const order = timeOrder(events);
  const state: AggregateState = { users: new Map(), videos: new Map() };
  const step = options.progress?.step("aggregate events", events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[order ? order[i] : i];
    if (e.ts >= until) break;
    applyEvent(state, e, videoOf);
    step?.tick();
  }
  step?.done();
  return state;
}
