import { describe, expect, it } from "vitest";
import { EVENT_TYPES, type EventType } from "../../src/data/types";
import { validateEvent } from "../../src/data/validate-event";
import { sampleEvent } from "../events/sample-events";

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

/** What validateDataset passes: one instant, no relative horizon, watches need a duration. */
const offline = { now: () => NOW, horizonDays: Infinity, requireVideoDuration: true };

describe("validateEvent with the offline options", () => {
  it("accepts a minimal event of every type and returns a clean copy", () => {
    for (const type of EVENT_TYPES) {
      const r = validateEvent({ ...ev(type), junk: "dropped" }, offline);
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
    const r = validateEvent(raw, offline);
    expect(r).toMatchObject({ ok: false, code, field });
  });

  it("checks the common fields", () => {
    expect(validateEvent(null)).toMatchObject({ ok: false, code: "INVALID_EVENT" });
    expect(validateEvent([1])).toMatchObject({ ok: false, code: "INVALID_EVENT" });
    expect(validateEvent({ ...ev("like"), id: "" }, offline)).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "id" });
    expect(validateEvent({ ...ev("like"), userId: 3 }, offline)).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "userId" });
    expect(validateEvent({ ...ev("like"), type: "poke" }, offline)).toMatchObject({ ok: false, code: "UNKNOWN_TYPE", field: "type" });
    expect(validateEvent({ ...ev("like"), ts: undefined }, offline)).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "ts" });
    expect(validateEvent({ ...ev("like"), ts: "yesterday" }, offline)).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "ts" });
    expect(validateEvent({ ...ev("like"), device: "fridge" }, offline)).toMatchObject({ ok: false, field: "device" });
    expect(
      validateEvent({ ...ev("impression"), served: { modelVersion: "m1", scores: { click: "high" }, score: 1, sources: [] } }, offline),
    ).toMatchObject({ ok: false, field: "served.scores.click" });
    const served = { modelVersion: "m1", scores: { click: 0.2 }, score: 0.2, sources: ["TwoTower"], experiment: "x" };
    const ok = validateEvent({ ...ev("impression"), served }, offline);
    expect(ok.ok && ok.event.type === "impression" && ok.event.served).toEqual(served);
  });

  it("enforces the time window", () => {
    const future = validateEvent({ ...ev("like"), ts: NOW + 10 * 60_000 }, offline);
    expect(future).toMatchObject({ ok: false, code: "FUTURE_TIMESTAMP", field: "ts" });
    expect(validateEvent({ ...ev("like"), ts: NOW + 60_000 }, offline).ok).toBe(true); // within skew
    expect(validateEvent({ ...ev("like"), ts: NOW + 60_000 }, { ...offline, maxFutureSkewMs: 0 }).ok).toBe(false);
    const secs = validateEvent({ ...ev("like"), ts: 1_500_000_000 }, offline);
    expect(secs).toMatchObject({ ok: false, code: "STALE_TIMESTAMP" });
    expect(!secs.ok && secs.message).toMatch(/seconds instead of milliseconds/);
    const old = { ...ev("like"), ts: NOW - 40 * 86_400_000 };
    expect(validateEvent(old, offline).ok).toBe(true); // no relative horizon offline
    expect(validateEvent(old, { ...offline, horizonDays: 30 })).toMatchObject({ ok: false, code: "STALE_TIMESTAMP" });
  });
});

const ONLINE_NOW = Date.UTC(2025, 0, 15);
const online = { now: () => ONLINE_NOW };

describe("validateEvent at the online edge (default options)", () => {
  it.each(EVENT_TYPES)("accepts a %s event with its fields, normalized", (type) => {
    const raw = sampleEvent(type, 1, ONLINE_NOW - 1000);
    const check = validateEvent({ ...raw, junk: "dropped" }, online);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.event.type).toBe(type);
    expect(check.event.country).toBe("US");
    expect("junk" in check.event).toBe(false);
    for (const [k, v] of Object.entries(raw)) if (k !== "country") expect((check.event as unknown as Record<string, unknown>)[k]).toEqual(v);
  });

  it.each([
    [{ type: "watch" }, "MISSING_FIELD", "id"],
    [{ videoId: undefined }, "MISSING_FIELD", "videoId"],
    [{ watchedSec: -1 }, "INVALID_FIELD", "watchedSec"],
    [{ watchedSec: "12" }, "INVALID_FIELD", "watchedSec"],
    [{ videoDurationSec: null }, "MISSING_FIELD", "videoDurationSec"],
    [{ type: "teleport" }, "UNKNOWN_TYPE", "type"],
    [{ ts: ONLINE_NOW + 3_600_000 }, "FUTURE_TIMESTAMP", "ts"],
    [{ ts: ONLINE_NOW - 40 * 365 * 86_400_000 }, "STALE_TIMESTAMP", "ts"],
    [{ ts: "yesterday" }, "INVALID_FIELD", "ts"],
    [{ device: "fridge" }, "INVALID_FIELD", "device"],
    [{ country: "USA" }, "INVALID_FIELD", "country"],
    [{ userId: "" }, "MISSING_FIELD", "userId"], // an empty required id is a missing one
    [{ userId: 7 }, "INVALID_FIELD", "userId"],
  ])("rejects %j with %s on %s", (patch, code, field) => {
    const raw = { ...sampleEvent("watch", 1, ONLINE_NOW - 1000), ...patch } as Record<string, unknown>;
    if ("type" in patch && patch.type === "watch") delete raw.id;
    const check = validateEvent(raw, online);
    expect(check).toMatchObject({ ok: false, code, field });
  });

  it("checks type-specific fields and ranges", () => {
    const bad = (type: Parameters<typeof sampleEvent>[0], patch: Record<string, unknown>) =>
      validateEvent({ ...sampleEvent(type, 1, ONLINE_NOW - 1), ...patch }, online);
    expect(bad("progress", { percent: 33 })).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "percent" });
    expect(bad("impression", { surface: "moon" })).toMatchObject({ ok: false, field: "surface" });
    expect(bad("impression", { position: undefined })).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "position" });
    expect(bad("impression", { served: { modelVersion: "m", scores: { click: "x" }, score: 1, sources: [] } })).toMatchObject({ ok: false, field: "served.scores.click" });
    expect(bad("dwell", { scrolledPast: "yes" })).toMatchObject({ ok: false, field: "scrolledPast" });
    expect(bad("comment", { text: "  " })).toMatchObject({ ok: false, field: "text" });
    expect(bad("follow", { followeeId: "u1" })).toMatchObject({ ok: false, field: "followeeId" });
    expect(bad("subscribe", { creatorId: 5 })).toMatchObject({ ok: false, field: "creatorId" });
    expect(bad("report", { reason: undefined })).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "reason" });
    expect(bad("search", { clickedVideoIds: [1] })).toMatchObject({ ok: false, field: "clickedVideoIds" });
    expect(bad("watch", { videoDurationSec: 0 })).toMatchObject({ ok: true, event: { videoDurationSec: 0 } }); // 0 = unknown online
    expect(bad("share", { target: " " })).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "target" });
    expect(bad("like", { sessionId: "" })).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "sessionId" });
    expect(validateEvent("watch", online)).toMatchObject({ ok: false, code: "INVALID_EVENT" });
    expect(validateEvent([1], online)).toMatchObject({ ok: false, code: "INVALID_EVENT" });
  });

  it("accepts ISO timestamps and small clock skew, treats nulls as absent", () => {
    const iso = validateEvent({ ...sampleEvent("like", 1), ts: "2025-01-14T12:00:00.000Z", sessionId: null }, online);
    expect(iso).toMatchObject({ ok: true, event: { ts: Date.UTC(2025, 0, 14, 12) } });
    if (iso.ok) expect("sessionId" in iso.event).toBe(false);
    expect(validateEvent(sampleEvent("like", 1, ONLINE_NOW + 60_000), online).ok).toBe(true);
    expect(validateEvent(sampleEvent("like", 1, ONLINE_NOW + 60_000), { ...online, maxFutureSkewMs: 1000 })).toMatchObject({ code: "FUTURE_TIMESTAMP" });
  });

  it("applies the 30-day horizon by default and the absolute floor whatever the horizon", () => {
    const like = (ts: number) => sampleEvent("like", 1, ts);
    expect(validateEvent(like(ONLINE_NOW - 29 * 365 * 86_400_000), online).ok).toBe(true);
    expect(validateEvent(like(ONLINE_NOW - 31 * 365 * 86_400_000), online)).toMatchObject({ ok: false, code: "STALE_TIMESTAMP" });
    expect(validateEvent(like(Date.UTC(1994, 11, 31)), { ...online, horizonDays: 100 * 365 })).toMatchObject({ ok: false, code: "STALE_TIMESTAMP" });
    expect(validateEvent(like(Date.UTC(1980, 0, 1)), { ...online, horizonDays: 100 * 365, minTs: 0 }).ok).toBe(true);
  });

  it("bounds ids and free text", () => {
    const long = "x".repeat(257);
    expect(validateEvent({ ...sampleEvent("like", 1, ONLINE_NOW - 1), userId: long }, online)).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "userId" });
    expect(validateEvent({ ...sampleEvent("like", 1, ONLINE_NOW - 1), userId: long }, { ...online, maxIdLength: 300 }).ok).toBe(true);
    const comment = { ...sampleEvent("comment", 1, ONLINE_NOW - 1), text: "y".repeat(101) };
    expect(validateEvent(comment, { ...online, maxTextLength: 100 })).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "text" });
  });
});
