import { mkdtemp, readdir, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createEventConsumer } from "../../src/events/consumer";
import { ReelfeedError } from "../../src/errors";
import { createFileEventLog } from "../../src/stores/event-log-file";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import type { LogRecord } from "../../src/stores/event-log";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { createMemoryStateStore } from "../../src/stores/state-store-memory";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { REDIS_URL, deleteKeys, skipRedis, uniquePrefix } from "../events/redis-test-helpers";

const ev = (i: number): ReelEvent => ({ id: `e${i}`, type: "like", userId: `u${i % 3}`, videoId: `v${i}`, ts: 1_700_000_000_000 + i });

async function readAll(log: { read: (a: string | undefined, m: number) => Promise<LogRecord[]> }, from?: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let cursor = from;
  for (;;) {
    const recs = await log.read(cursor, 50);
    if (recs.length === 0) return out;
    out.push(...recs);
    cursor = recs[recs.length - 1].cursor;
  }
}

const segments = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((f) => /^seg-\d+\.jsonl$/.test(f)).sort();

describe("file log retention", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "rf-retention-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("deletes only closed segments every consumer has checkpointed past, oldest first, whatever the size limit", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 1000, retention: { maxBytes: 1 } });
    onTestFinished(() => log.close());
    for (let b = 0; b < 10; b++) await log.append(Array.from({ length: 10 }, (_, i) => ev(b * 10 + i)));
    const before = await segments(dir);
    expect(before.length).toBeGreaterThan(5);
    const all = await readAll(log);

    // Some consumer has processed nothing: nothing goes, however far past the limit.
    expect(await log.retain(undefined)).toEqual({ removed: 0, bytes: 0 });
    // Processed through record 37: every record after it is still there, in order; segments before it are gone.
    const through = all[37].cursor;
    const res = await log.retain(through);
    expect(res.removed).toBeGreaterThan(0);
    expect((await readAll(log, through)).map((r) => r.event.id)).toEqual(all.slice(38).map((r) => r.event.id));
    const kept = await readAll(log);
    expect(kept[kept.length - 1].event.id).toBe("e99");
    expect(kept.length).toBeGreaterThanOrEqual(62);
    // The log now starts at a segment boundary at or before the consumer's position.
    expect(all.findIndex((r) => r.cursor === kept[0].cursor)).toBeLessThanOrEqual(38);
    expect((await log.stats()).bytes).toBeLessThan((await log.stats()).bytes! + res.bytes!);

    // Processed everything: all closed segments go, the one being written stays, appends and reads go on.
    await log.retain(log.end());
    expect(await segments(dir)).toEqual([before[before.length - 1]]);
    await log.append([ev(100)]);
    expect((await readAll(log, all[99].cursor)).map((r) => r.event.id)).toEqual(["e100"]);
  });

  it("deletes by age only segments past it, and keeps everything without limits", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 1000, retention: { maxAgeMs: 60_000 } });
    onTestFinished(() => log.close());
    for (let b = 0; b < 5; b++) await log.append(Array.from({ length: 10 }, (_, i) => ev(b * 10 + i)));
    const segs = await segments(dir);
    // All consumed, all fresh: nothing is old enough.
    expect((await log.retain(log.end())).removed).toBe(0);
    // The first segment last written two minutes ago: it goes, the rest stay.
    const old = new Date(Date.now() - 120_000);
    await utimes(join(dir, segs[0]), old, old);
    expect((await log.retain(log.end())).removed).toBe(1);
    expect(await segments(dir)).toEqual(segs.slice(1));

    const dir2 = join(dir, "nolimits");
    const plain = await createFileEventLog({ dir: dir2, segmentBytes: 1000 });
    onTestFinished(() => plain.close());
    for (let b = 0; b < 5; b++) await plain.append(Array.from({ length: 10 }, (_, i) => ev(b * 10 + i)));
    expect((await plain.retain(plain.end())).removed).toBe(0);
  });

  it("reopens after retention at the oldest kept segment, and refuses a bad limit (BAD_CONFIG)", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 1000, retention: { maxBytes: 1 } });
    for (let b = 0; b < 5; b++) await log.append(Array.from({ length: 10 }, (_, i) => ev(b * 10 + i)));
    const all = await readAll(log);
    await log.retain(all[25].cursor);
    await log.close();
    const again = await createFileEventLog({ dir, segmentBytes: 1000 });
    onTestFinished(() => again.close());
    const kept = await readAll(again);
    expect(kept[kept.length - 1].event.id).toBe("e49");
    expect(kept.map((r) => r.event.id)).toEqual(all.slice(all.length - kept.length).map((r) => r.event.id));
    // Retried ids of kept records are still recognised.
    expect(await again.appendNew([ev(49)])).toEqual([false]);
    await expect(createFileEventLog({ dir: join(dir, "bad"), retention: { maxBytes: -1 } })).rejects.toMatchObject({ code: "BAD_CONFIG" });
  });

  it("through the consumer: a consumer stuck before a record keeps everything from there", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 1000, retention: { maxBytes: 1 } });
    onTestFinished(() => log.close());
    for (let b = 0; b < 10; b++) await log.append(Array.from({ length: 10 }, (_, i) => ev(b * 10 + i)));
    const all = await readAll(log);
    const inner = createMemoryStateStore();
    // A store that cannot get past record 55 (its backend is down for that one): retryable, so it never moves on.
    const store = {
      ...inner,
      applyAt: async (events: readonly ReelEvent[], videoOf: Parameters<typeof inner.applyAt>[1], at: string) => {
        if (events.some((e) => e.id === "e55")) throw new ReelfeedError("UNAVAILABLE", "down", { retryable: true });
        await inner.applyAt(events, videoOf, at);
      },
    };
    const consumer = createEventConsumer({ log, store, videoOf: () => undefined, retainEveryMs: 1, pollMs: 5, batchSize: 20 });
    await consumer.start();
    await consumer.waitUntilApplied(all[54].cursor, 5000);
    await new Promise((r) => setTimeout(r, 100));
    await consumer.stop();
    expect(consumer.cursor).toBe(all[54].cursor);
    expect(consumer.stats().retainedRemoved).toBeGreaterThan(0);
    expect((await readAll(log, all[54].cursor)).map((r) => r.event.id)).toEqual(all.slice(55).map((r) => r.event.id));
    expect(consumer.stats().log?.pendingBytes).toBeGreaterThan(0);
  });
});

describe.skipIf(await skipRedis())("redis stream trimming", () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(() => redis.disconnect());

  it("trims only entries before every consumer's checkpoint and past the age floor", async () => {
    const p = uniquePrefix("trim");
    onTestFinished(() => deleteKeys(redis, p));
    const log = await createRedisEventLog({ redis, keyPrefix: p, retainMs: 1 });
    onTestFinished(() => log.close());
    for (let b = 0; b < 20; b++) await log.append(Array.from({ length: 250 }, (_, i) => ev(b * 250 + i)));
    const all = await readAll(log);
    expect(await log.retain(undefined)).toEqual({ removed: 0 });
    const res = await log.retain(all[3000].cursor);
    expect(res.removed).toBeGreaterThan(0);
    // Approximate trimming removes whole stream nodes, never an entry at or after the checkpoint.
    expect((await readAll(log, all[2999].cursor)).map((r) => r.event.id)).toEqual(all.slice(3000).map((r) => r.event.id));
    expect(await redis.xlen(log.streamKey)).toBe(5000 - res.removed);
    const stats = await log.stats(all[3000].cursor);
    expect(stats.entries).toBe(5000 - res.removed);
    expect(stats.newest).toBe(all[4999].cursor);

    // An age floor of a day keeps everything recent, consumed or not; a log without retainMs never trims.
    const p2 = uniquePrefix("trimfloor");
    onTestFinished(() => deleteKeys(redis, p2));
    const kept = await createRedisEventLog({ redis, keyPrefix: p2, retainMs: 86_400_000 });
    onTestFinished(() => kept.close());
    await kept.append(Array.from({ length: 500 }, (_, i) => ev(i)));
    const end = (await readAll(kept)).pop()!.cursor;
    expect((await kept.retain(end)).removed).toBe(0);
    const none = await createRedisEventLog({ redis, keyPrefix: p2 });
    expect((await none.retain(end)).removed).toBe(0);
    await expect(createRedisEventLog({ redis, keyPrefix: p2, retainMs: 0 })).rejects.toMatchObject({ code: "BAD_CONFIG" });
  });

  it("consumers sharing a store trim up to the slowest partition, and an entry that is not an event is skipped once reported", async () => {
    const p = uniquePrefix("trimshare");
    onTestFinished(() => deleteKeys(redis, p));
    const errors: Error[] = [];
    const log = await createRedisEventLog({ redis, keyPrefix: p, retainMs: 1, onError: (e) => errors.push(e) });
    onTestFinished(() => log.close());
    await log.append(Array.from({ length: 1000 }, (_, i) => ev(i)));
    await redis.xadd(log.streamKey, "*", "e", "{not json");
    await log.append(Array.from({ length: 1000 }, (_, i) => ev(1000 + i)));
    const store = createRedisStateStore({ redis, keyPrefix: p, partitions: 4 });
    const consumer = createEventConsumer({ log, store, videoOf: () => undefined, retainEveryMs: 1, pollMs: 5 });
    await consumer.start();
    await consumer.catchUp(10_000);
    await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    expect(errors.filter((e) => /is not an event; skipped/.test(e.message))).toHaveLength(1);
    const total = (await Promise.all(["u0", "u1", "u2"].map((u) => store.getUser(u)))).reduce((n, a) => n + (a?.events ?? 0), 0);
    expect(total).toBe(2000);
    expect(consumer.stats().retainedRemoved).toBeGreaterThan(0);
    const checkpoint = (await store.checkpoint())!;
    expect(await redis.xlen(log.streamKey)).toBeLessThan(2001);
    expect((await redis.xrange(log.streamKey, checkpoint, checkpoint)).length).toBe(1);
  });
});
