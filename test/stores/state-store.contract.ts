import { afterEach, beforeEach, expect, it } from "vitest";
import type { ReelEvent, Video } from "../../src/data/types";
import { applyUserEvent, applyVideoEvent, emptyUserAggregates, emptyVideoAggregates, DAY_MS } from "../../src/features/aggregates";
import type { StateStore } from "../../src/stores/state-store";

/** Caps the contract asserts; each implementation's factory must honour them. */
export const CONTRACT_CAPS = { seenCap: 5, servedCap: 4, trendingCap: 20 };

const T = Date.UTC(2025, 0, 10);
const catalog = new Map<string, Video>(
  Array.from({ length: 40 }, (_, i) => [
    `v${i}`,
    { id: `v${i}`, creatorId: `c${i % 4}`, title: `V${i}`, tags: [], category: i % 2 ? "music" : "news", durationSec: 100, uploadedAt: T - DAY_MS },
  ]),
);
const videoOf = (id: string) => catalog.get(id);
let n = 0;
type NoId<T> = T extends unknown ? Omit<T, "id"> : never;
const e = (x: NoId<ReelEvent>): ReelEvent => ({ id: `ev${n++}`, ...x }) as ReelEvent;
const watch = (userId: string, videoId: string, ts: number, country?: string): ReelEvent =>
  e({ type: "watch", userId, videoId, ts, watchedSec: 90, videoDurationSec: 100, ...(country && { country }) });

/** The StateStore contract, run against every implementation (memory, Redis). */
export function stateStoreContract(make: () => Promise<StateStore>, cleanup: (s: StateStore) => Promise<void> = async () => {}): void {
  let store: StateStore;
  beforeEach(async () => {
    store = await make();
  });
  afterEach(async () => {
    await cleanup(store);
    await store.close();
  });

  it("computes aggregates with exactly applyUserEvent/applyVideoEvent", async () => {
    const events: ReelEvent[] = [
      e({ type: "impression", userId: "u1", videoId: "v1", ts: T, position: 0, surface: "home" }),
      e({ type: "click", userId: "u1", videoId: "v1", ts: T + 1 }),
      watch("u1", "v1", T + 2),
      e({ type: "like", userId: "u1", videoId: "v1", ts: T + 3 }),
      watch("u1", "v2", T + 4),
      e({ type: "search", userId: "u1", ts: T + 5, query: "x" }),
    ];
    await store.apply(events.slice(0, 3), videoOf);
    await store.apply(events.slice(3), videoOf);
    let user = emptyUserAggregates("u1");
    let v1 = emptyVideoAggregates("v1");
    for (const ev of events) {
      user = applyUserEvent(user, ev, "videoId" in ev ? videoOf(ev.videoId) : undefined);
      if ("videoId" in ev && ev.videoId === "v1") v1 = applyVideoEvent(v1, ev, videoOf("v1"));
    }
    expect(await store.getUser("u1")).toEqual(user);
    const vids = await store.getVideos(["v1", "v2", "nope"]);
    expect(vids.get("v1")).toEqual(v1);
    expect(vids.get("v2")?.views).toBe(1);
    expect(vids.has("nope")).toBe(false);
    expect(await store.getUser("nobody")).toBeUndefined();
  });

  it("makes not_interested, block_creator, report, subscribe/unsubscribe and follow visible immediately", async () => {
    await store.apply(
      [
        e({ type: "not_interested", userId: "u2", videoId: "v3", ts: T }),
        e({ type: "block_creator", userId: "u2", creatorId: "c1", ts: T }),
        e({ type: "report", userId: "u2", videoId: "v4", ts: T, reason: "spam" }),
        e({ type: "subscribe", userId: "u2", creatorId: "c2", ts: T }),
        e({ type: "subscribe", userId: "u2", creatorId: "c3", ts: T }),
        e({ type: "unsubscribe", userId: "u2", creatorId: "c3", ts: T + 1 }),
        e({ type: "follow", userId: "u2", followeeId: "u9", ts: T }),
      ],
      videoOf,
    );
    const rel = await store.getRelations("u2");
    expect(rel).toEqual({ notInterested: ["v3"], blockedCreators: ["c1"], reported: ["v4"], subscriptions: ["c2"], follows: ["u9"] });
    expect(await store.getRelations("stranger")).toEqual({ notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] });
  });

  it("tracks seen (watch/start/click) and served videos, within caps", async () => {
    await store.apply(
      [
        watch("u3", "v1", T),
        e({ type: "start", userId: "u3", videoId: "v2", ts: T + 1 }),
        e({ type: "click", userId: "u3", videoId: "v3", ts: T + 2 }),
        e({ type: "like", userId: "u3", videoId: "v4", ts: T + 3 }),
      ],
      videoOf,
    );
    const u3 = await store.getSeen("u3");
    expect(u3.recent).toEqual(new Set(["v1", "v2", "v3"]));
    expect(["v1", "v2", "v3", "v4"].map((v) => u3.has(v))).toEqual([true, true, true, false]); // a like is not a watch
    await store.markServed("u3", ["v10", "v11"], T + 10);
    const served = await store.getSeen("u3");
    expect(served.recent).toEqual(new Set(["v1", "v2", "v3", "v10", "v11"]));
    expect(served.served).toEqual(new Set(["v10", "v11"]));
    expect(served.size).toBe(5);
    expect(served.has("v10")).toBe(true);
    // Caps: only the newest seenCap watched and servedCap served are known exactly ...
    await store.apply(Array.from({ length: 10 }, (_, i) => watch("u4", `v${i}`, T + i)), videoOf);
    await store.markServed("u4", ["v20", "v21", "v22"], T + 20);
    await store.markServed("u4", ["v23", "v24", "v25"], T + 21);
    const seen = await store.getSeen("u4");
    for (let i = 5; i < 10; i++) expect(seen.recent.has(`v${i}`)).toBe(true);
    for (let i = 0; i < 5; i++) expect(seen.recent.has(`v${i}`)).toBe(false);
    expect([...seen.recent].filter((v) => Number(v.slice(1)) >= 20).length).toBe(CONTRACT_CAPS.servedCap);
    expect(seen.served.size).toBe(CONTRACT_CAPS.servedCap);
    expect(seen.has("v25")).toBe(true);
    expect(seen.has("v20")).toBe(false); // served, dropped by the cap, never watched
    // ... but every watch is still seen (the Bloom filter).
    for (let i = 0; i < 10; i++) expect(seen.has(`v${i}`)).toBe(true);
    const stranger = await store.getSeen("stranger");
    expect([stranger.recent.size, stranger.served.size, stranger.has("v1")]).toEqual([0, 0, false]);
  });

  it("reports a watch from long ago (past the seen TTL and over 1,000 watches back) as seen, with few false positives", async () => {
    // Issue 9: the exact set forgot watches after 1,000 items or 30 days, and the feed served them again.
    await store.apply([watch("old", "first", T - 400 * DAY_MS), e({ type: "click", userId: "old", videoId: "clicked", ts: T - 200 * DAY_MS })], videoOf);
    for (let batch = 0; batch < 3; batch++) {
      await store.apply(Array.from({ length: 400 }, (_, i) => watch("old", `later${batch * 400 + i}`, T + batch * DAY_MS + i)), videoOf);
    }
    const seen = await store.getSeen("old");
    expect(seen.recent.has("first")).toBe(false);
    expect(seen.has("first")).toBe(true);
    expect(seen.has("clicked")).toBe(true);
    for (let i = 0; i < 1200; i++) expect(seen.has(`later${i}`)).toBe(true);
    let falsePositives = 0;
    for (let i = 0; i < 20_000; i++) if (seen.has(`never${i}`)) falsePositives++;
    expect(falsePositives / 20_000).toBeLessThan(0.01);
  });

  it("raises a video in trending on a burst of views, globally and per country, decayed over time", async () => {
    await store.apply([watch("a", "v1", T - 3 * DAY_MS), watch("b", "v1", T - 3 * DAY_MS), watch("c", "v1", T - 3 * DAY_MS), watch("d", "v2", T - DAY_MS)], videoOf);
    const before = await store.trending(undefined, 10, T);
    expect(before.map((h) => h.videoId)).toEqual(["v2", "v1"]); // 3 views 3 days ago < 1 view 1 day ago
    expect(before[0].score).toBeCloseTo(0.5, 6);
    expect(before[1].score).toBeCloseTo(3 / 8, 6);
    await store.apply(Array.from({ length: 6 }, (_, i) => watch(`x${i}`, "v7", T, "FR")), videoOf);
    const after = await store.trending(undefined, 2, T);
    expect(after[0]).toMatchObject({ videoId: "v7" });
    expect(after[0].score).toBeCloseTo(6, 6);
    expect(after.length).toBe(2);
    expect((await store.trending("FR", 10, T)).map((h) => h.videoId)).toEqual(["v7"]);
    expect(await store.trending("DE", 10, T)).toEqual([]);
    // A day later the same board has halved.
    expect((await store.trending(undefined, 1, T + DAY_MS))[0].score).toBeCloseTo(3, 6);
  });

  it("bounds each trending board", async () => {
    await store.apply(Array.from({ length: 60 }, (_, i) => watch(`w${i}`, `v${i % 40}`, T + i)), videoOf);
    const board = await store.trending(undefined, 1000, T + 100);
    expect(board.length).toBeLessThanOrEqual(Math.ceil(CONTRACT_CAPS.trendingCap * 1.25));
    expect(board.length).toBeGreaterThan(0);
  });
}
