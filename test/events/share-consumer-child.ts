/**
 * Child process for the many-consumers tests: one consumer (createEventConsumer over the Redis log and the Redis
 * state store, sharing the work) on argv: redis URL, key prefix, lease ms, hook delay ms. It prints "READY" once
 * started and "BATCH <n> <events>" when a batch has been read and before it is applied; the hook then waits the
 * delay, so a kill -9 or SIGSTOP sent on that line lands between the read and the write of a batch.
 */
import { createEventConsumer } from "../../src/events/consumer";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { createRedisStateStore } from "../../src/stores/state-store-redis";

const [url, keyPrefix, leaseText, delayText] = process.argv.slice(2);
const redis = createRedisClient({ url, commandTimeoutMs: 10_000 });
if (!(await waitForRedis(redis, 3000))) throw new Error("redis unreachable");
const log = await createRedisEventLog({ redis, keyPrefix });
const leaseMs = Number(leaseText);
const store = createRedisStateStore({ redis, keyPrefix, leaseMs, partitions: 8 });
let batch = 0;
const consumer = createEventConsumer({
  log,
  store,
  videoOf: () => undefined,
  batchSize: 100,
  pollMs: 10,
  shareSyncMs: Math.floor(leaseMs / 4),
  onEvents: async (events) => {
    process.stdout.write(`BATCH ${batch++} ${events.length}\n`);
    await new Promise((r) => setTimeout(r, Number(delayText)));
  },
  onError: (err) => process.stderr.write(`consumer: ${err.message}\n`),
});
await consumer.start();
process.stdout.write("READY\n");
process.on("SIGTERM", () => {
  void consumer.stop().then(() => process.exit(0));
});
