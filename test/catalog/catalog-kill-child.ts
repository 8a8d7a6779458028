/**
 * Child process for the catalogue kill -9 tests: writes batches of video upserts forever through the real live
 * catalogue (file log under DIR, or Redis Streams: argv redis URL PREFIX DIR) and prints "ACK <batch>" once each
 * batch is acknowledged. Four batches are in flight at once so the kill lands mid-write.
 */
import { openLiveCatalog } from "../../src/catalog/live-catalog";
import { configSchema } from "../../src/config";
import { createCatalog } from "../../src/data/catalog";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { killBatch } from "./kill-batch";

const [mode, a, b, c] = process.argv.slice(2);
const varDir = mode === "file" ? a : c;
const config = configSchema.parse({ paths: { varDir }, backends: mode === "redis" ? { redisKeyPrefix: b } : {} });
let redis;
if (mode === "redis") {
  redis = createRedisClient({ url: a });
  await waitForRedis(redis, 3000);
}
const live = await openLiveCatalog({ config, catalog: createCatalog({ videos: [], users: [], creators: [] }), vectors: {}, redis, redisKeyPrefix: b, pollMs: 5 });
await live.start(10_000);
let next = 0;
async function worker(): Promise<void> {
  for (;;) {
    const n = next++;
    const results = await live.writer.write(killBatch(n).map((raw) => ({ kind: "video" as const, raw })));
    if (results.some((r) => r.status !== "ACCEPTED")) throw new Error(`batch ${n} not accepted: ${JSON.stringify(results.find((r) => r.status !== "ACCEPTED"))}`);
    process.stdout.write(`ACK ${n}\n`);
  }
}
await Promise.all([worker(), worker(), worker(), worker()]);
