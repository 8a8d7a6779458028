import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createIngestor, summarizeResults } from "../../src/events/ingest";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { ingestThenKill } from "../events/kill-helpers";
import { REDIS_URL, deleteKeys, freePort, killProcess, skipRedis, startRedisServer, uniquePrefix } from "../events/redis-test-helpers";
import { sampleEvent } from "../events/sample-events";

const ev = (i: number): ReelEvent => ({ id: `e${i}`, type: "like", userId: "u1", videoId: `v${i}`, ts: 1_700_000_000_000 + i });

async function readAll(log: { read: (a: string | undefined, m: number) => Promise<{ cursor: string; event: ReelEvent }[]> }) {
  const out: ReelEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const recs = await log.read(cursor, 500);
    if (recs.length === 0) return out;
    out.push(...recs.map((r) => r.event));
    cursor = recs[recs.length - 1].cursor;
  }
}

describe.skipIf(await skipRedis())("redis event log (shared Redis, own prefix)", () => {
  let redis: Redis;
  const prefixes: string[] = [];
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterEach(async () => {
    for (const p of prefixes.splice(0)) await deleteKeys(redis, p);
  });
  afterAll(() => redis.disconnect());
  const prefix = (what: string): string => {
    const p = uniquePrefix(what);
    prefixes.push(p);
    return p;
  };

  it("appends with XADD, reads with an exclusive cursor, bounds the stream and expires ids", async () => {
    const p = prefix("log");
    const log = await createRedisEventLog({ redis, keyPrefix: p, maxLen: 1000, dedupeTtlSec: 60 });
    await log.append([ev(1), ev(2), ev(3)]);
    const first = await log.read(undefined, 2);
    expect(first.map((r) => r.event.id)).toEqual(["e1", "e2"]);
    expect((await log.read(first[1].cursor, 10)).map((r) => r.event.id)).toEqual(["e3"]);
    expect(await redis.ttl(`${p}eid:e1`)).toBeGreaterThan(50);
    await log.close();
  });

  it("deduplicates atomically with the append: in-batch, retried and concurrent", async () => {
    const p = prefix("dedupe");
    const log = await createRedisEventLog({ redis, keyPrefix: p, chunkSize: 3 });
    expect(await log.appendNew([ev(1), ev(2), ev(1), ev(3), ev(4)])).toEqual([true, true, false, true, true]);
    const again = await createRedisEventLog({ redis, keyPrefix: p });
    const batch = [ev(4), ev(5), ev(6)];
    const flags = await Promise.all([again.appendNew(batch), log.appendNew(batch)]);
    expect(flags.flat().filter(Boolean).length).toBe(2);
    expect((await readAll(log)).map((e) => e.id)).toEqual(["e1", "e2", "e3", "e4", "e5", "e6"]);
    await log.close();
    await again.close();
  });

  it("backs the ingestor: duplicates are reported, not stored twice", async () => {
    const p = prefix("ingest");
    const log = await createRedisEventLog({ redis, keyPrefix: p });
    const ingestor = createIngestor({ log });
    const batch = [sampleEvent("watch", 1), sampleEvent("follow", 2), { ...sampleEvent("seek", 3), toSec: -1 }];
    expect(summarizeResults(await ingestor.ingest(batch))).toEqual({ accepted: 2, duplicates: 0, rejected: 1 });
    expect(summarizeResults(await ingestor.ingest(batch))).toEqual({ accepted: 0, duplicates: 2, rejected: 1 });
    expect(await redis.xlen(`${p}events`)).toBe(2);
    await log.close();
  });

  it("kill -9 mid-stream: every acknowledged event is in the stream exactly once", async () => {
    const p = prefix("kill");
    const { acked } = await ingestThenKill(["redis", REDIS_URL, p], 40);
    const log = await createRedisEventLog({ redis, keyPrefix: p });
    const counts = new Map<string, number>();
    for (const e of await readAll(log)) counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
    for (const n of acked) for (let i = 0; i < 50; i++) expect(counts.get(`b${n}-e${i}`), `b${n}-e${i}`).toBe(1);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    await log.close();
  });
});

describe.skipIf(await skipRedis())("redis event log when Redis goes down (private redis-server)", () => {
  let server: ChildProcess | undefined;
  let dataDir: string;
  afterAll(async () => {
    if (server) await killProcess(server);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("buffers durably while down, refuses only when it cannot buffer, reconnects and replays exactly once", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "rf-redis-down-"));
    const port = await freePort();
    server = await startRedisServer(port, dataDir);
    const url = `redis://127.0.0.1:${port}`;
    const redis = createRedisClient({ url, commandTimeoutMs: 1000 });
    expect(await waitForRedis(redis, 3000)).toBe(true);
    const bufferDir = join(dataDir, "buffer");
    const log = await createRedisEventLog({ redis, keyPrefix: "rf:", bufferDir, replayIntervalMs: 100 });
    const noBuffer = await createRedisEventLog({ redis, keyPrefix: "rf:" });
    const ingestor = createIngestor({ log });

    const before = Array.from({ length: 5 }, (_, i) => sampleEvent("watch", i));
    expect(summarizeResults(await ingestor.ingest(before)).accepted).toBe(5);

    await killProcess(server);
    server = undefined;
    const during = Array.from({ length: 7 }, (_, i) => sampleEvent("like", 10 + i));
    const t0 = Date.now();
    expect(summarizeResults(await ingestor.ingest(during)).accepted).toBe(7);
    expect(Date.now() - t0).toBeLessThan(3000); // fails fast, no hanging on a dead socket
    // A retry during the outage is not buffered twice; one already in Redis is deduplicated at replay.
    expect(summarizeResults(await ingestor.ingest(during)).duplicates).toBe(7);
    await ingestor.ingest([before[0]]);
    expect(await log.buffered()).toBe(8);
    // Without a buffer the batch is refused as retryable, never silently dropped.
    await expect(createIngestor({ log: noBuffer }).ingest([sampleEvent("like", 99)])).rejects.toMatchObject({ code: "UNAVAILABLE" });

    server = await startRedisServer(port, dataDir);
    expect(await waitForRedis(redis, 10_000)).toBe(true);
    const deadline = Date.now() + 10_000;
    while ((await log.buffered()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await log.buffered()).toBe(0);

    const after = [sampleEvent("share", 20)];
    expect(summarizeResults(await ingestor.ingest(after)).accepted).toBe(1);
    const ids = (await readAll(log)).map((e) => e.id);
    expect(ids).toEqual([...before, ...during, ...after].map((e) => e.id));
    await log.close();
    await noBuffer.close();
    redis.disconnect();
  });
});
