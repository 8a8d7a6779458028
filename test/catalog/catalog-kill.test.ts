import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { openLiveCatalog } from "../../src/catalog/live-catalog";
import { configSchema } from "../../src/config";
import { createCatalog } from "../../src/data/catalog";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "../events/redis-test-helpers";
import { killBatch } from "./kill-batch";
import { ingestThenKill } from "../events/kill-helpers";

/**
 * Durable before acknowledged: a writer is kill -9'd mid-stream; a fresh process replaying the catalogue log finds
 * every acknowledged upload, each record once, and a re-send of the acknowledged batches changes nothing.
 */

async function writeThenKill(args: string[], minAcks: number): Promise<Set<number>> {
  return (await ingestThenKill(args, minAcks, "test/catalog/catalog-kill-child.ts")).acked;
}

async function checkRecovered(varDir: string, acked: Set<number>, redis?: Redis, prefix?: string): Promise<void> {
  const catalog = createCatalog({ videos: [], users: [], creators: [] });
  const config = configSchema.parse({ paths: { varDir } });
  const live = await openLiveCatalog({ config, catalog, vectors: {}, redis, redisKeyPrefix: prefix });
  try {
    await live.start(30_000);
    for (const n of acked) for (const v of killBatch(n)) expect(catalog.video(v.id as string), `acknowledged ${v.id as string}`).toBeDefined();
    // Each record once in the log (the log's id deduplication), each applied once.
    const ids: string[] = [];
    for (let cursor: string | undefined; ; ) {
      const recs = await live.log.read(cursor, 1000);
      for (const r of recs) ids.push(r.event.id);
      if (recs.length < 1000) break;
      cursor = recs[recs.length - 1].cursor;
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(live.applier.stats().applied).toBe(ids.length);
    expect(catalog.videoCount()).toBe(ids.length);
    // A client retrying what it was acknowledged changes nothing.
    const retry = await live.writer.write(killBatch([...acked][0]).map((raw) => ({ kind: "video" as const, raw })));
    expect(retry.every((r) => r.status === "DUPLICATE")).toBe(true);
  } finally {
    await live.close();
  }
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("catalogue writes survive kill -9", () => {
  it("file log: every acknowledged upload is there after a restart, once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rf-catalog-kill-"));
    dirs.push(dir);
    const acked = await writeThenKill(["file", dir], 30);
    await checkRecovered(dir, acked);
  }, 90_000);

  it("Redis Streams: the same", async (ctx) => {
    if (await skipRedis()) ctx.skip();
    const dir = await mkdtemp(join(tmpdir(), "rf-catalog-kill-redis-"));
    dirs.push(dir);
    const prefix = uniquePrefix("catalog-kill");
    const redis = createRedisClient({ url: REDIS_URL });
    try {
      await waitForRedis(redis, 3000);
      const acked = await writeThenKill(["redis", REDIS_URL, prefix, dir], 30);
      await checkRecovered(dir, acked, redis, prefix);
    } finally {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  }, 90_000);
});
