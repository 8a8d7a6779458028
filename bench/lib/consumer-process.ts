/**
 * One event consumer as its own process, for bench/events-bench.ts (consumers as separate processes, sharing the
 * work through the Redis state store's partitions). argv: redis URL, key prefix, catalogue JSON file, poll ms,
 * share sync ms.
 *
 * Protocol on stdio: prints "STARTED" once connected (the consumer is not running yet); "GO" on stdin starts it;
 * "STOP" stops it (its partitions handed over) and prints "RESULT <json>": records it applied, errors, its CPU time
 * (user + system, µs, from GO) and the Redis commands it sent (each one a round trip: the consumer pipelines nothing).
 */
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Video } from "../../src/data/types";
import { createEventConsumer } from "../../src/events/consumer";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import { connectRedis } from "../../src/stores/redis-client";
import { createRedisStateStore } from "../../src/stores/state-store-redis";

const [url, keyPrefix, catalogFile, pollText, syncText] = process.argv.slice(2);
const client = await connectRedis({ url, commandTimeoutMs: 10_000 });
let commands = 0;
const send = client.sendCommand.bind(client);
client.sendCommand = ((...a: Parameters<typeof send>) => {
  commands++;
  return send(...a);
}) as typeof client.sendCommand;
const catalog = new Map((JSON.parse(await readFile(catalogFile, "utf8")) as Video[]).map((v) => [v.id, v]));
const log = await createRedisEventLog({ redis: client, keyPrefix });
const store = createRedisStateStore({ redis: client, keyPrefix });
const errors: string[] = [];
const consumer = createEventConsumer({
  log,
  store,
  videoOf: (id) => catalog.get(id),
  pollMs: Number(pollText),
  shareSyncMs: Number(syncText),
  onError: (err) => errors.push(err.message),
});
let cpu0 = process.cpuUsage();
let commands0 = 0;
process.stdout.write("STARTED\n");
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "GO") {
    cpu0 = process.cpuUsage();
    commands0 = commands;
    await consumer.start();
  } else if (line === "STOP") {
    await consumer.stop();
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(`RESULT ${JSON.stringify({ applied: consumer.applied, errors, cpuUs: cpu.user + cpu.system, commands: commands - commands0 })}\n`);
    await log.close();
    client.disconnect();
    process.exit(0);
  }
}
