import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createRedisEventLog, type RedisEventLog } from "../../src/stores/event-log-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { createRedisStateStore } from "../../src/stores/state-store-redis";
import { REDIS_URL, deleteKeys, skipRedis, uniquePrefix } from "./redis-test-helpers";

/**
 * Many consumers on one Redis: two and three consumer processes (test/events/share-consumer-child.ts) apply one
 * stream while it is being written, one is kill -9'd between reading a batch and writing it (and, with three, another
 * is frozen past its lease and then resumed: a zombie whose write must be refused). The resulting state must equal
 * the state one unpartitioned apply of the same events produces: every event applied exactly once, in order per
 * user and per video.
 */
const LEASE_MS = 1200;

function makeEvents(n: number, base: number): ReelEvent[] {
  const out: ReelEvent[] = [];
  for (let i = 0; i < n; i++) {
    const userId = `u${i % 37}`;
    const videoId = `v${(i * 7) % 53}`;
    const ts = base + i * 1000;
    const id = `e${i}`;
    switch (i % 8) {
      case 0:
      case 1:
        out.push({ id, type: "watch", userId, videoId, ts, watchedSec: 10 + (i % 30), videoDurationSec: 40, ...(i % 3 === 0 ? { country: "DE" } : {}) });
        break;
      case 2:
        out.push({ id, type: "like", userId, videoId, ts });
        break;
      case 3:
        out.push({ id, type: "impression", userId, videoId, ts, position: i % 10, surface: "home" });
        break;
      case 4:
        out.push({ id, type: "click", userId, videoId, ts });
        break;
      case 5:
        // Alternating per user and creator: the final set depends on the order they are applied in.
        out.push({ id, type: Math.floor(i / 8) % 2 === 0 ? "subscribe" : "unsubscribe", userId, creatorId: `c${i % 3}`, ts });
        break;
      case 6:
        out.push({ id, type: "not_interested", userId, videoId, ts });
        break;
      default:
        out.push({ id, type: "follow", userId, followeeId: `f${i % 5}`, ts });
    }
  }
  return out;
}

interface Child {
  proc: ChildProcess;
  batches: number;
  stderr: string;
  lines: Array<(line: string) => void>;
  exited: Promise<void>;
}

function startConsumer(prefix: string, delayMs: number): Promise<Child> {
  const proc = spawn(process.execPath, ["--import", "tsx", "test/events/share-consumer-child.ts", REDIS_URL, prefix, String(LEASE_MS), String(delayMs)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child: Child = { proc, batches: 0, stderr: "", lines: [], exited: new Promise((r) => proc.once("exit", () => r())) };
  proc.stderr!.on("data", (d: Buffer) => (child.stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer did not start: ${child.stderr}`)), 30_000);
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      if (line === "READY") {
        clearTimeout(timer);
        resolve(child);
      }
      if (line.startsWith("BATCH ")) child.batches++;
      for (const l of child.lines) l(line);
    });
    proc.once("exit", (code) => reject(new Error(`consumer exited with ${code}: ${child.stderr}`)));
  });
}

/** Resolves on the child's `n`-th BATCH line (counting from now); fails, with the child's stderr, after 60 s. */
const onBatch = (child: Child, n: number): Promise<void> =>
  new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      child.lines.splice(child.lines.indexOf(l), 1);
      reject(new Error(`no batch ${n} from consumer ${child.proc.pid} in 60 s: ${child.stderr}`));
    }, 60_000);
    const l = (line: string): void => {
      if (line.startsWith("BATCH ") && ++seen === n) {
        clearTimeout(timer);
        child.lines.splice(child.lines.indexOf(l), 1);
        resolve();
      }
    };
    child.lines.push(l);
  });

async function stopAll(children: Child[]): Promise<void> {
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill("SIGCONT");
      c.proc.kill("SIGKILL");
    }
    await c.exited;
  }
}

describe.skipIf(await skipRedis())("many consumers on one Redis (child processes)", () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL, commandTimeoutMs: 10_000 });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(() => redis.disconnect());

  async function run(consumers: number, freezeOne: boolean): Promise<void> {
    const prefix = uniquePrefix(`share${consumers}`);
    const refPrefix = uniquePrefix(`share${consumers}ref`);
    const children: Child[] = [];
    let log: RedisEventLog | undefined;
    try {
      const pool = makeEvents(40_000, Date.now() - 10 * 86_400_000);
      log = await createRedisEventLog({ redis, keyPrefix: prefix });
      for (let i = 0; i < consumers; i++) children.push(await startConsumer(prefix, 25));

      // Write while they consume, 50 events every 10 ms: at least 4,000, and on until the kill (and the freeze) are
      // done, so a consumer waited on for its next batch always has new events coming (with a fixed 4,000, a slow
      // box could finish writing and consuming first, and the wait never ended).
      let written = 0;
      let scenarioDone = false;
      const writing = (async () => {
        while (written < pool.length && (written < 4000 || !scenarioDone)) {
          await log!.append(pool.slice(written, written + 50));
          written += 50;
          // Past the 4,000, a trickle: enough to keep batches coming, not a backlog for the catch-up deadline.
          await new Promise((r) => setTimeout(r, written < 4000 ? 10 : 100));
        }
      })();

      // Work is shared: after a rebalance every consumer holds leases.
      await new Promise((r) => setTimeout(r, LEASE_MS));
      const owners = new Set((await redis.mget(...Array.from({ length: 8 }, (_, i) => `${prefix}consume:lease:${i}`))).filter((o) => o !== null));
      expect(owners.size).toBe(consumers);

      const victim = children[consumers - 1];
      await onBatch(victim, 2);
      victim.proc.kill("SIGKILL"); // between reading a batch and writing it (the hook waits 25 ms first)
      await victim.exited;
      if (freezeOne) {
        const zombie = children[1];
        await onBatch(zombie, 1);
        zombie.proc.kill("SIGSTOP"); // holds a computed batch; its lease expires and its partitions move
        await new Promise((r) => setTimeout(r, LEASE_MS * 3));
        zombie.proc.kill("SIGCONT");
      }
      scenarioDone = true;
      await writing;
      const events = pool.slice(0, written);

      const lastId = ((await redis.xrevrange(`${prefix}events`, "+", "-", "COUNT", 1)) as [string, string[]][])[0][0];
      expect(await redis.xlen(`${prefix}events`)).toBe(events.length);
      const store = createRedisStateStore({ redis, keyPrefix: prefix, partitions: 8 });
      const deadline = Date.now() + 30_000;
      while ((await store.checkpoint()) !== lastId) {
        if (Date.now() > deadline) throw new Error(`not caught up: ${await store.checkpoint()} vs ${lastId}; ${children.map((c) => c.stderr).join("\n")}`);
        await new Promise((r) => setTimeout(r, 50));
      }

      // The reference: the same events applied once, unpartitioned, in order.
      const ref = createRedisStateStore({ redis, keyPrefix: refPrefix });
      for (let i = 0; i < events.length; i += 500) await ref.apply(events.slice(i, i + 500), () => undefined);
      const users = [...new Set(events.map((e) => e.userId))];
      const videos = [...new Set(events.flatMap((e) => ("videoId" in e ? [e.videoId] : [])))];
      for (const u of users) {
        expect(await store.getUser(u)).toEqual(await ref.getUser(u));
        const [a, b] = [await store.getRelations(u), await ref.getRelations(u)];
        for (const key of Object.keys(a) as (keyof typeof a)[]) expect([...a[key]].sort()).toEqual([...b[key]].sort());
        expect([...(await store.getSeen(u)).recent].sort()).toEqual([...(await ref.getSeen(u)).recent].sort());
      }
      expect(await store.getVideos(videos)).toEqual(await ref.getVideos(videos));
      const now = events[events.length - 1].ts;
      for (const country of [undefined, "DE"]) {
        const got = new Map((await store.trending(country, 1000, now)).map((h) => [h.videoId, h.score]));
        const want = await ref.trending(country, 1000, now);
        expect(got.size).toBe(want.length);
        for (const h of want) expect(got.get(h.videoId)! / h.score).toBeCloseTo(1, 9);
      }
      // The survivors really consumed after the kill (they are not stuck and reported no error other than the kill's).
      for (const c of children.slice(0, consumers - 1)) expect(c.batches).toBeGreaterThan(0);
    } finally {
      await stopAll(children);
      await log?.close();
      await deleteKeys(redis, prefix);
      await deleteKeys(redis, refPrefix);
    }
  }

  // The harness budget, not a product bound (catching up has its own 30 s deadline above): child processes compile
  // and start under tsx, and with three of them on a loaded 2-core box the whole run took over 90 s in a CI run.
  it("two consumers, one kill -9'd mid-batch: every event applied exactly once", () => run(2, false), 180_000);

  it("three consumers, one kill -9'd mid-batch and one frozen past its lease: exactly once", () => run(3, true), 180_000);
});
