/**
 * Child process for the kill -9 tests: ingests batches forever into a file log (argv: file DIR) or a Redis log
 * (argv: redis URL PREFIX) and prints "ACK <batch>" after each batch is acknowledged. Several batches are in
 * flight at once so the kill lands mid-write.
 */
import { createIngestor } from "../../src/events/ingest";
import { createFileEventLog } from "../../src/stores/event-log-file";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import type { EventLog } from "../../src/stores/event-log";

const [mode, a, b] = process.argv.slice(2);
let log: EventLog;
if (mode === "file") {
  log = await createFileEventLog({ dir: a, segmentBytes: 64 * 1024 });
} else {
  const redis = createRedisClient({ url: a });
  await waitForRedis(redis, 3000);
  log = await createRedisEventLog({ redis, keyPrefix: b });
}
const ingestor = createIngestor({ log, maxBatch: 100 });
const BATCH = 50;
let next = 0;
async function worker(): Promise<void> {
  for (;;) {
    const n = next++;
    const batch = Array.from({ length: BATCH }, (_, i) => ({
      id: `b${n}-e${i}`,
      type: "watch",
      userId: `u${i % 5}`,
      videoId: `v${n % 13}`,
      ts: Date.now(),
      watchedSec: 10,
      videoDurationSec: 20,
    }));
    const results = await ingestor.ingest(batch);
    if (results.some((r) => r.status !== "ACCEPTED")) throw new Error(`batch ${n} not accepted`);
    process.stdout.write(`ACK ${n}\n`);
  }
}
await Promise.all([worker(), worker(), worker(), worker()]);
