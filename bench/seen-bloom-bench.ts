/**
 * The per-user watched Bloom filter (src/stores/seen-bloom.ts): false-positive rate and bytes per user in both state
 * stores, and what getSeen costs in Redis. Numbers go to docs/events.md and docs/benchmarks.md ("Seen filter (Bloom)").
 *
 *   node --expose-gc --import tsx bench/seen-bloom-bench.ts            # REDIS_URL (default redis://127.0.0.1:6379)
 *
 * Redis keys live under a random rfbench:bloom:* prefix and are deleted at the end.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { ReelEvent } from "../src/data/types";
import { createRedisClient, waitForRedis } from "../src/stores/redis-client";
import { SeenBloom, seenBloomAddArgs, seenBloomGeometry } from "../src/stores/seen-bloom";
import { createRedisStateStore } from "../src/stores/state-store-redis";

const PROBES = 100_000;
const geometry = seenBloomGeometry();
const gc = (globalThis as { gc?: () => void }).gc;

function fpRate(has: (id: string) => boolean, salt: string): number {
  let fp = 0;
  for (let i = 0; i < PROBES; i++) if (has(`probe-${salt}-${i}`)) fp++;
  return fp / PROBES;
}

const pct = (x: number) => `${(x * 100).toFixed(3)} %`;

console.log(`geometry: ${geometry.layers.map((l) => `${l.capacity}@k${l.k}=${l.bits / 8}B`).join(", ")}; total ${geometry.totalBytes} B, ${geometry.totalCapacity} watches`);

// 1. False-positive rate by watches per user (in process; the Redis filter is bit-identical, tested).
console.log("\nwatches | layers | filter bytes | FP rate (100,000 probes) | bound");
for (const n of [100, 1000, 2000, 5000, 10_000, 30_000, 63_000, 100_000]) {
  const bloom = new SeenBloom(geometry);
  for (let i = 0; i < n; i++) bloom.add(`watched-${n}-${i}`);
  console.log(`${n} | ${bloom.layers} | ${bloom.bytes().length} | ${pct(fpRate((id) => bloom.has(id), String(n)))} | ${n <= geometry.totalCapacity ? `< ${pct(geometry.fpRate)}` : "past capacity: unbounded"}`);
}

// 2. Memory per user, embedded store: heap + array buffers of many users' filters, over the user count.
async function settle(): Promise<void> {
  // Array buffers are freed by a later GC than their views: collect until the external count stops moving.
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setImmediate(r));
  }
}
async function heapPerUser(users: number, watches: number): Promise<number> {
  await settle();
  const before = process.memoryUsage();
  const kept: SeenBloom[] = [];
  for (let u = 0; u < users; u++) {
    const b = new SeenBloom(geometry);
    for (let i = 0; i < watches; i++) b.add(`u${u}-v${i}`);
    kept.push(b);
  }
  await settle();
  const after = process.memoryUsage();
  const bytes = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  if (kept.length !== users) throw new Error("unreachable");
  return bytes / users;
}
console.log(`\nembedded store, bytes per user: filter bytes (exact mean) and heap + ArrayBuffer measured (${gc ? "after gc" : "NO --expose-gc: noisy"})`);
for (const [users, watches] of [
  [5000, 10],
  [5000, 500],
  [2000, 1000],
  [500, 3000],
] as const) {
  let exact = 0;
  for (let u = 0; u < 200; u++) {
    const b = new SeenBloom(geometry);
    for (let i = 0; i < watches; i++) b.add(`x${u}-v${i}`);
    exact += b.bytes().length / 200;
  }
  console.log(`${users} users × ${watches} watches: filter ${Math.round(exact)} B, measured ${Math.round(await heapPerUser(users, watches))} B/user`);
}

// 3. Redis: MEMORY USAGE of the key, write and read costs.
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const redis = createRedisClient({ url: redisUrl });
if (!(await waitForRedis(redis, 3000))) {
  console.log(`\nredis: ${redisUrl} unreachable, skipped`);
  redis.disconnect();
  process.exit(0);
}
const prefix = `rfbench:bloom:${randomBytes(4).toString("hex")}:`;
const store = createRedisStateStore({ redis, keyPrefix: prefix });
const watch = (userId: string, videoId: string, ts: number): ReelEvent => ({ id: `${userId}-${videoId}`, type: "watch", userId, videoId, ts, watchedSec: 5, videoDurationSec: 10 });
try {
  console.log(`\nredis ${(await redis.info("server")).match(/redis_version:(\S+)/)?.[1]}: per-user key (MEMORY USAGE), getSeen + 500 has()`);
  console.log("watches | STRLEN | MEMORY USAGE | apply, ms per 100-event batch | getSeen + 500 has, ms (median of 200)");
  for (const n of [10, 100, 1000, 5000]) {
    const user = `user${n}`;
    const t0 = performance.now();
    let batches = 0;
    for (let i = 0; i < n; i += 100) {
      await store.apply(Array.from({ length: Math.min(100, n - i) }, (_, j) => watch(user, `video-${i + j}`, 1_700_000_000_000 + i + j)), () => undefined);
      batches++;
    }
    const applyMs = (performance.now() - t0) / batches;
    const key = `${prefix}u:${user}:watched:${geometry.tag}`;
    const [len, usage] = await Promise.all([redis.strlen(key), redis.memory("USAGE", key)]);
    const times: number[] = [];
    let fp = 0;
    for (let r = 0; r < 200; r++) {
      const t = performance.now();
      const seen = await store.getSeen(user);
      for (let c = 0; c < 500; c++) if (seen.has(`candidate-${r}-${c}`)) fp++;
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(`${n} | ${len} | ${usage} | ${applyMs.toFixed(2)} | ${times[100].toFixed(3)} (FP ${pct(fp / 100_000)})`);
  }
  // The Lua insert alone (inside apply's MULTI in production): 100 new ids into one user's filter.
  const addCommand = (redis as unknown as Record<string, (key: string, ...args: number[]) => Promise<number>>).rfSeenBloomAdd.bind(redis);
  const times: number[] = [];
  for (let r = 0; r < 50; r++) {
    const ids = Array.from({ length: 100 }, (_, i) => `lua-${r}-${i}`);
    const t = performance.now();
    await addCommand(`${prefix}lua`, ...seenBloomAddArgs(geometry, 0, ids));
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`Bloom script alone, 100 new ids, round trip: median ${times[25].toFixed(2)} ms (5,000 ids in the filter by the end)`);
} finally {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
  redis.disconnect();
}
