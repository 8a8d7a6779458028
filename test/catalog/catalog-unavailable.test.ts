import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLiveCatalog } from "../../src/catalog/live-catalog";
import { createCatalog } from "../../src/data/catalog";
import { createRedisClient } from "../../src/stores/redis-client";
import { freePort } from "../events/redis-test-helpers";
import { configSchema } from "../../src/config";
import { startServer, type RunningServer } from "../../src/server";
import { createTestkit } from "../../src/testkit";
import { startCatalogHarness, UPSERT_VIDEOS, videoInput, type CatalogHarness } from "./harness";

/** When nothing can be made durable the write is refused as a whole, retryable; a server without a writer says so. */
let h: CatalogHarness;
beforeAll(async () => {
  h = await startCatalogHarness();
  // The log is closed under the running server: every append now fails (as a full disk or a lost Redis would).
  await h.live.log.close();
});
afterAll(async () => h?.stop());

describe("a catalogue log that cannot write", () => {
  it("GraphQL: UNAVAILABLE, retryable, nothing applied", async () => {
    const r = await h.gql(UPSERT_VIDEOS, { v: [videoInput("never")] });
    expect(r.body.errors![0].extensions).toMatchObject({ code: "UNAVAILABLE", retryable: true, argument: "videos" });
    expect(h.kit.catalog.video("never")).toBeUndefined();
  });

  it("POST /catalog: 503 with Retry-After", async () => {
    const r = await h.ndjson([JSON.stringify({ kind: "video", ...videoInput("never-bulk") })]);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(r.body.error.code).toBe("UNAVAILABLE");
  });

  it("an invalid item is still answered per item (nothing to write, nothing refused)", async () => {
    const r = await h.gql(UPSERT_VIDEOS, { v: [videoInput("bad", { durationSec: 0 })] });
    expect(r.body.data.upsertVideos.results[0]).toMatchObject({ status: "REJECTED", code: "INVALID_FIELD", field: "durationSec" });
  });
});

describe("a server without a live catalogue", () => {
  let server: RunningServer;
  afterAll(async () => server?.stop());
  it("keeps the mutations in its schema and answers them UNAVAILABLE", async () => {
    const kit = createTestkit();
    server = await startServer({ services: { feed: kit.service, catalog: kit.catalog }, config: configSchema.parse({ server: { host: "127.0.0.1" } }), port: 0, production: false, log: () => {}, warn: () => {} });
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: UPSERT_VIDEOS, variables: { v: [videoInput("x")] } }) });
    const body = (await res.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors[0].extensions).toMatchObject({ code: "UNAVAILABLE" });
  });
});

describe("Redis down", () => {
  it("acknowledges from the local buffer at once (durable there), applying once the stream has it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rf-catalog-redis-down-"));
    const redis = createRedisClient({ url: `redis://127.0.0.1:${await freePort()}` });
    const catalog = createCatalog({ videos: [], users: [], creators: [] });
    const live = await openLiveCatalog({ config: configSchema.parse({ paths: { varDir: dir } }), catalog, vectors: {}, redis, redisKeyPrefix: "rftest:down:" });
    try {
      const t0 = Date.now();
      const results = await live.writer.write([{ kind: "video", raw: videoInput("buffered") }]);
      expect(results[0].status).toBe("ACCEPTED");
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(catalog.video("buffered")).toBeUndefined();
    } finally {
      await live.close();
      redis.disconnect();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
