import { EVENT_TYPES, type EventType } from "../../src/data/types";

/** One valid raw event of `type`, with every field that type takes; `n` varies the ids. */
export function sampleEvent(type: EventType, n = 0, ts = Date.now() - 1000): Record<string, unknown> {
  const base = { id: `${type}-${n}-${Math.random().toString(36).slice(2, 8)}`, type, userId: `u${n % 7}`, ts, sessionId: "s1", device: "mobile", country: "us" };
  const v = { ...base, videoId: `v${n % 11}` };
  switch (type) {
    case "impression":
      return { ...v, position: 3, surface: "home", served: { modelVersion: "m1", scores: { click: 0.2 }, score: 0.3, sources: ["TwoTower"] } };
    case "click":
      return { ...v, surface: "home", position: 3, trackingId: "t1" };
    case "start":
    case "like":
    case "dislike":
    case "not_interested":
      return v;
    case "watch":
      return { ...v, watchedSec: 95, videoDurationSec: 100 };
    case "progress":
      return { ...v, percent: 75 };
    case "pause":
    case "resume":
      return { ...v, positionSec: 12.5 };
    case "seek":
      return { ...v, fromSec: 10, toSec: 40 };
    case "search":
      return { ...base, query: "cats", clickedVideoIds: ["v1"] };
    case "dwell":
      return { ...v, dwellMs: 800, scrolledPast: true };
    case "comment":
      return { ...v, text: "nice" };
    case "share":
      return { ...v, target: "dm" };
    case "subscribe":
      return { ...base, creatorId: "c1", sourceVideoId: "v1" };
    case "unsubscribe":
    case "block_creator":
      return { ...base, creatorId: "c1" };
    case "follow":
      return { ...base, followeeId: "friend" };
    case "save":
      return { ...v, playlistId: "later" };
    case "report":
      return { ...v, reason: "spam" };
  }
}

export const allSampleEvents = (n = 0): Record<string, unknown>[] => EVENT_TYPES.map((t, i) => sampleEvent(t, n * 100 + i));
