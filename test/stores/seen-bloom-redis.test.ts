import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { DAY_MS } from "../../src/features/aggregates";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { SeenBloom, seenBloomGeometry } from "../../src/stores/seen-bloom";
import { createMemoryStateStore } from "../../src/stores/state-store-memory";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { REDIS_URL, deleteKeys, skipRedis, uniquePrefix } from "../events/redis-test-helpers";

let n = 0;
const watch = (userId: string, videoId: string, ts = 1_700_000_000_000): ReelEvent => ({ id: `w${n++}`, type: "watch", userId, videoId, ts, watchedSec: 5, videoDurationSec: 10 });
const click = (userId: string, videoId: string, ts = 1_700_000_000_000): ReelEvent => ({ id: `c${n++}`, type: "click", userId, videoId, ts });
const none = () => undefined;

describe.skipIf(await skipRedis())("seen Bloom filter in Redis (shared Redis, own prefix)", () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(() => redis.disconnect());

  it("builds, server-side, bit for bit the filter the in-process one builds (chained layers, batches, repeats)", async () => {
    const p = uniquePrefix("bloom");
    onTestFinished(() => deleteKeys(redis, p));
    const watchedBloom = { capacity: 20, maxLayers: 4 };
    const geometry = seenBloomGeometry(watchedBloom);
    const store = createRedisStateStore({ redis, keyPrefix: p, watchedBloom });
    const memory = createMemoryStateStore({ watchedBloom });
    const local = new SeenBloom(geometry);
    const ids = Array.from({ length: 160 }, (_, i) => `video-${i % 130}`); // 30 repeats
    for (let start = 0; start < ids.length; start += 37) {
      const batch = ids.slice(start, start + 37).map((id, i) => (i % 5 === 0 ? click("u1", id) : watch("u1", id)));
      await store.apply(batch, none);
      await memory.apply(batch, none);
      for (const id of ids.slice(start, start + 37)) local.add(id);
    }
    expect(local.layers).toBe(3);
    const key = `${p}u:u1:watched:${geometry.tag}`;
    const remote = await redis.getBuffer(key);
    // Whole layers both sides: Redis allocates a layer at once too (exactly, not by greedy SETBIT growth).
    expect(remote?.equals(Buffer.from(local.bytes()))).toBe(true);
    // And both stores answer the same for watched and never-watched ids.
    const [fromRedis, fromMemory] = await Promise.all([store.getSeen("u1"), memory.getSeen("u1")]);
    for (let i = 0; i < 130; i++) expect(fromRedis.has(`video-${i}`)).toBe(true);
    for (let i = 0; i < 3000; i++) expect(fromRedis.has(`other-${i}`)).toBe(fromMemory.has(`other-${i}`));
  });

  it("keeps the key for two years after the last watch, and bounded in size however many watches", async () => {
    const p = uniquePrefix("bloomttl");
    onTestFinished(() => deleteKeys(redis, p));
    const watchedBloom = { capacity: 10, maxLayers: 2 };
    const geometry = seenBloomGeometry(watchedBloom);
    const store = createRedisStateStore({ redis, keyPrefix: p, watchedBloom });
    await store.apply(Array.from({ length: 500 }, (_, i) => watch("heavy", `video-${i}`)), none);
    const key = `${p}u:heavy:watched:${geometry.tag}`;
    expect(await redis.pttl(key)).toBeGreaterThan(729 * DAY_MS);
    expect(await redis.strlen(key)).toBe(geometry.totalBytes);
    const seen = await store.getSeen("heavy");
    for (let i = 0; i < 500; i++) expect(seen.has(`video-${i}`)).toBe(true);
  });

  it("never reads bits written under another geometry (the tag is in the key)", async () => {
    const p = uniquePrefix("bloomtag");
    onTestFinished(() => deleteKeys(redis, p));
    const before = createRedisStateStore({ redis, keyPrefix: p, seenCap: 1, watchedBloom: { capacity: 100 } });
    await before.apply([watch("u", "old", 1), watch("u", "new", 2)], none);
    expect((await before.getSeen("u")).has("old")).toBe(true);
    const after = createRedisStateStore({ redis, keyPrefix: p, seenCap: 1, watchedBloom: { capacity: 200 } });
    const seen = await after.getSeen("u");
    expect(seen.has("new")).toBe(true); // the exact recent set
    expect(seen.has("old")).toBe(false); // only in the filter of the old geometry
  });

  it("fails getSeen with UNAVAILABLE when Redis cannot be reached (the pipeline then serves with nothing seen)", async () => {
    const dead = createRedisClient({ url: "redis://127.0.0.1:1", connectTimeoutMs: 200 });
    onTestFinished(() => dead.disconnect());
    const store = createRedisStateStore({ redis: dead });
    await expect(store.getSeen("u1")).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await expect(store.apply([watch("u1", "v1")], none)).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});
