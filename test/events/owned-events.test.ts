import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createEventConsumer } from "../../src/events/consumer";
import { createMemoryStateStore } from "../../src/stores/state-store-memory";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { REDIS_URL, deleteKeys, skipRedis, uniquePrefix } from "./redis-test-helpers";

const like = (i: number): ReelEvent => ({ id: `e${i}`, type: "like", userId: `u${i % 23}`, videoId: `v${i % 7}`, ts: 1_700_000_000_000 + i });

describe.skipIf(await skipRedis())("onOwnedEvents: a shared store's events written by one consumer each", () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(() => redis.disconnect());

  it("two consumers sharing the work pass each event to exactly one of them (the one applying its user); a replica to none", async () => {
    const p = uniquePrefix("owned");
    onTestFinished(() => deleteKeys(redis, p));
    const log = await createRedisEventLog({ redis, keyPrefix: p });
    onTestFinished(() => log.close());
    const seen: Record<string, string[]> = { a: [], b: [], replica: [] };
    const make = (id: string, applyState = true) =>
      createEventConsumer({
        log,
        store: createRedisStateStore({ redis, keyPrefix: p, partitions: 8 }),
        videoOf: () => undefined,
        consumerId: id,
        shareSyncMs: 20,
        pollMs: 5,
        batchSize: 50,
        applyState,
        onOwnedEvents: (events) => void seen[id].push(...events.map((e) => e.id)),
      });
    const consumers = [make("a"), make("b"), make("replica", false)];
    for (const c of consumers) await c.start();
    onTestFinished(async () => {
      for (const c of consumers) await c.stop();
    });
    // Let the two share out the partitions before anything is written.
    const deadline = Date.now() + 3000;
    for (;;) {
      const owners = await redis.mget(...Array.from({ length: 8 }, (_, i) => `${p}consume:lease:${i}`));
      if (owners.filter((o) => o === "a").length === 4 && owners.filter((o) => o === "b").length === 4) break;
      if (Date.now() > deadline) throw new Error(`not balanced: ${owners.join(",")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await log.append(Array.from({ length: 400 }, (_, i) => like(i)));
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 8 });
    const last = (await log.read(undefined, 1000)).pop()!.cursor;
    while ((await store.checkpoint()) !== last) await new Promise((r) => setTimeout(r, 10));
    expect(seen.a.length).toBeGreaterThan(0);
    expect(seen.b.length).toBeGreaterThan(0);
    expect(seen.a.filter((id) => seen.b.includes(id))).toEqual([]);
    expect([...seen.a, ...seen.b].sort()).toEqual(Array.from({ length: 400 }, (_, i) => `e${i}`).sort());
    expect(seen.replica).toEqual([]);
  });

  it("start({ hookFrom }): the hook goes on after the caller's own replay point while the store applies everything", async () => {
    const p = uniquePrefix("hookfrom");
    onTestFinished(() => deleteKeys(redis, p));
    const log = await createRedisEventLog({ redis, keyPrefix: p });
    onTestFinished(() => log.close());
    await log.append(Array.from({ length: 40 }, (_, i) => like(i)));
    const recs = await log.read(undefined, 100);
    const hooked: string[] = [];
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 4 });
    const c = createEventConsumer({ log, store, videoOf: () => undefined, onEvents: (ev) => void hooked.push(...ev.map((e) => e.id)) });
    await c.start({ hookFrom: recs[24].cursor });
    await c.catchUp(5000);
    await c.stop();
    expect(hooked).toEqual(recs.slice(25).map((r) => r.event.id));
    const users = await Promise.all(Array.from({ length: 23 }, (_, i) => store.getUser(`u${i}`)));
    expect(users.reduce((n, u) => n + (u?.likes ?? 0), 0)).toBe(40);
  });

  it("a single consumer of an unshared store passes every event", async () => {
    const dirLess = createMemoryStateStore();
    const p = uniquePrefix("ownedsolo");
    onTestFinished(() => deleteKeys(redis, p));
    const log = await createRedisEventLog({ redis, keyPrefix: p });
    onTestFinished(() => log.close());
    await log.append(Array.from({ length: 30 }, (_, i) => like(i)));
    const got: string[] = [];
    const c = createEventConsumer({ log, store: dirLess, videoOf: () => undefined, onOwnedEvents: (ev) => void got.push(...ev.map((e) => e.id)) });
    await c.start();
    await c.catchUp(5000);
    await c.stop();
    expect(got).toHaveLength(30);
  });
});
