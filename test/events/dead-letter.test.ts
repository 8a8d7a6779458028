import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createEventConsumer } from "../../src/events/consumer";
import { ReelfeedError } from "../../src/errors";
import { isRetryable, redisError } from "../../src/stores/backend-errors";
import { createFileDeadLetter, createMemoryDeadLetter, createRedisDeadLetter } from "../../src/stores/dead-letter";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { createMemoryStateStore } from "../../src/stores/state-store-memory";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { REDIS_URL, deleteKeys, skipRedis, uniquePrefix } from "./redis-test-helpers";

const like = (i: number, userId = "u1"): ReelEvent => ({ id: `e${i}`, type: "like", userId, videoId: `v${i % 4}`, ts: 1_700_000_000_000 + i });
/** An event of a type this version does not know (written by a newer writer, say): no store can apply it. */
const poison = (i: number): ReelEvent => ({ id: `p${i}`, type: "teleport", userId: "px", ts: 1_700_000_000_000 + i }) as unknown as ReelEvent;

describe("one error model", () => {
  it("classifies backend failures as retryable or permanent", () => {
    expect(isRetryable(new ReelfeedError("UNAVAILABLE", "down"))).toBe(true);
    expect(isRetryable(new ReelfeedError("RATE_LIMITED", "slow down"))).toBe(true);
    expect(isRetryable(new ReelfeedError("BAD_CONFIG", "no"))).toBe(false);
    expect(isRetryable(new TypeError("x is undefined"))).toBe(false);
    const reply = (message: string): Error => Object.assign(new Error(message), { name: "ReplyError" });
    expect(redisError("op", reply("WRONGTYPE Operation against a key holding the wrong kind of value"))).toMatchObject({ code: "INTERNAL", details: { retryable: false } });
    expect(isRetryable(redisError("op", reply("LOADING Redis is loading the dataset in memory")))).toBe(true);
    expect(isRetryable(redisError("op", reply("BUSY Redis is busy running a script")))).toBe(true);
    expect(isRetryable(redisError("op", new Error("Connection is closed.")))).toBe(true);
    expect(redisError("op", new Error("Command timed out")).message).toBe("op: Command timed out");
  });
});

describe("dead letter (file log, in-process store)", () => {
  let dir: string;
  let log: FileEventLog;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "rf-dead-"));
    log = await createFileEventLog({ dir: join(dir, "log") });
  });
  afterEach(async () => {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("parks an event the store can never apply after maxAttempts, applies the rest once, and counts it", async () => {
    await log.append([like(1), like(2), poison(3), like(4), like(5)]);
    const store = createMemoryStateStore();
    const deadLetter = createFileDeadLetter(join(dir, "log", "dead-letter.jsonl"));
    const errors: Error[] = [];
    let attempts = 0;
    const counting = { ...store, applyAt: async (...a: Parameters<typeof store.applyAt>) => void (a[0].some((e) => e.id === "p3") && attempts++, await store.applyAt(...a)) };
    const consumer = createEventConsumer({ log, store: counting, videoOf: () => undefined, deadLetter, maxAttempts: 2, pollMs: 5, onError: (e) => errors.push(e) });
    await consumer.start();
    expect(await consumer.catchUp(5000)).toBe(log.end());
    await consumer.stop();
    expect((await store.getUser("u1"))?.likes).toBe(4);
    const parked = await deadLetter.list();
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ event: { id: "p3", type: "teleport" }, code: "Error", reason: expect.stringContaining("unexpected event") });
    expect(consumer.stats().deadLettered).toBe(1);
    // The batch try, then two tries of the event alone.
    expect(attempts).toBe(3);
    expect(errors.some((e) => /p3 .* parked in the dead letter after 2 attempts/.test(e.message))).toBe(true);
  });

  it("without a dead letter, a permanent failure blocks (reported on every try), as before", async () => {
    await log.append([like(1), poison(2), like(3)]);
    const store = createMemoryStateStore();
    const errors: Error[] = [];
    const consumer = createEventConsumer({ log, store, videoOf: () => undefined, pollMs: 5, onError: (e) => errors.push(e) });
    await consumer.start();
    await new Promise((r) => setTimeout(r, 100));
    await consumer.stop();
    expect(errors.length).toBeGreaterThan(2);
    expect((await store.getUser("u1"))?.likes).toBe(1);
  });

  it("a dead letter that cannot be written leaves the event where it is (retried later, never skipped)", async () => {
    await log.append([like(1), poison(2), like(3)]);
    const store = createMemoryStateStore();
    const dead = createRedisClient({ url: "redis://127.0.0.1:1", connectTimeoutMs: 100 });
    onTestFinished(() => dead.disconnect());
    const errors: Error[] = [];
    const consumer = createEventConsumer({ log, store, videoOf: () => undefined, deadLetter: createRedisDeadLetter({ redis: dead }), maxAttempts: 1, pollMs: 5, onError: (e) => errors.push(e) });
    await consumer.start();
    await new Promise((r) => setTimeout(r, 150));
    await consumer.stop();
    expect(errors.some((e) => e instanceof ReelfeedError && e.code === "UNAVAILABLE" && /dead letter/.test(e.message))).toBe(true);
    expect((await store.getUser("u1"))?.likes).toBe(1);
    expect(consumer.stats().deadLettered).toBe(0);
  });

  it("never parks an event whose failure is retryable: it is applied once the backend answers", async () => {
    await log.append([like(1), like(2), like(3)]);
    const store = createMemoryStateStore();
    const deadLetter = createMemoryDeadLetter();
    let failures = 5;
    const flaky = {
      ...store,
      applyAt: async (...a: Parameters<typeof store.applyAt>) => {
        if (a[0].length > 0 && failures-- > 0) throw new ReelfeedError("UNAVAILABLE", "backend down", { retryable: true });
        await store.applyAt(...a);
      },
    };
    const consumer = createEventConsumer({ log, store: flaky, videoOf: () => undefined, deadLetter, maxAttempts: 1, pollMs: 5 });
    await consumer.start();
    await consumer.waitUntilApplied(log.end()!, 5000);
    await consumer.stop();
    expect(deadLetter.parked()).toBe(0);
    expect((await store.getUser("u1"))?.likes).toBe(3);
  });
});

describe.skipIf(await skipRedis())("dead letter (Redis log, shared Redis store)", () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(() => redis.disconnect());

  it("parks the poison event in {p}events:dead and applies every other event exactly once", async () => {
    const p = uniquePrefix("dead");
    onTestFinished(() => deleteKeys(redis, p));
    const log = await createRedisEventLog({ redis, keyPrefix: p });
    onTestFinished(() => log.close());
    const events = Array.from({ length: 300 }, (_, i) => (i === 150 ? poison(i) : like(i, `u${i % 5}`)));
    await log.append(events);
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 4 });
    const deadLetter = createRedisDeadLetter({ redis, keyPrefix: p });
    const consumer = createEventConsumer({ log, store, videoOf: () => undefined, deadLetter, pollMs: 5, batchSize: 100 });
    await consumer.start();
    await consumer.catchUp(10_000);
    await consumer.stop();
    const parked = await deadLetter.list();
    expect(parked.map((d) => d.event.id)).toEqual(["p150"]);
    expect(parked[0].code).toBe("INTERNAL");
    expect(await redis.xlen(`${p}events:dead`)).toBe(1);
    const users = await Promise.all(["u0", "u1", "u2", "u3", "u4"].map((u) => store.getUser(u)));
    expect(users.reduce((n, u) => n + (u?.likes ?? 0), 0)).toBe(299);
    const last = (await log.read(undefined, 1000)).pop()!.cursor;
    expect(await store.checkpoint()).toBe(last);
  });
});
