import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { openLiveCatalog } from "../../src/catalog/live-catalog";
import { configSchema } from "../../src/config";
import { createCatalog } from "../../src/data/catalog";
import { createEmbeddedVectorIndex } from "../../src/stores/vector-index-embedded";
import { fitContentModel } from "../../src/features/content-embeddings";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { createTinyCatalog, TESTKIT_NOW } from "../../src/testkit";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "../events/redis-test-helpers";
import { videoInput } from "./harness";

/**
 * Replicas on one Redis: a change written through one process reaches another's catalog and vector index by the
 * catalogue stream alone, within its poll interval, with the vectors the writer computed; a replica started later
 * rebuilds everything from the stream, running no model.
 */
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it("an upload and a takedown written on one replica reach the others", async (ctx) => {
  if (await skipRedis()) ctx.skip();
  const prefix = uniquePrefix("catalog-replicas");
  const redis = createRedisClient({ url: REDIS_URL });
  await waitForRedis(redis, 3000);
  const tiny = createTinyCatalog({ now: TESTKIT_NOW });
  const { model } = fitContentModel(tiny.videos, { dim: 8, minDf: 1 });
  const open = async () => {
    const dir = await mkdtemp(join(tmpdir(), "rf-catalog-replica-"));
    dirs.push(dir);
    const catalog = createCatalog(tiny);
    const content = createEmbeddedVectorIndex({ dim: 8 });
    const live = await openLiveCatalog({ config: configSchema.parse({ paths: { varDir: dir } }), catalog, vectors: { content }, contentModel: model, redis, redisKeyPrefix: prefix, pollMs: 10 });
    await live.start(10_000);
    return { catalog, content, live };
  };
  const a = await open();
  const b = await open();
  try {
    const written = await a.live.writer.write([
      { kind: "video", raw: videoInput("replicated") },
      { kind: "removal", raw: { id: "v1", reason: "takedown" } },
    ]);
    expect(written.map((r) => r.status)).toEqual(["ACCEPTED", "ACCEPTED"]);
    // Applied on the writer before the answer; on the other replica within its poll interval.
    expect(a.catalog.video("replicated")).toBeDefined();
    const deadline = Date.now() + 2000;
    while (!b.catalog.video("replicated") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(b.catalog.video("replicated")).toEqual(a.catalog.video("replicated"));
    expect(await b.content.get("replicated")).toEqual(await a.content.get("replicated"));
    // Embedded once, by the writer: the other replica took the vector from the stream record.
    expect(a.live.applier.stats()).toMatchObject({ videosEmbedded: 1, videosCarried: 1 });
    expect(b.live.applier.stats()).toMatchObject({ videosEmbedded: 0, videosCarried: 1 });
    await b.live.consumer.catchUp(2000);
    expect(b.catalog.video("v1")?.policyFlags).toContain("removed");
    // A duplicate sent to the other replica is recognised there too.
    expect((await b.live.writer.write([{ kind: "video", raw: videoInput("replicated", { updatedAt: a.live.applier.version("video", "replicated") }) }]))[0].status).toBe("DUPLICATE");
    const c = await open();
    expect(c.catalog.video("replicated")).toBeDefined();
    expect(c.live.applier.stats()).toMatchObject({ videosEmbedded: 0, videosCarried: 1 });
    expect(c.catalog.video("v1")?.policyFlags).toContain("removed");
    await c.live.close();
  } finally {
    await a.live.close();
    await b.live.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  }
});
