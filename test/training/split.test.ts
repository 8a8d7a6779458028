import { describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { ReelfeedError } from "../../src/errors";
import { isPositive, positivesByUser, seenByUser, timeSplit } from "../../src/training/split";

describe("timeSplit", () => {
  // 1000 events at distinct times, shuffled deterministically.
  const events = Array.from({ length: 1000 }, (_, i) => ({ id: i, ts: 1_000_000 + i * 1000 }));
  const shuffled = events.map((e, i) => events[(i * 617) % 1000]);

  it("orders parts in time and honours the fractions", () => {
    const s = timeSplit(shuffled, { validation: 0.1, test: 0.2 });
    expect([s.train.length, s.validation.length, s.test.length]).toEqual([700, 100, 200]);
    expect(Math.max(...s.train.map((e) => e.ts))).toBeLessThan(s.trainUntil);
    expect(Math.min(...s.validation.map((e) => e.ts))).toBeGreaterThanOrEqual(s.trainUntil);
    expect(Math.max(...s.validation.map((e) => e.ts))).toBeLessThan(s.validationUntil);
    expect(Math.min(...s.test.map((e) => e.ts))).toBeGreaterThanOrEqual(s.validationUntil);
    // Each part comes back sorted, and nothing is lost or duplicated.
    for (const part of [s.train, s.validation, s.test]) {
      for (let i = 1; i < part.length; i++) expect(part[i - 1].ts).toBeLessThanOrEqual(part[i].ts);
    }
    expect(new Set([...s.train, ...s.validation, ...s.test].map((e) => e.id)).size).toBe(1000);
  });

  it("uses 10 % / 10 % by default", () => {
    const s = timeSplit(events);
    expect([s.train.length, s.validation.length, s.test.length]).toEqual([800, 100, 100]);
    expect(s.trainUntil).toBe(events[800].ts);
    expect(s.validationUntil).toBe(events[900].ts);
  });

  it("never lets events with the same time straddle a cut", () => {
    const tied = [
      ...Array.from({ length: 5 }, (_, i) => ({ id: i, ts: 1 })),
      ...Array.from({ length: 5 }, (_, i) => ({ id: 5 + i, ts: 2 })),
    ];
    const s = timeSplit(tied, { validation: 0.3, test: 0.2 });
    // The 50 % cut lands on the first ts = 2 event: all of ts = 2 goes later, all of ts = 1 stays in train.
    expect(s.train.map((e) => e.ts)).toEqual([1, 1, 1, 1, 1]);
    expect(s.validation.length + s.test.length).toBe(5);
    expect(new Set(s.test.map((e) => e.ts)).size).toBeLessThanOrEqual(1);
  });

  it("allows an empty validation part", () => {
    const s = timeSplit(events, { validation: 0, test: 0.25 });
    expect(s.validation).toEqual([]);
    expect(s.trainUntil).toBe(s.validationUntil);
    expect(s.test.length).toBe(250);
  });

  it("rejects bad fractions and empty input with coded errors", () => {
    expect(() => timeSplit(events, { validation: 0.6, test: 0.4 })).toThrow(/validation \+ test must be < 1/);
    expect(() => timeSplit(events, { test: -0.1 })).toThrow(ReelfeedError);
    expect(() => timeSplit([], {})).toThrow(/events: is empty/);
    expect(() => timeSplit([{ ts: Number.NaN }])).toThrow(/non-finite ts/);
  });
});

describe("positive interactions", () => {
  const base = { userId: "u1" };
  const events: ReelEvent[] = [
    { ...base, id: "e1", type: "watch", videoId: "long", ts: 50, watchedSec: 40, videoDurationSec: 3600 }, // ≥ 30 s
    { ...base, id: "e2", type: "watch", videoId: "short", ts: 10, watchedSec: 8, videoDurationSec: 15 }, // 53 %
    { ...base, id: "e3", type: "watch", videoId: "bounce", ts: 20, watchedSec: 3, videoDurationSec: 60 },
    { ...base, id: "e4", type: "click", videoId: "clicked", ts: 30 },
    { ...base, id: "e5", type: "like", videoId: "liked", ts: 40 },
    { ...base, id: "e6", type: "like", videoId: "short", ts: 60 }, // again: deduplicated, keeps first time
    { ...base, id: "e7", type: "impression", videoId: "shown", ts: 5, position: 0, surface: "home" },
    { userId: "u2", id: "e8", type: "share", videoId: "shared", ts: 70 },
    { userId: "u2", id: "e9", type: "save", videoId: "saved", ts: 65 },
    { userId: "u2", id: "e10", type: "progress", videoId: "half", ts: 80, percent: 50 },
    { userId: "u2", id: "e11", type: "progress", videoId: "quarter", ts: 90, percent: 25 },
    { userId: "u2", id: "e12", type: "comment", videoId: "commented", ts: 95, text: "meh" },
  ];

  it("applies the documented rule per event type", () => {
    expect(events.filter((e) => isPositive(e)).map((e) => e.id)).toEqual(["e1", "e2", "e5", "e6", "e8", "e9", "e10"]);
    // A stricter rule drops the 53 % watch and the 40 s watch.
    expect(isPositive(events[1], { minCompletion: 0.9 })).toBe(false);
    expect(isPositive(events[0], { minWatchSec: 60 })).toBe(false);
  });

  it("groups by user in time order, deduplicated, whatever the input order", () => {
    const byUser = positivesByUser(events);
    expect(byUser.get("u1")).toEqual(["short", "liked", "long"]);
    expect(byUser.get("u2")).toEqual(["saved", "shared", "half"]);
  });

  it("treats every non-impression video event as seen", () => {
    const seen = seenByUser(events);
    expect([...seen.get("u1")!].sort()).toEqual(["bounce", "clicked", "liked", "long", "short"]);
    expect(seen.get("u2")!.has("commented")).toBe(true);
  });
});
