import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { REDIS_URL, deleteKeys, skipRedis, uniquePrefix } from "../events/redis-test-helpers";
import { CONTRACT_CAPS, stateStoreContract } from "./state-store.contract";

describe.skipIf(await skipRedis())("redis state store (shared Redis, own prefix)", () => {
  let redis: Redis;
  const prefixes = new Map<object, string>();
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(() => redis.disconnect());

  stateStoreContract(
    async () => {
      const keyPrefix = uniquePrefix("state");
      const store = createRedisStateStore({ redis, keyPrefix, ...CONTRACT_CAPS });
      prefixes.set(store, keyPrefix);
      return store;
    },
    async (store) => deleteKeys(redis, prefixes.get(store)!),
  );

  it("uses the documented keys with TTLs, and checkpoints in the same transaction", async () => {
    const p = uniquePrefix("schema");
    const store = createRedisStateStore({ redis, keyPrefix: p });
    onTestFinished(() => deleteKeys(redis, p));
    const ts = Date.now();
    await store.applyAt(
      [
        { id: "1", type: "watch", userId: "u1", videoId: "v1", ts, watchedSec: 5, videoDurationSec: 10, country: "DE" },
        { id: "2", type: "block_creator", userId: "u1", creatorId: "c1", ts },
      ],
      () => undefined,
      "1700000000000-0",
    );
    expect(await redis.ttl(`${p}u:u1:agg`)).toBeGreaterThan(0);
    expect(await redis.ttl(`${p}v:v1:agg`)).toBeGreaterThan(0);
    expect(await redis.pttl(`${p}u:u1:seen`)).toBeGreaterThan(0);
    expect(await redis.ttl(`${p}u:u1:blocked`)).toBeGreaterThan(0);
    expect(await redis.zscore(`${p}trend:c:DE`, "v1")).not.toBeNull();
    expect(await redis.get(`${p}trend:landmark`)).toBe(String(ts));
    expect(await store.checkpoint()).toBe("1700000000000-0");
  });

  it("moves the forward-decay landmark without changing the ranking or decayed scores", async () => {
    const p = uniquePrefix("rebase");
    const store = createRedisStateStore({ redis, keyPrefix: p, trendingHalfLifeMs: 1000 });
    onTestFinished(() => deleteKeys(redis, p));
    const w = (id: string, v: string, ts: number) => ({ id, type: "watch" as const, userId: "u", videoId: v, ts, watchedSec: 1, videoDurationSec: 2 });
    await store.apply([w("1", "a", 0), w("2", "a", 0), w("2b", "a", 0), w("3", "b", 1000)], () => undefined);
    // 100 half-lives later: past the rebase threshold, the landmark moves and old scores are rescaled.
    await store.apply([w("4", "c", 100_000)], () => undefined);
    expect(Number(await redis.get(`${p}trend:landmark`))).toBe(100_000);
    const hits = await store.trending(undefined, 3, 100_000);
    expect(hits[0]).toMatchObject({ videoId: "c", score: 1 });
    expect(hits.slice(1).map((h) => h.videoId)).toEqual(["a", "b"]);
  });

  it("fails with UNAVAILABLE when Redis cannot be reached", async () => {
    const dead = createRedisClient({ url: "redis://127.0.0.1:1", connectTimeoutMs: 200 });
    const store = createRedisStateStore({ redis: dead });
    await expect(store.getUser("u1")).rejects.toMatchObject({ code: "UNAVAILABLE" });
    dead.disconnect();
  });
});
