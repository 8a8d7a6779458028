/**
 * npm run bench:events — event ingestion: throughput and acknowledgement latency of the durable append (Redis
 * Streams and the fsync'd file log), end-to-end lag from `ingest()` to the event being readable from the Redis state
 * store, and the HTTP ndjson endpoint. Targets (issue): ≥ 20,000 events/s ingested into Redis in batches of 100, with
 * the p99 acknowledgement latency reported; p99 lag from event to visible feature < 1 s.
 *
 *   npm run bench:events -- [--redis redis://127.0.0.1:6379] [--events 50000] [--batch 100] [--concurrency 1,4,16]
 *       [--max-seconds 30] [--lag-rates 2000,10000,20000] [--lag-seconds 5] [--lag-consumer inline,worker,procs:2]
 *       [--apply-events 60000] [--apply-consumers 1,2,3] [--http-events 20000] [--http-concurrency 4,16]
 *       [--skip file,lag,apply,http] [--dir .bench-out] [--json results.json]
 *
 * `procs:N` runs N consumers as separate processes (bench/lib/consumer-process.ts) sharing the work through the
 * Redis state store's partitions (docs/events.md "Many consumers"); they poll every 10 ms (a nudge cannot cross
 * processes). The apply phase fills a stream first, then times N consumer processes applying it: events/s, their
 * CPU and Redis commands per event, and the Redis server's CPU per event; it checks every event was applied exactly
 * once (per-user event counts against the stream).
 *
 * Everything it writes lives under a random key prefix (rfbench:<run>:) and a scratch directory, both removed at the
 * end, on Ctrl-C too; it never flushes the Redis it is pointed at. Events come from the synthetic platform (every
 * event type, in realistic proportions) and are generated before anything is timed. Exits 1 when something failed
 * (an error, an event not ACCEPTED, a count that does not match); a missed target is reported as MISS, not a failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import type { Redis } from "ioredis";
import { generateSynthetic } from "../src/data/synthetic";
import type { ReelEvent, Video } from "../src/data/types";
import { createEventConsumer } from "../src/events/consumer";
import { createEventsHttpHandler } from "../src/events/http-endpoint";
import { createIngestor } from "../src/events/ingest";
import type { EventIngestor, EventResult } from "../src/events/ingestor";
import type { EventLog } from "../src/stores/event-log";
import { createFileEventLog } from "../src/stores/event-log-file";
import { createRedisEventLog } from "../src/stores/event-log-redis";
import { connectRedis } from "../src/stores/redis-client";
import { createRedisStateStore } from "../src/stores/state-store-redis";
import { writeFileAtomic } from "../src/util/fs";
import { runClosedLoop, type LoadResult } from "./lib/closed-loop";
import { formatMachine, machineInfo } from "./lib/machine-info";
import { formatInt, formatMs, markdownTable } from "./lib/markdown-table";
import { runOpenLoop } from "./lib/open-loop";
import { createPeakRssSampler } from "./lib/peak-rss-sampler";
import { summarize, type Summary } from "./lib/percentile";
import { deleteKeysWithPrefix } from "./lib/redis-prefix-cleanup";

// This file is also the entry of the consumer worker thread (--lag-consumer worker): it runs the consumer until
// told to stop and exits before any of the bench below is set up.
if (!isMainThread) {
  await runConsumerWorker(workerData as ConsumerWorkerData);
  process.exit(0);
}

const TARGET_EVENTS_PER_SEC = 20_000;
const TARGET_LAG_P99_MS = 1000;
/** A probe not readable from the state store this long after its ack counts as a failure (lost or stuck consumer). */
const PROBE_TIMEOUT_MS = 15_000;
/** Probes polled per second at most, so the poller does not become load of its own. */
const MAX_PROBES_PER_SEC = 50;

const { values: args } = parseArgs({
  options: {
    redis: { type: "string", default: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
    events: { type: "string", default: "50000" },
    batch: { type: "string", default: "100" },
    concurrency: { type: "string", default: "1,4,16" },
    "max-seconds": { type: "string", default: "30" },
    "lag-rates": { type: "string", default: "2000,10000,20000" },
    "lag-seconds": { type: "string", default: "5" },
    "lag-consumer": { type: "string", default: "inline,worker,procs:2" },
    "apply-events": { type: "string", default: "60000" },
    "apply-consumers": { type: "string", default: "1,2,3" },
    "http-events": { type: "string", default: "20000" },
    "http-concurrency": { type: "string", default: "4,16" },
    skip: { type: "string", default: "" },
    dir: { type: "string", default: ".bench-out" },
    json: { type: "string" },
  },
});

const positiveInt = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer, got "${text}"`);
  return n;
};
const intList = (name: string, text: string): number[] => text.split(",").filter((s) => s.trim() !== "").map((s) => positiveInt(name, s.trim()));

const eventsPerRun = positiveInt("events", args.events!);
const batchSize = positiveInt("batch", args.batch!);
const concurrencies = intList("concurrency", args.concurrency!);
const maxRunMs = positiveInt("max-seconds", args["max-seconds"]!) * 1000;
const lagRates = intList("lag-rates", args["lag-rates"]!);
const lagSeconds = positiveInt("lag-seconds", args["lag-seconds"]!);
const lagConsumers = args["lag-consumer"]!.split(",").map((s) => s.trim()).filter(Boolean);
for (const c of lagConsumers) if (c !== "inline" && c !== "worker" && !/^procs:[1-9]\d*$/.test(c)) throw new Error(`--lag-consumer: "${c}" is not inline, worker or procs:N`);
const applyEvents = positiveInt("apply-events", args["apply-events"]!);
const applyConsumers = intList("apply-consumers", args["apply-consumers"]!);
const httpEvents = positiveInt("http-events", args["http-events"]!);
const httpConcurrencies = intList("http-concurrency", args["http-concurrency"]!);
const skip = new Set(args.skip!.split(",").map((s) => s.trim()).filter(Boolean));
for (const s of skip) if (!["redis", "file", "lag", "apply", "http"].includes(s)) throw new Error(`--skip: unknown phase "${s}" (redis, file, lag, apply, http)`);

const runId = randomBytes(4).toString("hex");
const rootPrefix = `rfbench:${runId}:`;
const scratchDir = resolve(args.dir!, `events-${runId}`);
const failures: string[] = [];
const machine = machineInfo();
const rss = createPeakRssSampler();

interface ThroughputRow {
  path: string;
  clients: number;
  events: number;
  wallMs: number;
  eventsPerSec: number;
  ackMs: Summary;
}
interface LagRow {
  /** inline, worker or procs:N */
  consumer: string;
  targetEventsPerSec: number;
  achievedEventsPerSec: number;
  events: number;
  ackMs: Summary;
  lagMs: Summary;
  /** From the ack of the probe's batch to the probe being visible. */
  afterAckMs: Summary;
  maxStartSlipMs: number;
}
interface ApplyRow {
  consumers: number;
  events: number;
  wallMs: number;
  eventsPerSec: number;
  /** Consumer processes' CPU (user + system, all of them), µs per event. */
  consumerCpuUsPerEvent: number;
  /** Redis server CPU (INFO used_cpu_user + used_cpu_sys delta), µs per event. */
  redisCpuUsPerEvent: number;
  /** Redis commands (= round trips) sent by the consumers per 1,000 events. */
  commandsPer1000: number;
}
const throughput: ThroughputRow[] = [];
const lag: LagRow[] = [];
const applied: ApplyRow[] = [];

// ---------------------------------------------------------------------------------------------------- fixtures
const lagEventsNeeded = skip.has("lag") ? 0 : Math.max(...lagRates) * lagSeconds;
const poolSize = Math.max(eventsPerRun, skip.has("http") ? 0 : httpEvents, lagEventsNeeded, skip.has("apply") ? 0 : applyEvents);
const genStarted = performance.now();
const { pool, videos } = generateEvents(poolSize);
const videoOf = (id: string): Video | undefined => videos.get(id);
const genMs = performance.now() - genStarted;

/** At least `n` synthetic events (the generator is deterministic; ~19k events per simulated day of 2,000 users). */
function generateEvents(n: number): { pool: ReelEvent[]; videos: Map<string, Video> } {
  let days = Math.max(1, Math.ceil(n / 15_000));
  for (;;) {
    const { dataset } = generateSynthetic({ users: 2000, videos: 2000, days, seed: 7 });
    if (dataset.events.length >= n) return { pool: dataset.events.slice(0, n), videos: new Map(dataset.videos.map((v) => [v.id, v])) };
    days = Math.ceil(days * 1.5) + 1;
  }
}

function batchesOf(events: readonly ReelEvent[], size: number): ReelEvent[][] {
  const out: ReelEvent[][] = [];
  for (let i = 0; i < events.length; i += size) out.push(events.slice(i, i + size));
  return out;
}

const typeMix = (): string => {
  const counts = new Map<string, number>();
  for (const e of pool.slice(0, eventsPerRun)) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([t, c]) => `${t} ${((100 * c) / Math.min(pool.length, eventsPerRun)).toFixed(1)}%`)
    .join(", ");
};

/** Throws unless every result is ACCEPTED: the bench feeds fresh ids, so anything else is a bug. */
function expectAccepted(results: readonly EventResult[], expected: number, where: string): void {
  if (results.length !== expected) throw new Error(`${where}: ${results.length} results for ${expected} events`);
  const bad = results.find((r) => r.status !== "ACCEPTED");
  if (bad) throw new Error(`${where}: event ${bad.index} (${bad.id}) ${bad.status} ${bad.code ?? ""} ${bad.message ?? ""}`.trim());
}

function recordFailure(what: string, err: unknown): void {
  const msg = `${what}: ${(err as Error)?.message ?? String(err)}`;
  failures.push(msg);
  console.error(`FAILED ${msg}`);
}

// ---------------------------------------------------------------------------------------------------- Redis
let redis: Redis | undefined;
let reader: Redis | undefined;
let cleaned = false;

async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  if (redis?.status === "ready") {
    try {
      await deleteKeysWithPrefix(redis, rootPrefix);
    } catch (err) {
      recordFailure(`cleanup of ${rootPrefix}*`, err);
    }
  }
  await rm(scratchDir, { recursive: true, force: true });
  redis?.disconnect();
  reader?.disconnect();
}

/** Consumer worker threads alive now: an interrupt stops them before sweeping, so nothing writes keys after it. */
const workers = new Set<Worker>();
/** Consumer processes alive now (procs:N, the apply phase): killed on an interrupt, for the same reason. */
const children = new Set<ChildProcess>();

process.once("SIGINT", () => {
  console.error("interrupted: stopping writers, removing the bench's keys and files");
  cleaned = true;
  void (async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    for (const c of children) c.kill("SIGKILL");
    // Phases still running write through these clients: drop them, give Redis a moment to run what it already
    // received, then sweep over a fresh connection.
    redis?.disconnect();
    reader?.disconnect();
    await sleep(100);
    try {
      const sweeper = await connectRedis({ url: args.redis! });
      await deleteKeysWithPrefix(sweeper, rootPrefix);
      sweeper.disconnect();
    } catch (err) {
      console.error(`could not remove ${rootPrefix}*: ${(err as Error).message}`);
    }
    await rm(scratchDir, { recursive: true, force: true });
  })().finally(() => process.exit(130));
});

async function redisDescription(client: Redis): Promise<string> {
  const info = await client.info("server");
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
  try {
    const [, aof] = (await client.config("GET", "appendonly")) as string[];
    const [, fsync] = (await client.config("GET", "appendfsync")) as string[];
    return `Redis ${version} (appendonly ${aof}, appendfsync ${fsync})`;
  } catch {
    return `Redis ${version} (persistence settings not readable)`;
  }
}

// ---------------------------------------------------------------------------------------------------- phases
function throughputRow(path: string, clients: number, load: LoadResult, events: number): ThroughputRow {
  return { path, clients, events, wallMs: load.wallMs, eventsPerSec: events / (load.wallMs / 1000), ackMs: summarize(load.latenciesMs) };
}

/**
 * Untimed warm-up of every code path the phases time (validation, both logs, the consumer and the Redis state store,
 * the HTTP handler and client), so the first measured configuration does not pay for JIT compilation and lazy
 * module loading. Uses the first events re-identified, under its own prefix and directory.
 */
async function warmUp(events: number): Promise<void> {
  const prefix = `${rootPrefix}warm:`;
  const batches = batchesOf(
    pool.slice(0, events).map((e) => ({ ...e, id: `${e.id}:warm` }) as ReelEvent),
    batchSize,
  );
  const redisLog = await createRedisEventLog({ redis: redis!, keyPrefix: prefix });
  const fileLog = await createFileEventLog({ dir: join(scratchDir, "warm") });
  const store = createRedisStateStore({ redis: redis!, keyPrefix: prefix });
  const consumer = createEventConsumer({ log: redisLog, store, videoOf });
  const server = createServer(createEventsHttpHandler({ ingestor: createIngestor({ log: redisLog }) }));
  try {
    await new Promise<void>((ok, fail) => server.once("error", fail).listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    const toRedis = createIngestor({ log: redisLog });
    const toFile = createIngestor({ log: fileLog });
    await consumer.start();
    for (const [i, b] of batches.entries()) {
      if (i % 3 === 0) expectAccepted(await toRedis.ingest(b), b.length, `warm-up batch ${i}`);
      else if (i % 3 === 1) {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: b.map((e) => JSON.stringify(e)).join("\n") });
        expectAccepted(((await res.json()) as { results: EventResult[] }).results, b.length, `warm-up batch ${i}`);
      }
      expectAccepted(await toFile.ingest(b), b.length, `warm-up batch ${i}`);
    }
    await consumer.catchUp(30_000);
    await readerWarm(prefix, batches[0][0].userId);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
    await consumer.stop();
    await redisLog.close();
    await fileLog.close();
    await deleteKeysWithPrefix(redis!, prefix);
  }
}

async function readerWarm(prefix: string, userId: string): Promise<void> {
  const user = await createRedisStateStore({ redis: reader!, keyPrefix: prefix }).getUser(userId);
  if (user === undefined) throw new Error(`warm-up: user ${userId} not visible after the consumer caught up`);
}

/** (a)/(b): closed-loop ingestion of batches into a log by `clients` concurrent callers; checks every event landed. */
async function benchIngest(kind: "redis" | "file", clients: number): Promise<void> {
  const label = `${kind} log, ${clients} client(s)`;
  const prefix = `${rootPrefix}${kind}${clients}:`;
  let log: EventLog | undefined;
  try {
    log =
      kind === "redis"
        ? await createRedisEventLog({ redis: redis!, keyPrefix: prefix })
        : await createFileEventLog({ dir: join(scratchDir, `file-${clients}`) });
    const ingestor = createIngestor({ log });
    const batches = batchesOf(pool.slice(0, eventsPerRun), batchSize);
    const load = await runClosedLoop({
      tasks: batches.length,
      concurrency: clients,
      maxDurationMs: maxRunMs,
      run: async (i) => expectAccepted(await ingestor.ingest(batches[i]), batches[i].length, `batch ${i}`),
    });
    if (load.firstError) throw load.firstError;
    const sent = batches.slice(0, load.completed).reduce((n, b) => n + b.length, 0);
    const stored = kind === "redis" ? await redis!.xlen(`${prefix}events`) : (await log.read(undefined, sent + 1)).length;
    if (stored !== sent) throw new Error(`${sent} events acknowledged but ${stored} in the log`);
    const row = throughputRow(kind === "redis" ? "ingest → Redis Streams" : "ingest → file log (fdatasync)", clients, load, sent);
    throughput.push(row);
    console.error(`  ${label}: ${formatInt(row.eventsPerSec)} events/s, ack p99 ${formatMs(row.ackMs.p99)} ms`);
  } catch (err) {
    recordFailure(label, err);
  } finally {
    await log?.close();
    if (kind === "redis") await deleteKeysWithPrefix(redis!, prefix);
  }
}

/**
 * (c): ingest at a steady rate (open loop, batches of `batchSize`) while the consumer applies the Redis log to the
 * Redis state store, as a server process does. Some events are probes: a realistic event re-addressed to a user
 * nobody else has, so the first successful `getUser` on a separate connection is the moment it became visible. Lag
 * is measured from just before the `ingest()` call; the poll period (≈ 2 ms plus a round trip) bounds its
 * resolution.
 */
async function benchLag(eventsPerSec: number, where: string): Promise<void> {
  const label = `lag at ${formatInt(eventsPerSec)} events/s, ${where} consumer`;
  const prefix = `${rootPrefix}lag${where.replace(":", "")}${eventsPerSec}:`;
  const log = await createRedisEventLog({ redis: redis!, keyPrefix: prefix });
  const readerStore = createRedisStateStore({ redis: reader!, keyPrefix: prefix });
  const consumer = where === "inline" ? inlineConsumer(log, prefix) : where === "worker" ? workerConsumer(prefix) : processConsumers(prefix, Number(where.slice(6)), 10, 1000);
  const ingestor = createIngestor({ log, onAccepted: () => consumer.nudge() });
  const batchesPerSec = eventsPerSec / batchSize;
  const batches = batchesOf(pool.slice(0, eventsPerSec * lagSeconds), batchSize);
  const probeEvery = Math.max(1, Math.round(batchesPerSec / MAX_PROBES_PER_SEC));
  const probeUser = new Map<number, string>();
  batches.forEach((b, i) => {
    if (i % probeEvery !== 0) return;
    const userId = `probe-${runId}-${i}`;
    probeUser.set(i, userId);
    const at = Math.floor(b.length / 2);
    b[at] = { ...b[at], id: `${b[at].id}:probe`, userId } as ReelEvent;
  });

  const pending = new Map<string, number>();
  const lagsMs: number[] = [];
  // When each probe's batch was acknowledged and when the probe was first seen: their difference is the consumer's
  // share of the lag, without the time the append itself queued under overload.
  const ackedAt = new Map<string, number>();
  const seenAt = new Map<string, number>();
  let polling = true;
  let pollError: Error | undefined;
  const poller = (async () => {
    while (polling || pending.size > 0) {
      const ids = [...pending.keys()];
      if (ids.length > 0) {
        const seen = await Promise.all(ids.map((id) => readerStore.getUser(id)));
        const t = performance.now();
        ids.forEach((id, j) => {
          const t0 = pending.get(id)!;
          if (seen[j] !== undefined) {
            lagsMs.push(t - t0);
            seenAt.set(id, t);
            pending.delete(id);
          } else if (t - t0 > PROBE_TIMEOUT_MS) {
            throw new Error(`probe ${id} not visible ${PROBE_TIMEOUT_MS} ms after its ingest() call`);
          }
        });
      }
      await sleep(2);
    }
  })().catch((err: Error) => {
    pollError = err;
  });

  try {
    await consumer.start();
    const load = await runOpenLoop({
      ratePerSec: batchesPerSec,
      tasks: batches.length,
      run: async (i) => {
        const userId = probeUser.get(i);
        if (userId !== undefined) pending.set(userId, performance.now());
        expectAccepted(await ingestor.ingest(batches[i]), batches[i].length, `batch ${i}`);
        if (userId !== undefined) ackedAt.set(userId, performance.now());
      },
    });
    if (load.firstError) throw load.firstError;
    polling = false;
    await poller;
    if (pollError) throw pollError;
    const { applied: appliedCount, errors } = await consumer.finish();
    const sent = batches.reduce((n, b) => n + b.length, 0);
    if (where.startsWith("procs:")) await expectAppliedOnce(prefix, batches.flat());
    else if (appliedCount !== sent) throw new Error(`${sent} events acknowledged but the consumer applied ${appliedCount}`);
    if (errors.length > 0) throw new Error(`consumer errors (${errors.length}), first: ${errors[0]}`);
    if (lagsMs.length !== probeUser.size) throw new Error(`${probeUser.size} probes sent, ${lagsMs.length} seen`);
    const row: LagRow = {
      consumer: where,
      targetEventsPerSec: eventsPerSec,
      achievedEventsPerSec: sent / (load.wallMs / 1000),
      events: sent,
      ackMs: summarize(load.latenciesMs),
      lagMs: summarize(lagsMs),
      // A probe can be seen a moment before its ack's continuation runs: that counts as 0.
      afterAckMs: summarize([...seenAt].map(([id, t]) => Math.max(0, t - (ackedAt.get(id) ?? t)))),
      maxStartSlipMs: load.maxStartSlipMs,
    };
    lag.push(row);
    console.error(
      `  ${label}: ${formatInt(row.achievedEventsPerSec)} events/s achieved, lag p99 ${formatMs(row.lagMs.p99)} ms over ${row.lagMs.count} probes ` +
        `(ack p99 ${formatMs(row.ackMs.p99)} ms, ack→visible p99 ${formatMs(row.afterAckMs.p99)} ms)`,
    );
  } catch (err) {
    recordFailure(label, err);
  } finally {
    polling = false;
    pending.clear();
    await poller;
    await consumer.abort();
    await log.close();
    await deleteKeysWithPrefix(redis!, prefix);
  }
}

/**
 * Every event applied exactly once: every partition checkpoint at the stream's last entry, and each user's event
 * count in the state equal to the events logged for them (a record applied twice or skipped changes a count).
 */
async function expectAppliedOnce(prefix: string, events: readonly ReelEvent[]): Promise<void> {
  const store = createRedisStateStore({ redis: redis!, keyPrefix: prefix });
  const last = ((await redis!.xrevrange(`${prefix}events`, "+", "-", "COUNT", 1)) as [string, string[]][])[0]?.[0];
  const deadline = Date.now() + 30_000;
  while ((await store.checkpoint()) !== last) {
    if (Date.now() > deadline) throw new Error(`consumers did not reach the stream's end ${last} (at ${await store.checkpoint()})`);
    await sleep(20);
  }
  const want = new Map<string, number>();
  for (const e of events) want.set(e.userId, (want.get(e.userId) ?? 0) + 1);
  const ids = [...want.keys()];
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    const raw = await redis!.mget(...chunk.map((id) => `${prefix}u:${id}:agg`));
    chunk.forEach((id, j) => {
      const got = raw[j] ? (JSON.parse(raw[j]!) as { events: number }).events : 0;
      if (got !== want.get(id)) throw new Error(`user ${id}: ${want.get(id)} events logged, ${got} applied`);
    });
  }
}

/** The consumer side of the lag phase: in this event loop (as a server process runs it) or in its own thread. */
interface LagConsumer {
  /** Resolves once it is tailing the log. */
  start(): Promise<void>;
  nudge(): void;
  /** Waits until everything appended so far is applied, then stops; what it applied and the errors it met. */
  finish(): Promise<{ applied: number; errors: string[] }>;
  /** Stops without waiting (error paths); idempotent. */
  abort(): Promise<void>;
}

function inlineConsumer(log: EventLog, prefix: string): LagConsumer {
  const errors: string[] = [];
  const store = createRedisStateStore({ redis: redis!, keyPrefix: prefix });
  const consumer = createEventConsumer({ log, store, videoOf, onError: (err) => errors.push(err.message) });
  return {
    start: () => consumer.start(),
    nudge: () => consumer.nudge(),
    async finish() {
      await consumer.catchUp(30_000);
      await consumer.stop();
      return { applied: consumer.applied, errors };
    },
    abort: () => consumer.stop(),
  };
}

interface ConsumerWorkerData {
  url: string;
  keyPrefix: string;
  videos: Video[];
}
type ToWorker = "nudge" | "finish";
type FromWorker = { kind: "started" } | { kind: "finished"; applied: number; errors: string[] };

/**
 * A consumer on its own event loop and connection, as a separate consumer process would run: ingestion and
 * application then no longer share one JavaScript thread. Nudges cross the thread boundary as messages.
 */
function workerConsumer(prefix: string): LagConsumer {
  const data: ConsumerWorkerData = { url: args.redis!, keyPrefix: prefix, videos: [...videos.values()] };
  // tsx's loader is registered per thread and a worker's --import comes too late for its entry module, so the entry
  // is a shim that registers tsx first and then imports this file.
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const shim = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  const worker = new Worker(shim, { eval: true, workerData: data });
  workers.add(worker);
  let exited = false;
  const exit = new Promise<void>((done) =>
    worker.once("exit", () => {
      exited = true;
      workers.delete(worker);
      done();
    }),
  );
  const next = <K extends FromWorker["kind"]>(kind: K): Promise<Extract<FromWorker, { kind: K }>> =>
    new Promise((ok, fail) => {
      const onMessage = (msg: FromWorker): void => {
        if (msg.kind !== kind) return;
        cleanupListeners();
        ok(msg as Extract<FromWorker, { kind: K }>);
      };
      const onError = (err: Error): void => {
        cleanupListeners();
        fail(err);
      };
      const onExit = (code: number): void => {
        cleanupListeners();
        fail(new Error(`consumer worker exited (code ${code}) before "${kind}"`));
      };
      const cleanupListeners = (): void => {
        worker.off("message", onMessage).off("error", onError).off("exit", onExit);
      };
      worker.on("message", onMessage).once("error", onError).once("exit", onExit);
    });
  const post = (msg: ToWorker): void => worker.postMessage(msg);
  // Listen from the start: a message emitted with no listener is lost.
  const started = next("started");
  started.catch(() => undefined);
  return {
    start: async () => void (await started),
    nudge: () => post("nudge"),
    async finish() {
      const done = next("finished");
      post("finish");
      const { applied, errors } = await done;
      await exit;
      return { applied, errors };
    },
    async abort() {
      if (!exited) await worker.terminate();
    },
  };
}

interface ProcessResult {
  applied: number;
  errors: string[];
  cpuUs: number;
  commands: number;
}

/**
 * `n` consumers as separate processes sharing the work (bench/lib/consumer-process.ts). `finish` waits until every
 * partition is applied to the stream's end, then stops them; `applied` sums what each applied (an event whose user
 * and video sides fall to two consumers counts in both), so the caller checks exactly-once on the state instead.
 */
function processConsumers(prefix: string, n: number, pollMs: number, syncMs: number): LagConsumer & { spawnAll(): Promise<void>; go(): void; results(): ProcessResult[] } {
  const catalogFile = join(scratchDir, `catalog-${randomBytes(3).toString("hex")}.json`);
  const procs: ChildProcess[] = [];
  const results: ProcessResult[] = [];
  let startedAll: Promise<void> | undefined;
  const spawnOne = (): Promise<void> =>
    new Promise((ok, fail) => {
      const child = spawn(process.execPath, ["--import", "tsx", "bench/lib/consumer-process.ts", args.redis!, prefix, catalogFile, String(pollMs), String(syncMs)], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      procs.push(child);
      children.add(child);
      child.once("exit", () => children.delete(child));
      child.once("exit", (code) => fail(new Error(`consumer process exited (${code}) before it started`)));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line === "STARTED") ok();
        else if (line.startsWith("RESULT ")) results.push(JSON.parse(line.slice(7)) as ProcessResult);
      });
    });
  const spawnAll = async (): Promise<void> => {
    await writeFile(catalogFile, JSON.stringify([...videos.values()]));
    await Promise.all(Array.from({ length: n }, spawnOne));
  };
  const go = (): void => {
    for (const c of procs) c.stdin!.write("GO\n");
  };
  const stopAll = async (): Promise<void> => {
    const exits = procs.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise<void>((ok) => c.once("exit", () => ok())) : Promise.resolve()));
    for (const c of procs) if (c.exitCode === null) c.stdin!.write("STOP\n");
    await Promise.all(exits);
  };
  return {
    spawnAll: () => (startedAll ??= spawnAll()),
    go,
    async start() {
      await (startedAll ??= spawnAll());
      go();
      // Measure with the work shared: wait until every consumer holds leases (the first to start takes all, the
      // others get theirs at its next renewal).
      const deadline = Date.now() + 15_000;
      for (;;) {
        const owners = await redis!.mget(...Array.from({ length: 16 }, (_, i) => `${prefix}consume:lease:${i}`));
        if (new Set(owners.filter((o) => o !== null)).size === n && owners.every((o) => o !== null)) return;
        if (Date.now() > deadline) throw new Error(`${n} consumer processes did not share the partitions within 15 s (${owners.join(",")})`);
        await sleep(50);
      }
    },
    nudge() {},
    async finish() {
      const store = createRedisStateStore({ redis: redis!, keyPrefix: prefix });
      const last = ((await redis!.xrevrange(`${prefix}events`, "+", "-", "COUNT", 1)) as [string, string[]][])[0]?.[0];
      const deadline = Date.now() + 30_000;
      while ((await store.checkpoint()) !== last && Date.now() < deadline) await sleep(10);
      await stopAll();
      return { applied: results.reduce((a, r) => a + r.applied, 0), errors: results.flatMap((r) => r.errors) };
    },
    async abort() {
      for (const c of procs) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      await rm(catalogFile, { force: true });
    },
    results: () => results,
  };
}

/** Redis server CPU so far (user + system of every thread), µs. */
async function redisCpuUs(): Promise<number> {
  const info = await redis!.info("cpu");
  const num = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (num("used_cpu_user") + num("used_cpu_sys")) * 1e6;
}

/**
 * (e): apply cost. Fills a stream with `applyEvents` events (untimed), then N consumer processes apply it: wall
 * time from GO until every partition checkpoint reaches the end, their CPU, their Redis commands, and the Redis
 * server's CPU over the same span. Exactly once is checked on the state afterwards.
 */
async function benchApply(n: number): Promise<void> {
  const label = `apply, ${n} consumer process(es)`;
  const prefix = `${rootPrefix}apply${n}:`;
  const log = await createRedisEventLog({ redis: redis!, keyPrefix: prefix });
  const consumers = processConsumers(prefix, n, 10, 200);
  try {
    const events = pool.slice(0, applyEvents);
    for (const b of batchesOf(events, 1000)) await log.append(b);
    // Started, connected, not consuming yet: process start-up is not timed.
    await consumers.spawnAll();
    const cpu0 = await redisCpuUs();
    const t0 = performance.now();
    consumers.go();
    const { errors } = await consumers.finish();
    const wallMs = performance.now() - t0;
    const redisCpu = (await redisCpuUs()) - cpu0;
    if (errors.length > 0) throw new Error(`consumer errors (${errors.length}), first: ${errors[0]}`);
    await expectAppliedOnce(prefix, events);
    const results = consumers.results();
    if (results.length !== n) throw new Error(`${results.length} of ${n} consumers reported`);
    const row: ApplyRow = {
      consumers: n,
      events: events.length,
      wallMs,
      eventsPerSec: events.length / (wallMs / 1000),
      consumerCpuUsPerEvent: results.reduce((a, r) => a + r.cpuUs, 0) / events.length,
      redisCpuUsPerEvent: redisCpu / events.length,
      commandsPer1000: (1000 * results.reduce((a, r) => a + r.commands, 0)) / events.length,
    };
    applied.push(row);
    console.error(
      `  ${label}: ${formatInt(row.eventsPerSec)} events/s; consumer CPU ${row.consumerCpuUsPerEvent.toFixed(1)} µs/event, ` +
        `Redis CPU ${row.redisCpuUsPerEvent.toFixed(1)} µs/event, ${row.commandsPer1000.toFixed(1)} commands per 1,000 events`,
    );
  } catch (err) {
    recordFailure(label, err);
  } finally {
    await consumers.abort();
    await log.close();
    await deleteKeysWithPrefix(redis!, prefix);
  }
}

async function runConsumerWorker(data: ConsumerWorkerData): Promise<void> {
  const port = parentPort!;
  const client = await connectRedis({ url: data.url });
  const catalog = new Map(data.videos.map((v) => [v.id, v]));
  const log = await createRedisEventLog({ redis: client, keyPrefix: data.keyPrefix });
  const store = createRedisStateStore({ redis: client, keyPrefix: data.keyPrefix });
  const errors: string[] = [];
  const consumer = createEventConsumer({ log, store, videoOf: (id) => catalog.get(id), onError: (err) => errors.push(err.message) });
  await consumer.start();
  await new Promise<void>((done) => {
    port.on("message", (msg: ToWorker) => {
      if (msg === "nudge") return consumer.nudge();
      port.removeAllListeners("message");
      void (async () => {
        try {
          await consumer.catchUp(30_000);
        } catch (err) {
          errors.push((err as Error).message);
        }
        await consumer.stop();
        await log.close();
        client.disconnect();
        port.postMessage({ kind: "finished", applied: consumer.applied, errors } satisfies FromWorker);
        done();
      })();
    });
    port.postMessage({ kind: "started" } satisfies FromWorker);
  });
}

/** (d): POST /events (ndjson, batches of `batchSize`) to a real node:http server on 127.0.0.1, Redis log behind it. */
async function benchHttp(clients: number): Promise<void> {
  const label = `HTTP, ${clients} client(s)`;
  const prefix = `${rootPrefix}http${clients}:`;
  let server: Server | undefined;
  let log: EventLog | undefined;
  try {
    log = await createRedisEventLog({ redis: redis!, keyPrefix: prefix });
    const ingestor: EventIngestor = createIngestor({ log });
    server = createServer(createEventsHttpHandler({ ingestor }));
    await new Promise<void>((ok, fail) => server!.once("error", fail).listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    const bodies = batchesOf(pool.slice(0, httpEvents), batchSize).map((b) => ({ n: b.length, body: b.map((e) => JSON.stringify(e)).join("\n") + "\n" }));
    const load = await runClosedLoop({
      tasks: bodies.length,
      concurrency: clients,
      maxDurationMs: maxRunMs,
      run: async (i) => {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: bodies[i].body });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`batch ${i}: HTTP ${res.status} ${text.slice(0, 200)}`);
        expectAccepted((JSON.parse(text) as { results: EventResult[] }).results, bodies[i].n, `batch ${i}`);
      },
    });
    if (load.firstError) throw load.firstError;
    const sent = bodies.slice(0, load.completed).reduce((n, b) => n + b.n, 0);
    const stored = await redis!.xlen(`${prefix}events`);
    if (stored !== sent) throw new Error(`${sent} events acknowledged but ${stored} in the stream`);
    const row = throughputRow("POST /events (ndjson) → Redis", clients, load, sent);
    throughput.push(row);
    console.error(`  ${label}: ${formatInt(row.eventsPerSec)} events/s, ack p99 ${formatMs(row.ackMs.p99)} ms`);
  } catch (err) {
    recordFailure(label, err);
  } finally {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((ok) => server!.close(() => ok()));
    }
    await log?.close();
    await deleteKeysWithPrefix(redis!, prefix);
  }
}

const consumerLabel = (c: string): string =>
  c === "inline" ? "same event loop" : c === "worker" ? "worker thread" : `${c.slice(6)} process(es), shared partitions`;

// ---------------------------------------------------------------------------------------------------- report
function report(redisInfo: string): string {
  const out: string[] = [];
  const command = `npm run bench:events${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  out.push(`## Event ingestion benchmark (${new Date().toISOString()})`, "");
  out.push(`- Command: \`${command}\``);
  out.push(`- Machine: ${formatMachine(machine)}`);
  out.push(`- ${redisInfo} at ${args.redis!.replace(/\/\/([^@/]*)@/, "//***@")}, same host`);
  out.push(`- Events: ${formatInt(pool.length)} synthetic (${typeMix()}); generated in ${formatMs(genMs)} ms before timing; batches of ${batchSize}`);
  out.push("");
  if (throughput.length > 0) {
    out.push("### Ingestion throughput and acknowledgement latency (closed loop, per batch)", "");
    out.push(
      markdownTable(
        ["path", "clients", "events", "wall s", "events/s", "ack p50 ms", "ack p95 ms", "ack p99 ms", "ack max ms"],
        throughput.map((r) => [
          r.path,
          r.clients,
          formatInt(r.events),
          (r.wallMs / 1000).toFixed(2),
          formatInt(r.eventsPerSec),
          formatMs(r.ackMs.p50),
          formatMs(r.ackMs.p95),
          formatMs(r.ackMs.p99),
          formatMs(r.ackMs.max),
        ]),
      ),
      "",
    );
  }
  if (lag.length > 0) {
    out.push("### End-to-end lag: `ingest()` call → readable via `StateStore.getUser` (Redis log → consumer → Redis state)", "");
    out.push(
      markdownTable(
        ["consumer", "offered events/s", "achieved events/s", "events", "probes", "ack p50 ms", "ack p99 ms", "lag p50 ms", "lag p95 ms", "lag p99 ms", "lag max ms", "ack→visible p99 ms"],
        lag.map((r) => [
          consumerLabel(r.consumer),
          formatInt(r.targetEventsPerSec),
          formatInt(r.achievedEventsPerSec),
          formatInt(r.events),
          r.lagMs.count,
          formatMs(r.ackMs.p50),
          formatMs(r.ackMs.p99),
          formatMs(r.lagMs.p50),
          formatMs(r.lagMs.p95),
          formatMs(r.lagMs.p99),
          formatMs(r.lagMs.max),
          formatMs(r.afterAckMs.p99),
        ]),
      ),
      "",
      "Ingestion is open loop (batches start on schedule whatever the backlog). Achieved below offered means this process " +
        "could not ingest that fast; the lag then mostly is the append queue (ack latency). `ack→visible` is the consumer's " +
        "share: from the probe's ack to the first `getUser` (separate connection, polled every ~2 ms) that returns it.",
      "",
    );
  }
  if (applied.length > 0) {
    out.push("### Apply cost: a filled stream applied by N consumer processes (Redis state, shared partitions)", "");
    out.push(
      markdownTable(
        ["consumer processes", "events", "wall s", "events/s", "consumer CPU µs/event", "Redis CPU µs/event", "Redis commands per 1,000 events"],
        applied.map((r) => [r.consumers, formatInt(r.events), (r.wallMs / 1000).toFixed(2), formatInt(r.eventsPerSec), r.consumerCpuUsPerEvent.toFixed(1), r.redisCpuUsPerEvent.toFixed(1), r.commandsPer1000.toFixed(1)]),
      ),
      "",
      "Consumer CPU sums every consumer process (each reads and parses the whole stream, applies its share). Commands are " +
        "round trips (the consumer pipelines nothing): per batch of 1,000 one XRANGE, one MGET and one script call, plus one " +
        "sync script per share renewal. Exactly once is checked afterwards (every partition at the stream's end, per-user event counts).",
      "",
    );
  }
  out.push("### Targets", "");
  const targets: string[][] = [];
  const redisRows = throughput.filter((r) => r.path === "ingest → Redis Streams");
  if (redisRows.length > 0) {
    const best = redisRows.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
    targets.push([
      `≥ ${formatInt(TARGET_EVENTS_PER_SEC)} events/s into Redis, batches of ${batchSize}`,
      `${formatInt(best.eventsPerSec)} events/s at ${best.clients} client(s), ack p99 ${formatMs(best.ackMs.p99)} ms`,
      best.eventsPerSec >= TARGET_EVENTS_PER_SEC ? "PASS" : "MISS",
    ]);
  }
  for (const r of lag) {
    targets.push([
      `p99 lag event → visible feature < ${formatInt(TARGET_LAG_P99_MS)} ms (${formatInt(r.targetEventsPerSec)} events/s offered, consumer: ${consumerLabel(r.consumer)})`,
      `${formatMs(r.lagMs.p99)} ms (${formatInt(r.achievedEventsPerSec)} events/s achieved)`,
      r.lagMs.p99 < TARGET_LAG_P99_MS ? "PASS" : "MISS",
    ]);
  }
  out.push(markdownTable(["target", "measured", "result"], targets), "");
  const mem = rss.stop();
  out.push(`Peak RSS of the bench process (client, server and consumer in one process): ${formatInt(Math.max(mem.sampledPeakBytes, mem.processMaxBytes) / 2 ** 20)} MiB`);
  if (failures.length > 0) out.push("", `**${failures.length} failure(s):**`, ...failures.map((f) => `- ${f}`));
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------------- main
let exitCode = 0;
try {
  redis = await connectRedis({ url: args.redis! });
  reader = await connectRedis({ url: args.redis! });
  await mkdir(scratchDir, { recursive: true });
  const redisInfo = await redisDescription(redis);
  console.error(`bench:events run ${runId}: ${formatInt(pool.length)} events generated in ${formatMs(genMs)} ms; ${redisInfo}`);
  const warmStarted = performance.now();
  await warmUp(Math.min(pool.length, 30 * batchSize));
  console.error(`  warm-up: ${formatMs(performance.now() - warmStarted)} ms`);
  if (!skip.has("redis")) for (const c of concurrencies) await benchIngest("redis", c);
  if (!skip.has("file")) for (const c of concurrencies) await benchIngest("file", c);
  if (!skip.has("lag")) for (const where of lagConsumers) for (const rate of lagRates) await benchLag(rate, where);
  if (!skip.has("apply")) for (const n of applyConsumers) await benchApply(n);
  if (!skip.has("http")) for (const c of httpConcurrencies) await benchHttp(c);
  await cleanup();
  const text = report(redisInfo);
  console.log(text);
  if (args.json) {
    await writeFileAtomic(args.json, JSON.stringify({ runId, machine, redis: redisInfo, batchSize, throughput, lag, apply: applied, failures }, null, 2) + "\n");
  }
} catch (err) {
  recordFailure("bench", err);
} finally {
  await cleanup();
  if (failures.length > 0) {
    console.error(`bench:events: ${failures.length} failure(s)`);
    exitCode = 1;
  }
}
process.exit(exitCode);
