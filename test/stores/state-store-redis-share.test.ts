import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { partitionOf } from "../../src/events/shared-store";
import type { LogRecord } from "../../src/stores/event-log";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { REDIS_URL, deleteKeys, skipRedis, uniquePrefix } from "../events/redis-test-helpers";

const like = (n: number, userId: string, videoId: string): LogRecord => ({
  cursor: `1700000000000-${n}`,
  event: { id: `e${n}`, type: "like", userId, videoId, ts: 1_700_000_000_000 + n } as ReelEvent,
});

describe("partitionOf", () => {
  it("is stable and spreads ids over every partition", () => {
    expect(partitionOf("u1", 16)).toBe(partitionOf("u1", 16));
    const hit = new Set(Array.from({ length: 500 }, (_, i) => partitionOf(`user-${i}`, 16)));
    expect(hit.size).toBe(16);
  });
});

describe.skipIf(await skipRedis())("redis state store: shared consumption (partitions, leases, checkpoints)", () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(() => redis.disconnect());
  const prefix = (what: string): string => {
    const p = uniquePrefix(what);
    onTestFinished(() => deleteKeys(redis, p));
    return p;
  };

  it("gives every live consumer a fair share, hands a leaver's partitions over, and takes a dead one's after its lease", async () => {
    const p = prefix("lease");
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 8, leaseMs: 300 });
    expect((await store.joinShare("a")).partitions.size).toBe(8);
    // b joins: nothing free yet; a gives back what is over ceil(8 / 2) on its next renewal, b takes it.
    expect((await store.joinShare("b")).partitions.size).toBe(0);
    expect((await store.joinShare("a")).partitions.size).toBe(4);
    const b = await store.joinShare("b");
    expect(b.partitions.size).toBe(4);
    // a leaves cleanly: b takes the rest at once.
    await store.leaveShare("a");
    expect((await store.joinShare("b")).partitions.size).toBe(8);
    // c joins, b stops renewing (dies): after the lease c holds everything.
    await store.joinShare("c");
    await new Promise((r) => setTimeout(r, 400));
    expect((await store.joinShare("c")).partitions.size).toBe(8);
  });

  it("refuses a consumer configured with another partition count (BAD_CONFIG)", async () => {
    const p = prefix("parts");
    await createRedisStateStore({ redis, keyPrefix: p, partitions: 8 }).joinShare("a");
    await expect(createRedisStateStore({ redis, keyPrefix: p, partitions: 16 }).joinShare("b")).rejects.toMatchObject({
      code: "BAD_CONFIG",
      message: expect.stringContaining("partitioned 8 ways"),
    });
    expect(() => createRedisStateStore({ redis, keyPrefix: p, partitions: 0 })).toThrow(/partitions must be/);
  });

  it("starts every partition at a single consumer's checkpoint on the first join (upgrade from one consumer)", async () => {
    const p = prefix("upgrade");
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 4 });
    await store.applyAt([like(1, "u1", "v1").event], () => undefined, "1700000000000-1");
    const share = await store.joinShare("a");
    expect([...share.partitions.values()]).toEqual(Array(4).fill("1700000000000-1"));
    expect(await store.checkpoint()).toBe("1700000000000-1");
  });

  it("applies a batch once: a second apply from the same checkpoints writes nothing and says so", async () => {
    const p = prefix("cas");
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 4 });
    const share = await store.joinShare("a");
    const recs = [like(1, "u1", "v1"), like(2, "u2", "v1"), like(3, "u1", "v2")];
    const first = await store.applyShare(recs, () => undefined, share);
    expect(first?.applied).toBe(3);
    expect(await store.checkpoint()).toBe("1700000000000-3");
    // The same batch again from the old share (a retry after a lost reply, a zombie): refused, counts unchanged.
    expect(await store.applyShare(recs, () => undefined, share)).toBeUndefined();
    expect((await store.getUser("u1"))?.likes).toBe(2);
    expect((await store.getVideos(["v1"])).get("v1")?.likes).toBe(2);
    // From the new share, records already applied are skipped.
    const again = await store.applyShare(recs, () => undefined, first!.share);
    expect(again?.applied).toBe(0);
    expect((await store.getUser("u1"))?.likes).toBe(2);
  });

  it("recomputes a batch whose trending weights used a landmark another consumer has since moved", async () => {
    const p = prefix("landmark");
    const halfLife = 1000;
    const a = createRedisStateStore({ redis, keyPrefix: p, trendingHalfLifeMs: halfLife });
    const b = createRedisStateStore({ redis, keyPrefix: p, trendingHalfLifeMs: halfLife });
    const watch = (id: string, videoId: string, ts: number): ReelEvent => ({ id, type: "watch", userId: "u", videoId, ts, watchedSec: 1, videoDurationSec: 2 });
    await a.apply([watch("1", "x", 0)], () => undefined); // a caches landmark 0
    await b.apply([watch("2", "y", 100_000)], () => undefined); // 100 half-lives on: b moves it to 100,000
    expect(await redis.get(`${p}trend:landmark`)).toBe("100000");
    // a's next batch (50 half-lives after its cached landmark 0: no rebase of its own) is first computed against
    // 0, refused by the script, then recomputed against 100,000. Computed against 0 it would read as 2^100 views.
    await a.apply([watch("3", "z", 50_000)], () => undefined);
    const hits = new Map((await a.trending(undefined, 10, 50_000)).map((h) => [h.videoId, h.score]));
    expect(hits.get("z")).toBeCloseTo(1, 9);
  });

  it("applies only the sides of events in its own partitions", async () => {
    const p = prefix("sides");
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 4, leaseMs: 10_000 });
    // Find a user and a video in different partitions, and hold only the user's.
    const u = "user-a";
    const v = Array.from({ length: 50 }, (_, i) => `video-${i}`).find((id) => partitionOf(id, 4) !== partitionOf(u, 4))!;
    const mine = { owner: "a", partitions: new Map([[partitionOf(u, 4), undefined]]) };
    const res = await store.applyShare([like(1, u, v)], () => undefined, mine);
    expect(res?.applied).toBe(1);
    expect((await store.getUser(u))?.likes).toBe(1);
    expect((await store.getVideos([v])).has(v)).toBe(false);
    // Not every partition has applied anything yet: nothing is applied everywhere.
    expect(await store.checkpoint()).toBeUndefined();
  });
});
