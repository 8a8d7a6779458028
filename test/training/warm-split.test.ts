import { describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { perUserTemporalSplit } from "../../src/training/warm-split";

let n = 0;
const watch = (userId: string, videoId: string, ts: number): ReelEvent =>
  ({ id: `e${n++}`, type: "watch", userId, videoId, ts, watchedSec: 600, videoDurationSec: 600 }) as ReelEvent;
const like = (userId: string, videoId: string, ts: number): ReelEvent => ({ id: `e${n++}`, type: "like", userId, videoId, ts }) as ReelEvent;

describe("per-user temporal split (warm protocol)", () => {
  // u1: 10 interactions (8 train, 2 held out); u2: 4 (too few to evaluate); u3: a re-watch in the held-out part.
  const events: ReelEvent[] = [];
  for (let i = 0; i < 10; i++) events.push(watch("u1", `v${i}`, 1000 + i * 10), like("u1", `v${i}`, 1000 + i * 10));
  for (let i = 0; i < 4; i++) events.push(watch("u2", `w${i}`, 1005 + i * 10));
  for (let i = 0; i < 7; i++) events.push(watch("u3", `x${i}`, 2000 + i));
  events.push(watch("u3", "x0", 3000)); // a re-watch: not a new interaction
  events.sort((a, b) => a.ts - b.ts);

  it("holds out each user's last 20 % of interactions (train = ceil(0.8·n)), ties in input order", () => {
    const split = perUserTemporalSplit(events);
    const u1Held = split.heldOut.filter((e) => e.userId === "u1");
    expect(new Set(u1Held.map((e) => (e as { videoId: string }).videoId))).toEqual(new Set(["v8", "v9"]));
    // v7's like (same time as its watch, after it in input order) stays in train with its watch.
    expect(split.train.some((e) => e.type === "like" && (e as { videoId: string }).videoId === "v7")).toBe(true);
    expect(split.test.get("u1")).toEqual(new Set(["v8", "v9"]));
    // Order is kept: train and held-out are each in time order.
    for (const part of [split.train, split.heldOut]) for (let i = 1; i < part.length; i++) expect(part[i].ts).toBeGreaterThanOrEqual(part[i - 1].ts);
    expect(split.train.length + split.heldOut.length).toBe(events.length);
  });

  it("evaluates only users with ≥ 5 train interactions and ≥ 1 held-out video they had not touched in train", () => {
    const split = perUserTemporalSplit(events);
    expect(split.test.has("u2")).toBe(false); // ceil(0.8 · 4) = 4 < 5
    // u3: 7 interactions → 6 train, 1 held out (x6); the re-watch of x0 is held out too but x0 is a train video.
    expect(split.test.get("u3")).toEqual(new Set(["x6"]));
    expect(split.trainSeen.get("u3")!.has("x0")).toBe(true);
    expect(split.evaluatedUsers).toBe(2);
  });

  it("rejects a bad hold-out share and events out of time order", () => {
    expect(() => perUserTemporalSplit(events, { holdout: 1 })).toThrow(/holdout/);
    expect(() => perUserTemporalSplit([...events].reverse())).toThrow(/time order/);
  });
});
