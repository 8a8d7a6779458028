import { describe, expect, it } from "vitest";
import type { Dataset, Follow, ReelEvent } from "../../src/data/types";
import {
  checkVideo,
  formatValidationReport,
  maxInWindow,
  VALIDATION_RULES,
  validateDataset,
} from "../../src/data/validate";

const NOW = Date.UTC(2025, 5, 1);
const T = NOW - 86_400_000; // a day before "now"

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

  it("checks each event with the offline options of validateEvent", () => {
    const videos = [{ id: "v1", creatorId: "c", title: "", tags: [], category: "x", durationSec: 5, uploadedAt: T }];
    const year = 365 * 86_400_000;
    const events = [
      { id: "old", type: "like", userId: "u", videoId: "v1", ts: NOW - 20 * year }, // no relative horizon
      { id: "iso", type: "like", userId: "u", videoId: "v1", ts: "2025-05-01T10:00:00Z" },
      { id: "no-duration", type: "watch", userId: "u", videoId: "v1", ts: T, watchedSec: 3, videoDurationSec: 0 },
      { id: "secs", type: "like", userId: "u", videoId: "v1", ts: Math.floor(T / 1000) },
      { id: "", type: "like", userId: "u", videoId: "v1", ts: T },
      "not an event",
    ] as unknown as ReelEvent[];
    const ds: Dataset = { source: "t", users: [], creators: [], videos, follows: [], subscriptions: [], events };
    const r = validateDataset(ds, { now: NOW });
    expect(r.dataset.events.map((e) => [e.id, e.ts])).toEqual([["old", NOW - 20 * year], ["iso", Date.UTC(2025, 4, 1, 10)]]);
    expect(r.report.dropped).toMatchObject({ invalid_field: 2, stale_timestamp: 1, missing_id: 1 });
    expect(r.report.examples.invalid_field[0]).toMatch(/no-duration.*videoDurationSec/);
    expect(validateDataset(ds, { now: NOW, horizonDays: 10 * 365 }).report.dropped.stale_timestamp).toBe(2);
    expect(validateDataset(ds, { now: NOW, requireVideoDuration: false }).dataset.events.map((e) => e.id)).toContain("no-duration");
  });

  it("window counting", () => {
    expect(maxInWindow([], 10)).toBe(0);
    expect(maxInWindow([0, 5, 9, 10, 11], 10)).toBe(4); // 5..11
    expect(maxInWindow([0, 10, 20], 10)).toBe(1); // windows are half-open
    expect(maxInWindow([0, 0, 0], 1)).toBe(3);
  });
});
