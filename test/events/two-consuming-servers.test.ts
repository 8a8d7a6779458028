import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve } from "../../src/app/serve";
import { configSchema, type ReelfeedConfig } from "../../src/config";
import type { ReelEvent } from "../../src/data/types";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { trainBundle } from "../../src/training/train-pipeline";
import { silentProgress } from "../../src/util/progress";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "./redis-test-helpers";

/**
 * Two whole servers (the real start-up path) consuming one Redis prefix: no serving replica, both apply. Events
 * sent to either are applied exactly once to the shared state, the work is shared, and each in-process graph still
 * sees every event.
 */
let dir: string;
let bundleDir: string;

const config = (varDir: string): ReelfeedConfig =>
  configSchema.parse({
    server: { host: "127.0.0.1" },
    paths: { varDir, bootstrapData: join(varDir, "no-such-data") },
    backends: { redisUrl: REDIS_URL },
    ranking: { executionProviders: ["cpu"], timeoutMs: 5000 },
  });

describe.skipIf(await skipRedis())("two consuming servers on one Redis prefix", () => {
  const prefix = uniquePrefix("twoservers");
  let admin: Redis;
  beforeAll(async () => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    dir = await mkdtemp(join(tmpdir(), "rf-two-servers-"));
    bundleDir = join(dir, "bundle");
    await trainBundle({
      synthetic: { users: 120, videos: 150, days: 6 },
      out: bundleDir,
      refit: false,
      twoTower: { epochs: 1, dim: 16 },
      ranker: { epochs: 1 },
      contentDim: 16,
      ks: [10],
      progress: silentProgress,
    });
  });
  afterAll(async () => {
    await deleteKeys(admin, prefix);
    admin.disconnect();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("apply every event once between them, share the partitions, and both graphs see every follow", async () => {
    const runtime = { redisKeyPrefix: prefix, service: { stateTimeoutMs: 2000 } };
    const a = await serve({ config: config(join(dir, "var-a")), bundle: bundleDir, port: 0, handleSignals: false, progress: silentProgress, runtime });
    const b = await serve({ config: config(join(dir, "var-b")), bundle: bundleDir, port: 0, handleSignals: false, progress: silentProgress, runtime });
    try {
      await Promise.all([a.loaded.ready, b.loaded.ready]);
      // The first to start took every partition; it hands half over at its next renewal (within a second).
      const leaseOwners = async () => new Set((await admin.mget(...Array.from({ length: 16 }, (_, i) => `${prefix}consume:lease:${i}`))).filter((o) => o !== null));
      const balanced = Date.now() + 5000;
      while ((await leaseOwners()).size < 2 && Date.now() < balanced) await new Promise((r) => setTimeout(r, 50));
      const { dataset } = a.loaded;
      const t = dataset.events[dataset.events.length - 1].ts + 60_000;
      const videos = dataset.videos.slice(0, 10).map((v) => v.id);
      const before = await a.loaded.state.getVideos(videos);
      const likes = (i: number, via: string): ReelEvent => ({
        id: `two-${via}-${i}-${process.pid}`,
        type: "like",
        userId: dataset.users[i % dataset.users.length].id,
        videoId: videos[i % videos.length],
        ts: t + i,
      });
      // Half the events to each server, in several batches, while both consume.
      for (let round = 0; round < 5; round++) {
        const batch = Array.from({ length: 40 }, (_, i) => round * 40 + i);
        await a.loaded.ingestor.ingest(batch.filter((i) => i % 2 === 0).map((i) => likes(i, "a")));
        await b.loaded.ingestor.ingest(batch.filter((i) => i % 2 === 1).map((i) => likes(i, "b")));
      }
      const follow = { id: `two-follow-${process.pid}`, type: "follow", userId: dataset.users[1].id, followeeId: dataset.users[2].id, ts: t + 1000 };
      await b.loaded.ingestor.ingest([follow]);

      const store = createRedisStateStore({ redis: admin, keyPrefix: prefix });
      const last = ((await admin.xrevrange(`${prefix}events`, "+", "-", "COUNT", 1)) as [string, string[]][])[0][0];
      const deadline = Date.now() + 15_000;
      while ((await store.checkpoint()) !== last) {
        if (Date.now() > deadline) throw new Error(`not applied everywhere: ${await store.checkpoint()} vs ${last}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      const after = await a.loaded.state.getVideos(videos);
      for (const v of videos) expect((after.get(v)?.likes ?? 0) - (before.get(v)?.likes ?? 0)).toBe(20);
      expect((await leaseOwners()).size).toBe(2);
      await a.loaded.consumer.catchUp(5000);
      await b.loaded.consumer.catchUp(5000);
      expect(await a.loaded.graph.following(dataset.users[1].id)).toContain(dataset.users[2].id);
      expect(await b.loaded.graph.following(dataset.users[1].id)).toContain(dataset.users[2].id);
    } finally {
      await b.stop();
      await a.stop();
    }
  }, 120_000);
});
