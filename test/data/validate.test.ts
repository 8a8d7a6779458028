import { describe, expect, it } from "vitest";
import { EVENT_TYPES, type Dataset, type EventType, type Follow, type ReelEvent } from "../../src/data/types";
import {
  checkEvent,
  checkVideo,
  formatValidationReport,
  maxInWindow,
  VALIDATION_RULES,
  validateDataset,
} from "../../src/data/validate";

const NOW = Date.UTC(2025, 5, 1);
const T = NOW - 86_400_000; // a day before "now"

/** A minimal valid event of each type. */
const VALID: Record<EventType, Record<string, unknown>> = {
  impression: { videoId: "v1", position: 0, surface: "home" },
  click: { videoId: "v1" },
  start: { videoId: "v1" },
  watch: { videoId: "v1", watchedSec: 0, videoDurationSec: 10 },
  progress: { videoId: "v1", percent: 50 },
  pause: { videoId: "v1", positionSec: 3 },
  resume: { videoId: "v1", positionSec: 3 },
  seek: { videoId: "v1", fromSec: 3, toSec: 30 },
  search: { query: "pasta" },
  dwell: { videoId: "v1", dwellMs: 800, scrolledPast: true },
  like: { videoId: "v1" },
  dislike: { videoId: "v1" },
  comment: { videoId: "v1", text: "nice" },
  share: { videoId: "v1" },
  subscribe: { creatorId: "c1" },
  unsubscribe: { creatorId: "c1" },
  follow: { followeeId: "u2" },
  save: { videoId: "v1" },
  not_interested: { videoId: "v1" },
  report: { videoId: "v1", reason: "spam" },
  block_creator: { creatorId: "c1" },
};

/** Field → a bad value, per type: each must be rejected naming that field. */
const INVALID: Array<[EventType, string, unknown, string]> = [
  ["impression", "position", -1, "INVALID_FIELD"],
  ["impression", "position", 1.5, "INVALID_FIELD"],
  ["impression", "surface", "sidebar", "INVALID_FIELD"],
  ["impression", "surface", undefined, "MISSING_FIELD"],
  ["click", "surface", "nowhere", "INVALID_FIELD"],
  ["start", "videoId", undefined, "MISSING_FIELD"],
  ["watch", "watchedSec", -1, "INVALID_FIELD"],
  ["watch", "watchedSec", "10", "INVALID_FIELD"],
  ["watch", "videoDurationSec", 0, "INVALID_FIELD"],
  ["watch", "videoDurationSec", undefined, "MISSING_FIELD"],
  ["progress", "percent", 60, "INVALID_FIELD"],
  ["progress", "percent", undefined, "MISSING_FIELD"],
  ["pause", "positionSec", -3, "INVALID_FIELD"],
  ["resume", "positionSec", undefined, "MISSING_FIELD"],
  ["seek", "toSec", undefined, "MISSING_FIELD"],
  ["seek", "fromSec", Number.NaN, "INVALID_FIELD"],
  ["search", "query", "  ", "MISSING_FIELD"],
  ["search", "clickedVideoIds", [1, 2], "INVALID_FIELD"],
  ["dwell", "scrolledPast", "yes", "INVALID_FIELD"],
  ["dwell", "dwellMs", undefined, "MISSING_FIELD"],
  ["like", "videoId", 7, "INVALID_FIELD"],
  ["dislike", "videoId", undefined, "MISSING_FIELD"],
  ["comment", "text", undefined, "MISSING_FIELD"],
  ["share", "target", 3, "INVALID_FIELD"],
  ["subscribe", "creatorId", undefined, "MISSING_FIELD"],
  ["unsubscribe", "creatorId", undefined, "MISSING_FIELD"],
  ["follow", "followeeId", undefined, "MISSING_FIELD"],
  ["save", "playlistId", false, "INVALID_FIELD"],
  ["not_interested", "videoId", undefined, "MISSING_FIELD"],
  ["report", "reason", undefined, "MISSING_FIELD"],
  ["block_creator", "creatorId", 5, "INVALID_FIELD"],
];

const ev = (type: EventType, extra: Record<string, unknown> = {}, id = `e-${type}`) => ({
  id,
  type,
  userId: "u1",
  ts: T,
  ...VALID[type],
  ...extra,
});

describe("checkEvent", () => {
  it("accepts a minimal event of every type and returns a clean copy", () => {
    for (const type of EVENT_TYPES) {
      const r = checkEvent({ ...ev(type), junk: "dropped" }, { now: NOW });
      expect(r, type).toMatchObject({ ok: true });
      if (r.ok) {
        expect(r.event.type).toBe(type);
        expect("junk" in r.event).toBe(false);
      }
    }
  });

  it.each(INVALID)("rejects %s with a bad %s (%o)", (type, field, value, code) => {
    const raw: Record<string, unknown> = ev(type);
    if (value === undefined) delete raw[field];
    else raw[field] = value;
    const r = checkEvent(raw, { now: NOW });
    expect(r).toMatchObject({ ok: false, code, field });
  });

  it("checks the common fields", () => {
    expect(checkEvent(null)).toMatchObject({ ok: false, code: "NOT_AN_OBJECT" });
    expect(checkEvent([1])).toMatchObject({ ok: false, code: "NOT_AN_OBJECT" });
    expect(checkEvent({ ...ev("like"), id: "" }, { now: NOW })).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "id" });
    expect(checkEvent({ ...ev("like"), userId: 3 }, { now: NOW })).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "userId" });
    expect(checkEvent({ ...ev("like"), type: "poke" }, { now: NOW })).toMatchObject({ ok: false, code: "UNKNOWN_TYPE", field: "type" });
    expect(checkEvent({ ...ev("like"), ts: undefined }, { now: NOW })).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "ts" });
    expect(checkEvent({ ...ev("like"), ts: "yesterday" }, { now: NOW })).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "ts" });
    expect(checkEvent({ ...ev("like"), device: "fridge" }, { now: NOW })).toMatchObject({ ok: false, field: "device" });
    expect(
      checkEvent({ ...ev("impression"), served: { modelVersion: "m1", scores: { click: "high" }, score: 1, sources: [] } }, { now: NOW }),
    ).toMatchObject({ ok: false, field: "served.scores" });
    const served = { modelVersion: "m1", scores: { click: 0.2 }, score: 0.2, sources: ["TwoTower"], experiment: "x" };
    const ok = checkEvent({ ...ev("impression"), served }, { now: NOW });
    expect(ok.ok && ok.event.type === "impression" && ok.event.served).toEqual(served);
  });

  it("enforces the time window", () => {
    const future = checkEvent({ ...ev("like"), ts: NOW + 10 * 60_000 }, { now: NOW });
    expect(future).toMatchObject({ ok: false, code: "FUTURE_TIMESTAMP", field: "ts" });
    expect(checkEvent({ ...ev("like"), ts: NOW + 60_000 }, { now: NOW }).ok).toBe(true); // within skew
    expect(checkEvent({ ...ev("like"), ts: NOW + 60_000 }, { now: NOW, maxFutureSkewMs: 0 }).ok).toBe(false);
    const secs = checkEvent({ ...ev("like"), ts: 1_500_000_000 }, { now: NOW });
    expect(secs).toMatchObject({ ok: false, code: "STALE_TIMESTAMP" });
    expect(!secs.ok && secs.message).toMatch(/seconds instead of milliseconds/);
    const old = { ...ev("like"), ts: NOW - 40 * 86_400_000 };
    expect(checkEvent(old, { now: NOW }).ok).toBe(true); // no relative horizon by default
    expect(checkEvent(old, { now: NOW, horizonMs: 30 * 86_400_000 })).toMatchObject({ ok: false, code: "STALE_TIMESTAMP" });
  });
});

describe("checkVideo", () => {
  it("defaults tags and category, rejects bad durations and flags", () => {
    const base = { id: "v", creatorId: "c", title: "t", durationSec: 10, uploadedAt: T };
    expect(checkVideo(base)).toEqual({ ok: true, value: { ...base, tags: [], category: "unknown" } });
    expect(checkVideo({ ...base, durationSec: 0 })).toMatchObject({ ok: false, rule: "invalid_field" });
    expect(checkVideo({ ...base, policyFlags: ["boring"] })).toMatchObject({ ok: false, rule: "invalid_field" });
    expect(checkVideo({ ...base, uploadedAt: undefined })).toMatchObject({ ok: false, rule: "missing_timestamp" });
    expect(checkVideo({ ...base, creatorId: "" })).toMatchObject({ ok: false, rule: "missing_id" });
  });
});

/** A dataset in which every rule fires at least once. */
function crafted(): Dataset {
  const video = (id: string, creatorId = "c1") => ({ id, creatorId, title: id, tags: [], category: "x", durationSec: 60, uploadedAt: T - 1e9 });
  const like = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: "like", userId: "u1", videoId: "v1", ts: T, ...extra });
  const burst: Record<string, unknown>[] = [];
  for (let i = 0; i < 130; i++) burst.push({ id: `bot-${i}`, type: "click", userId: "bot", videoId: `v${1 + (i % 2)}`, ts: T + i * 100 });
  return {
    source: "crafted",
    users: [{ id: "u1" }, { id: "u2" }, { id: "bot" }, { id: "u1" }, { id: "" }, { id: "u2", age: 30 }, { id: "u3", age: -2 }],
    creators: [{ id: "c1" }],
    videos: [video("v1"), video("v2"), video("v3", "ghost-creator")],
    follows: [
      { followerId: "u1", followeeId: "u2", ts: T },
      { followerId: "u1", followeeId: "u2", ts: T },
      { followerId: "u1", followeeId: "nobody", ts: T },
      { followerId: "u2", followeeId: "u1" } as Follow, // no ts: what a hand-made file can hold
    ],
    subscriptions: [
      { userId: "u1", creatorId: "c1", ts: T },
      { userId: "u1", creatorId: "c1", ts: T + 5 },
      { userId: "u2", creatorId: "c9", ts: T },
    ],
    events: [
      like("ok-1"),
      like("ok-1"), // duplicate
      like("ok-1", { ts: T + 1 }), // conflicting id
      like("", {}), // missing id
      like("no-ts", { ts: undefined }), // missing timestamp
      like("future", { ts: NOW + 3_600_000 }), // future
      like("stale", { ts: Date.UTC(1990, 0, 1) }), // stale
      like("bad-type", { type: "poke" }), // invalid
      { id: "bad-watch", type: "watch", userId: "u1", videoId: "v1", ts: T, watchedSec: -5, videoDurationSec: 60 },
      like("who", { userId: "stranger" }), // unknown user
      like("what", { videoId: "v404" }), // unknown video
      { id: "sub-ghost", type: "subscribe", userId: "u1", creatorId: "c404", ts: T }, // unknown creator
      { id: "later", type: "watch", userId: "u2", videoId: "v2", ts: T - 10, watchedSec: 30, videoDurationSec: 60 },
      ...burst,
    ] as unknown as ReelEvent[],
  };
}

describe("validateDataset", () => {
  it("fires every rule on a crafted dataset", () => {
    const { dataset, report } = validateDataset(crafted(), { now: NOW });
    for (const rule of VALIDATION_RULES) {
      if (rule === "malformed_row") continue; // a file-reading rule: see load-dataset tests
      expect(report.dropped[rule], rule).toBeGreaterThan(0);
      expect(report.examples[rule].length, rule).toBeGreaterThan(0);
      expect(report.examples[rule].length, rule).toBeLessThanOrEqual(3);
    }
    expect(report.dropped.bot_user).toBe(130);
    expect(report.botUsers).toEqual(["bot"]);
    expect(report.examples.bot_user[0]).toMatch(/^user bot: \d+ actions within 60 s/);
    expect(report.dropped.duplicate).toBe(1 + 1 + 1); // event ok-1, user u1, follow u1→u2
    expect(report.dropped.conflicting_id).toBe(1 + 1 + 1); // event ok-1, user u2, subscription u1→c1
    expect(report.examples.duplicate).toContain("event ok-1: exact duplicate");
    expect(report.dropped.unknown_user).toBe(2); // event "who", follow → nobody
    expect(report.dropped.unknown_creator).toBe(3); // video v3, subscribe event, subscription → c9
    expect(report.dropped.invalid_field).toBe(3); // poke, watchedSec, age -2
    expect(report.dropped.missing_id).toBe(2); // event "", user ""
    expect(report.dropped.missing_timestamp).toBe(2); // event no-ts, follow without ts

    expect(dataset.events.map((e) => e.id)).toEqual(["later", "ok-1"]);
    expect(dataset.users.map((u) => u.id)).toEqual(["u1", "u2", "bot"]);
    expect(dataset.videos.map((v) => v.id)).toEqual(["v1", "v2"]);
    expect(dataset.follows).toHaveLength(1);
    expect(dataset.subscriptions).toHaveLength(1);
    expect(report.input).toEqual({ users: 7, creators: 1, videos: 3, follows: 4, subscriptions: 3, events: 143 });
    expect(report.kept).toEqual({ users: 3, creators: 1, videos: 2, follows: 1, subscriptions: 1, events: 2 });

    const text = formatValidationReport(report);
    for (const rule of VALIDATION_RULES.filter((r) => r !== "malformed_row")) expect(text).toContain(rule);
    expect(text).toContain("bot-like users (1): bot");
  });

  it("auto-creates users and creators when the dataset has none, but still drops unknown videos", () => {
    const ds: Dataset = {
      source: "t",
      users: [],
      creators: [],
      videos: [{ id: "v1", creatorId: "c1", title: "x", tags: [], category: "x", durationSec: 5, uploadedAt: T }],
      follows: [{ followerId: "a", followeeId: "b", ts: T }],
      subscriptions: [{ userId: "a", creatorId: "c2", ts: T }],
      events: [
        { id: "1", type: "like", userId: "a", videoId: "v1", ts: T },
        { id: "2", type: "like", userId: "z", videoId: "v9", ts: T },
      ],
    };
    const { dataset, report } = validateDataset(ds, { now: NOW });
    expect(dataset.users.map((u) => u.id).sort()).toEqual(["a", "b"]);
    expect(dataset.creators.map((c) => c.id).sort()).toEqual(["c1", "c2"]);
    expect(report.created).toMatchObject({ users: 2, creators: 2 });
    expect(report.dropped.unknown_video).toBe(1);
    expect(report.dropped.unknown_user).toBe(0);
    // Explicitly off: the same references are dropped instead.
    const strict = validateDataset(ds, { now: NOW, autoCreateUsers: false, autoCreateCreators: false });
    // v1's creator is unknown, so v1 goes, and with it both likes (unknown_video is checked first); the
    // follow and the subscription name the unknown user "a".
    expect(strict.report.dropped.unknown_creator).toBe(1);
    expect(strict.report.dropped.unknown_video).toBe(2);
    expect(strict.report.dropped.unknown_user).toBe(2);
  });

  it("bot rule: per-minute and per-day thresholds, one gesture per instant and target", () => {
    const videos = [{ id: "v1", creatorId: "c", title: "", tags: [], category: "x", durationSec: 5, uploadedAt: T }];
    const events: ReelEvent[] = [];
    // 100 ratings in 50 s, each a watch + like at the same instant: 100 gestures, not 200.
    for (let i = 0; i < 100; i++) {
      events.push({ id: `w${i}`, type: "watch", userId: "fast", videoId: "v1", ts: T + i * 500, watchedSec: 5, videoDurationSec: 5 });
      events.push({ id: `l${i}`, type: "like", userId: "fast", videoId: "v1", ts: T + i * 500 });
    }
    // Impressions and player telemetry do not count at all.
    for (let i = 0; i < 500; i++) events.push({ id: `i${i}`, type: "impression", userId: "browser", videoId: "v1", ts: T + i, position: i, surface: "home" });
    // A steady clicker: 1 click every 10 s for a day = 8640 > 5000 per day, never more than 6 per minute.
    for (let i = 0; i < 8640; i++) events.push({ id: `c${i}`, type: "click", userId: "steady", videoId: "v1", ts: T - 86_400_000 + i * 10_000 });
    const ds: Dataset = { source: "t", users: [], creators: [], videos, follows: [], subscriptions: [], events };
    const r = validateDataset(ds, { now: NOW });
    expect(r.report.botUsers).toEqual(["steady"]);
    expect(r.report.examples.bot_user[0]).toMatch(/8640 actions within 24 h/);
    const tighter = validateDataset(ds, { now: NOW, botMaxPerMinute: 99, botMaxPerDay: 10_000 });
    expect(tighter.report.botUsers).toEqual(["fast"]);
  });

  it("sorts events by time, stably", () => {
    const videos = [{ id: "v1", creatorId: "c", title: "", tags: [], category: "x", durationSec: 5, uploadedAt: T }];
    const events = [
      { id: "b", type: "like", userId: "u", videoId: "v1", ts: T + 5 },
      { id: "a", type: "watch", userId: "u", videoId: "v1", ts: T, watchedSec: 1, videoDurationSec: 5 },
      { id: "c", type: "dislike", userId: "u", videoId: "v1", ts: T },
    ] as ReelEvent[];
    const r = validateDataset({ source: "t", users: [], creators: [], videos, follows: [], subscriptions: [], events }, { now: NOW });
    expect(r.dataset.events.map((e) => e.id)).toEqual(["a", "c", "b"]);
  });

  it("window counting", () => {
    expect(maxInWindow([], 10)).toBe(0);
    expect(maxInWindow([0, 5, 9, 10, 11], 10)).toBe(4); // 5..11
    expect(maxInWindow([0, 10, 20], 10)).toBe(1); // windows are half-open
    expect(maxInWindow([0, 0, 0], 1)).toBe(3);
  });
});
