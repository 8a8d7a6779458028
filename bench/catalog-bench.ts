/**
 * npm run bench:catalog — the live catalogue's write path: videos/s ingested (validated, appended durably, embedded
 * by the bundle's content model and ONNX video tower, inserted into the vector indexes, applied before the answer),
 * acknowledgement latency per batch, and upload-to-retrievable lag: on the writing process it is the ack itself (the
 * writer applies before answering); on a second replica (Redis mode) the time from ack until the video is in that
 * replica's two-tower index. Also the memory the added videos take, and the feed's latency in the same process (one
 * request at a time) alone and while the load runs.
 *
 *   npm run bench:catalog -- [--bundle <dir>] [--videos 20000] [--batch 100] [--concurrency 4]
 *       [--redis redis://127.0.0.1:6379] [--skip embedded,redis] [--dir .bench-out/catalog]
 *       [--bundle-users 1000] [--bundle-videos 2000]
 *
 * Embedded mode also posts half as many videos again through the HTTP server (POST /catalog, NDJSON, the same
 * concurrency): the write path with HTTP, parsing and auth (open, development mode) in front; `--skip http` leaves it out.
 *
 * Without --bundle it trains a small synthetic bundle first (1,000 users, 2,000 videos; not timed). Targets (issue 11):
 * ≥ 2,000 videos/s embedded and into Redis in batches of 100, upload-to-retrievable lag p99 ≤ 1 s. Everything lives
 * under a scratch folder and a random Redis key prefix, both removed at the end; Redis is never flushed.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { loadRuntime, type LoadedRuntime } from "../src/app/runtime";
import { catalogRoute } from "../src/app/serve";
import { openLiveCatalog, type LiveCatalog } from "../src/catalog/live-catalog";
import { startServer } from "../src/server";
import { configSchema, type ReelfeedConfig } from "../src/config";
import { createCatalog, type Catalog } from "../src/data/catalog";
import { createEmbeddedVectorIndex } from "../src/stores/vector-index-embedded";
import { connectRedis } from "../src/stores/redis-client";
import { trainBundle } from "../src/training/train-pipeline";
import { silentProgress } from "../src/util/progress";
import { formatMachine, machineInfo } from "./lib/machine-info";
import { markdownTable } from "./lib/markdown-table";
import { summarize } from "./lib/percentile";
import { deleteKeysWithPrefix } from "./lib/redis-prefix-cleanup";

const { values: args } = parseArgs({
  options: {
    bundle: { type: "string" },
    videos: { type: "string", default: "20000" },
    batch: { type: "string", default: "100" },
    concurrency: { type: "string", default: "4" },
    redis: { type: "string", default: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
    skip: { type: "string", default: "" },
    dir: { type: "string", default: ".bench-out/catalog" },
    "bundle-users": { type: "string", default: "1000" },
    "bundle-videos": { type: "string", default: "2000" },
  },
});
const total = Number(args.videos);
const batchSize = Number(args.batch);
const concurrency = Number(args.concurrency);
const skip = new Set(args.skip!.split(",").filter(Boolean));
const scratch = resolve(args.dir!, randomBytes(4).toString("hex"));

const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = (): { heap: number; rss: number } => {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed / 2 ** 20, rss: m.rss / 2 ** 20 };
};

interface ModeResult {
  mode: string;
  videos: number;
  seconds: number;
  ack: ReturnType<typeof summarize>;
  replicaLag?: ReturnType<typeof summarize>;
  heapPer100k: number;
  rssPer100k: number;
  /** Feed requests in the same process (one at a time): before the load, and while it runs. */
  /** The same write path behind the HTTP server: POST /catalog (NDJSON), embedded mode only. */
  http?: { videos: number; seconds: number; ack: ReturnType<typeof summarize> };
  feedAlone: ReturnType<typeof summarize> & { degraded: number };
  feedDuring: ReturnType<typeof summarize> & { degraded: number };
  /** A restart's replay of the log into a fresh catalog and indexes: time, CPU per video, models run or vectors reused. */
  replay: { seconds: number; cpuMsPerVideo: number; videosEmbedded: number; videosCarried: number };
}

/**
 * Another live catalogue over `loaded`'s log (Redis stream or file log), with a fresh catalog and indexes of its own
 * and `loaded`'s models: a replica, or a restart replaying the log.
 */
async function openReplica(loaded: LoadedRuntime, config: ReelfeedConfig, prefix: string): Promise<{ live: LiveCatalog; catalog: Catalog }> {
  const catalog = createCatalog(loaded.dataset);
  const { twoTowerDim, contentDim } = loaded.manifest.embeddings;
  const live = await openLiveCatalog({
    config,
    catalog,
    vectors: { twoTower: createEmbeddedVectorIndex({ dim: twoTowerDim }), content: createEmbeddedVectorIndex({ dim: contentDim }) },
    artifacts: loaded.artifacts,
    contentModel: loaded.contentModel,
    videoTower: loaded.sessions.videoTower,
    videoTowerFingerprint: loaded.videoTowerFingerprint,
    twoTowerDim,
    redis: loaded.redis,
    redisKeyPrefix: prefix,
    pollMs: 10,
  });
  return { live, catalog };
}

async function run(mode: "embedded" | "redis", bundleDir: string): Promise<ModeResult> {
  const prefix = `rfbench:catalog:${randomBytes(4).toString("hex")}:`;
  const varDir = join(scratch, mode);
  const config = configSchema.parse({
    paths: { varDir },
    backends: mode === "redis" ? { redisUrl: args.redis, redisKeyPrefix: prefix } : {},
    ranking: { executionProviders: ["cpu"] },
    // Every feed request ranks (no load shedding): the question is what the catalogue load does to a ranking.
    pipeline: { overload: { maxEventLoopLagMs: 1_000_000 } },
    server: { maxEventBatch: Math.max(1000, batchSize) },
  });
  let loaded: LoadedRuntime | undefined;
  let replica: LiveCatalog | undefined;
  try {
    loaded = await loadRuntime({ bundleDir, config, redisKeyPrefix: prefix });
    const { dataset } = loaded;
    // Titles and tags from the bundle's own vocabulary, so the content model has real work; generated before timing.
    const words = dataset.videos.flatMap((v) => v.title.split(/\s+/)).filter((w) => w.length > 2);
    const tags = [...new Set(dataset.videos.flatMap((v) => v.tags))];
    const pick = <T>(list: readonly T[], i: number): T => list[(i * 2654435761) % list.length];
    const run = randomBytes(3).toString("hex");
    const batches = Array.from({ length: Math.ceil(total / batchSize) }, (_, b) =>
      Array.from({ length: Math.min(batchSize, total - b * batchSize) }, (_, j) => {
        const i = b * batchSize + j;
        return {
          kind: "video" as const,
          raw: {
            id: `bench-${run}-${i}`,
            creatorId: pick(dataset.creators, i).id,
            title: `${pick(words, i)} ${pick(words, i + 7)} ${pick(words, i + 13)}`,
            tags: [pick(tags, i), pick(tags, i + 3)],
            category: pick(dataset.videos, i).category,
            language: "en",
            durationSec: 60 + (i % 600),
            uploadedAt: Date.now() - 60_000,
            updatedAt: Date.now(),
          },
        };
      }),
    );
    // Redis: a second replica over the same stream, with indexes of its own, measures propagation.
    const acked = new Map<string, number>();
    const lags: number[] = [];
    let poller: NodeJS.Timeout | undefined;
    if (mode === "redis") {
      const opened = await openReplica(loaded, config, prefix);
      replica = opened.live;
      const catalog = opened.catalog;
      await replica.start();
      poller = setInterval(() => {
        for (const [id, at] of acked) {
          if (catalog.video(id)) {
            lags.push(performance.now() - at);
            acked.delete(id);
          }
        }
      }, 2);
    }
    const writer = loaded.liveCatalog.writer;
    // Feed latency in this process, one request at a time: 3 s alone, then beside the catalogue load.
    const users = dataset.users.map((u) => u.id);
    const service = loaded.feed;
    let served = 0;
    /** Latencies, and how many pages said a source, the ranker or the state degraded (timeouts under load). */
    const feedLoop = async (until: () => boolean): Promise<{ ms: number[]; degraded: number }> => {
      const ms: number[] = [];
      let degraded = 0;
      while (!until()) {
        const s = performance.now();
        const page = await service.feed({ userId: users[served++ % users.length], surface: "home", first: 20, context: {}, debug: false });
        ms.push(performance.now() - s);
        if (page.fallbacks.some((f) => f.kind !== "POPULARITY")) degraded++;
      }
      return { ms, degraded };
    };
    const aloneUntil = performance.now() + 3000;
    const feedAlone = await feedLoop(() => performance.now() > aloneUntil);
    const before = heapMiB();
    const ackMs: number[] = [];
    let next = 0;
    let loading = true;
    const during = feedLoop(() => !loading);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const b = next++;
          if (b >= batches.length) return;
          const s = performance.now();
          const results = await writer.write(batches[b]);
          const done = performance.now();
          ackMs.push(done - s);
          if (results.some((r) => r.status !== "ACCEPTED")) throw new Error(`batch ${b}: ${JSON.stringify(results.find((r) => r.status !== "ACCEPTED"))}`);
          // Lag of the last video of the batch (the one the replica applies last).
          if (mode === "redis") acked.set(batches[b][batches[b].length - 1].raw.id, done);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    loading = false;
    const feedDuring = await during;
    if (mode === "redis") {
      const deadline = performance.now() + 30_000;
      while (acked.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      clearInterval(poller);
      if (acked.size > 0) throw new Error(`${acked.size} batches never reached the replica`);
    }
    const after = heapMiB();
    // Every video retrievable: in the catalog and in the two-tower index.
    const last = batches[batches.length - 1][0].raw.id;
    if (!loaded.catalog.video(last) || !(await loaded.runtime.vectors.twoTower?.get(last))) throw new Error(`${last} is not retrievable after its ack`);
    const per100k = (d: number) => (d / total) * 100_000;

    // A restart's replay: a fresh catalog and indexes following the same log from its start, timed from open until
    // caught up, with the process's CPU over that time (nothing else runs then).
    const cpu0 = process.cpuUsage();
    const r0 = performance.now();
    const { live: replayed, catalog: replayCatalog } = await openReplica(loaded, config, prefix);
    let replay: ModeResult["replay"];
    try {
      await replayed.start(600_000);
      const cpu = process.cpuUsage(cpu0);
      if (!replayCatalog.video(last)) throw new Error(`replay: ${last} is missing`);
      const { videosEmbedded, videosCarried } = replayed.applier.stats();
      replay = { seconds: (performance.now() - r0) / 1000, cpuMsPerVideo: (cpu.user + cpu.system) / 1000 / total, videosEmbedded, videosCarried };
    } finally {
      await replayed.close();
    }

    let http: ModeResult["http"];
    if (mode === "embedded" && !skip.has("http")) {
      const server = await startServer({
        services: { feed: loaded.feed, catalog: loaded.catalog, catalogWriter: writer, httpHandlers: { "/catalog": catalogRoute(writer, config) } },
        config,
        port: 0,
        host: "127.0.0.1",
        production: false,
        log: () => {},
        warn: () => {},
      });
      try {
        const url = server.url.replace(/\/graphql$/, "/catalog");
        const bodies = batches.slice(0, Math.ceil(batches.length / 2)).map((b) => b.map((it) => JSON.stringify({ kind: "video", ...it.raw, id: `http-${it.raw.id}` })).join("\n"));
        const httpAck: number[] = [];
        let nextBody = 0;
        const h0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            for (;;) {
              const i = nextBody++;
              if (i >= bodies.length) return;
              const s0 = performance.now();
              const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: bodies[i] });
              const body = (await res.json()) as { results?: Array<{ status: string }> };
              httpAck.push(performance.now() - s0);
              if (res.status !== 200 || body.results?.some((r) => r.status !== "ACCEPTED")) throw new Error(`POST /catalog batch ${i}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
            }
          }),
        );
        const videos = bodies.reduce((n, b) => n + b.split("\n").length, 0);
        http = { videos, seconds: (performance.now() - h0) / 1000, ack: summarize(httpAck) };
      } finally {
        await server.stop();
      }
    }
    return {
      http,
      mode,
      videos: total,
      seconds,
      ack: summarize(ackMs),
      replicaLag: lags.length ? summarize(lags) : undefined,
      replay: replay!,
      heapPer100k: per100k(after.heap - before.heap),
      rssPer100k: per100k(after.rss - before.rss),
      feedAlone: { ...summarize(feedAlone.ms), degraded: feedAlone.degraded },
      feedDuring: { ...summarize(feedDuring.ms), degraded: feedDuring.degraded },
    };
  } finally {
    await replica?.close();
    if (mode === "redis" && loaded) {
      const r = await connectRedis({ url: args.redis! });
      await deleteKeysWithPrefix(r, prefix);
      r.disconnect();
    }
    await loaded?.close();
  }
}

async function main(): Promise<void> {
  await mkdir(scratch, { recursive: true });
  try {
    let bundleDir = args.bundle ? resolve(args.bundle) : undefined;
    if (!bundleDir) {
      bundleDir = join(scratch, "bundle");
      const users = Number(args["bundle-users"]);
      const videos = Number(args["bundle-videos"]);
      console.error(`bench:catalog: training a small synthetic bundle (${users} users, ${videos} videos; not timed)`);
      await trainBundle({ synthetic: { users, videos, days: 10 }, out: bundleDir, refit: false, twoTower: { epochs: 1 }, ranker: { epochs: 1 }, ks: [20], progress: silentProgress });
    }
    const results: ModeResult[] = [];
    for (const mode of ["embedded", "redis"] as const) {
      if (skip.has(mode)) continue;
      console.error(`bench:catalog: ${mode}: ${total} videos in batches of ${batchSize}, ${concurrency} concurrent writers`);
      results.push(await run(mode, bundleDir));
    }
    const ms = (n: number) => n.toFixed(1);
    console.log(`\n${formatMachine(machineInfo())}${gc ? "" : " (no --expose-gc: memory figures are rough)"}\n`);
    console.log(
      markdownTable(
        ["mode", "videos", "videos/s", "ack p50 ms", "ack p99 ms", "replica lag p50 / p99 ms", "heap MiB / 100k", "RSS MiB / 100k", "feed p50 / p99 ms alone", "feed p50 / p99 ms during load"],
        results.flatMap((r) => [
          [
            r.mode,
            r.videos,
            Math.round(r.videos / r.seconds),
            ms(r.ack.p50),
            ms(r.ack.p99),
            r.replicaLag ? `${ms(r.replicaLag.p50)} / ${ms(r.replicaLag.p99)}` : "— (applied before the ack)",
            Math.round(r.heapPer100k),
            Math.round(r.rssPer100k),
            `${ms(r.feedAlone.p50)} / ${ms(r.feedAlone.p99)} (${r.feedAlone.count} req, ${r.feedAlone.degraded} degraded)`,
            `${ms(r.feedDuring.p50)} / ${ms(r.feedDuring.p99)} (${r.feedDuring.count} req, ${r.feedDuring.degraded} degraded)`,
          ],
          ...(r.http
            ? [[`${r.mode}, POST /catalog over HTTP`, r.http.videos, Math.round(r.http.videos / r.http.seconds), ms(r.http.ack.p50), ms(r.http.ack.p99), "— (applied before the ack)", "", "", "", ""]]
            : []),
        ]),
      ),
    );
    console.log(
      `\n${markdownTable(
        ["mode", "replay of the log (a restart)", "videos/s", "CPU ms per video", "videos embedded / with carried vectors"],
        results.map((r) => [r.mode, `${r.replay.seconds.toFixed(2)} s`, Math.round(r.videos / r.replay.seconds), r.replay.cpuMsPerVideo.toFixed(3), `${r.replay.videosEmbedded} / ${r.replay.videosCarried}`]),
      )}`,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
