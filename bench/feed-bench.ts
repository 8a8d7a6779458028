/**
 * npm run bench:feed — the serving load benchmark: POST /graphql feed requests against the real server, on synthetic
 * catalogs of 10k, 100k and 1M videos, 500 candidates ranked per request. Targets (issue, 2-core machine): p99 ≤ 50 ms
 * and ≥ 300 requests/s at 100k videos; p99 ≤ 100 ms at 1M.
 *
 *   npm run bench:feed -- [--sizes 10000,100000,1000000] [--duration 15] [--connections 16] [--warmup 4]
 *       [--debug-rate 4] [--unloaded 100] [--unknown-share 0.1] [--dir .bench-out/feed] [--json results.json]
 *       [--md results.md] [--cpu-prof] [--quota-scale 1] [--rates 50,100,200,300] [--config '{"ranking":{...}}']
 *       [--servers 1] [--redis redis://127.0.0.1:6379]
 *
 * --cpu-prof writes a CPU profile of each load window (server side) to <dir>/server-<N>.cpuprofile; summarise it with
 * `npx tsx bench/feed-profile.ts <file>`.
 *
 * Set-up (feed-bundle.ts): one small bundle trained once on the synthetic platform (cached under --dir), then per
 * size a scaled variant whose catalog and two-tower / content matrices hold N videos (derived vectors, see there).
 * Per size the server runs in a child process (feed-server.ts: the real `serve()` path) so its RSS and CPU are its
 * own; this process is the load generator (autocannon, loopback only) — both share the machine's cores.
 *
 * Per size: start the server, warm up, then `--duration` seconds of closed-loop load from `--connections`
 * connections with varied users (known ones, and a share of unknown ones: cold start) and a realistic feed query
 * (first: 20). Alongside, a few requests per second ask for `debug: true` and their traces give the per-stage
 * latency under load; after the load, `--unloaded` sequential debug requests give it on an idle server. Latency is
 * measured by the client (request written → response complete). Peak RSS: the server's VmHWM from /proc, and this
 * process' own. Exits 1 when a request failed (non-200, GraphQL errors); a missed target is reported as MISS.
 *
 * Then, per size, an open-loop sweep (`--rates`): requests start on a fixed schedule at each rate for `--duration`
 * seconds, whether or not earlier ones have answered, as independent users do. That is how a latency target "at N
 * requests/s" is checked: a closed loop with C connections can only show latency ≈ C / throughput, and it slows
 * down instead of queueing. The sweep stops at the first rate whose p99 passes 1 s (past saturation, more only
 * queues). A target is MET when the open-loop run at its rate kept the schedule and its p99 is within the budget.
 *
 * --servers N (N > 1): the scale-out deployment instead of the embedded one: N server processes on one Redis (state
 * and event stream under a fresh key prefix, deleted afterwards), the first consuming the log, the others serving
 * replicas (events.consume false); the load is spread evenly over them, and CPU, RSS and the Redis server's CPU are
 * summed / reported. Debug traces come from the first.
 *
 * Three comparison modes instead of the size sweep, each measured as ratios inside one run (phases alternate, so both
 * sides see the same state of a shared, noisy box):
 *
 *   --mode auth [--rounds 4] [--phase 15]: auth off against auth as production runs it (API key from a keys file,
 *       user JWTs, per-key / per-user rate limits, the operation guard): server CPU per request, and the auth code's
 *       CPU from a profile (issue 12: < 2 % of request CPU). See benchAuth.
 *   --mode experiments [--rounds 4] [--phase 15]: no experiments against six at full traffic (five A/A, one with a
 *       blend override): server CPU per request and the experiments code's CPU from a profile (issue 13). See
 *       benchExperiments.
 *   --mode catalog-load [--deployments embedded,redis] [--feed-rate 20] [--catalog-rate 2000] [--catalog-batch 100]:
 *       the feed's latency and CPU with and without a catalogue load beside it, in one process and with a separate
 *       writer instance on Redis (issue 11: no change to feed latency). See benchCatalogLoad.
 *       --pin (Linux, taskset; Redis deployment): the serving instance on CPU 0, the writer instance and this
 *       load generator on CPU 1, as a writer on another machine would leave the serving replica alone.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import autocannon from "autocannon";
import { SignJWT } from "jose";
import { Redis } from "ioredis";
import { generateApiKey, hashApiKey } from "../src/auth/api-keys";
import { writeKeyFile } from "../src/auth/key-file";
import type { Scope } from "../src/auth/scopes";
import { loadDataset } from "../src/data/load-dataset";
import { FALLBACK_KINDS } from "../src/pipeline/feed-page";
import { BUNDLE_FILES } from "../src/training/bundle";
import { createProgress } from "../src/util/progress";
import { DEFAULT_SOURCES, ensureBaseBundle, ensureParent, ensureScaledBundle } from "./feed-bundle";
import type { FeedServerArgs } from "./feed-server";
import { formatMachine, machineInfo } from "./lib/machine-info";
import { formatInt, formatMs, markdownTable } from "./lib/markdown-table";
import { runOpenLoop } from "./lib/open-loop";
import { createPeakRssSampler } from "./lib/peak-rss-sampler";
import { profileShares, urlContains, type CpuProfile, type FrameGroup, type ProfileShares } from "./lib/profile-share";
import { deleteKeysWithPrefix } from "./lib/redis-prefix-cleanup";
import { summarize, type Summary } from "./lib/percentile";

const TARGETS: Record<number, { p99Ms: number; rps?: number }> = { 100_000: { p99Ms: 50, rps: 300 }, 1_000_000: { p99Ms: 100 } };

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000,1000000" },
    duration: { type: "string", default: "15" },
    connections: { type: "string", default: "16" },
    warmup: { type: "string", default: "4" },
    "debug-rate": { type: "string", default: "4" },
    unloaded: { type: "string", default: "100" },
    "unknown-share": { type: "string", default: "0.1" },
    "quota-scale": { type: "string", default: "1" },
    dir: { type: "string", default: ".bench-out/feed" },
    json: { type: "string" },
    md: { type: "string" },
    "cpu-prof": { type: "boolean", default: false },
    rates: { type: "string", default: "50,100,200,300" },
    config: { type: "string", default: "{}" },
    servers: { type: "string", default: "1" },
    redis: { type: "string", default: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
    mode: { type: "string", default: "load" },
    rounds: { type: "string", default: "4" },
    phase: { type: "string", default: "10" },
    "feed-rate": { type: "string", default: "40" },
    "catalog-rate": { type: "string", default: "2000" },
    "catalog-batch": { type: "string", default: "100" },
    deployments: { type: "string", default: "embedded,redis" },
    "feed-concurrency": { type: "string", default: "4" },
    "catalog-concurrency": { type: "string", default: "4" },
    pin: { type: "boolean", default: false },
  },
});

const num = (name: string, text: string, { int = true, min = 0 } = {}): number => {
  const n = Number(text);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) throw new Error(`--${name}: expected a number ≥ ${min}, got "${text}"`);
  return n;
};
const sizes = args.sizes!.split(",").map((s) => num("sizes", s.trim(), { min: 1 }));
const durationSec = num("duration", args.duration!, { min: 1 });
const connections = num("connections", args.connections!, { min: 1 });
const warmupSec = num("warmup", args.warmup!);
const debugRate = num("debug-rate", args["debug-rate"]!, { int: false });
const unloadedCount = num("unloaded", args.unloaded!);
const unknownShare = num("unknown-share", args["unknown-share"]!, { int: false });
const quotaScale = num("quota-scale", args["quota-scale"]!, { int: false, min: 0.1 });
const serverCount = num("servers", args.servers!, { min: 1 });
const rates = args.rates!.split(",").filter((r) => r.trim() !== "").map((r) => num("rates", r.trim(), { int: false, min: 0.1 }));
const rounds = num("rounds", args.rounds!, { min: 1 });
const phaseSec = num("phase", args.phase!, { min: 1 });
const feedRate = num("feed-rate", args["feed-rate"]!, { int: false, min: 0.1 });
const catalogRate = num("catalog-rate", args["catalog-rate"]!, { int: false, min: 1 });
const catalogBatch = num("catalog-batch", args["catalog-batch"]!, { min: 1 });
const feedConcurrency = num("feed-concurrency", args["feed-concurrency"]!, { min: 1 });
const catalogConcurrency = num("catalog-concurrency", args["catalog-concurrency"]!, { min: 1 });
const deployments = args.deployments!.split(",").map((d) => {
  if (d !== "embedded" && d !== "redis") throw new Error(`--deployments: expected embedded and/or redis, got "${d}"`);
  return d;
});
const dir = resolve(args.dir!);
const progress = createProgress();
const machine = machineInfo();
const benchRss = createPeakRssSampler();
const here = fileURLToPath(new URL(".", import.meta.url));

/** --config: a JSON object merged into each config section, for A/B runs (e.g. '{"ranking":{"inferenceThread":"main"}}'). */
const configOverride = JSON.parse(args.config!) as Record<string, Record<string, unknown>>;
const serverConfig: Record<string, unknown> = {
  server: { host: "127.0.0.1", ...configOverride.server },
  ranking: { candidatesToRank: 500, executionProviders: ["cpu"], ...configOverride.ranking },
  pipeline: {
    // The default pipeline's quotas, optionally scaled (--quota-scale).
    sources: DEFAULT_SOURCES.map((s) => ({ ...s, quota: Math.round(s.quota * quotaScale) })),
    // Load shedding off: the benchmark measures what ranking 500 candidates costs and where that saturates. The
    // shipped defaults are measured with --config '{"pipeline":{"overload":{}}}'.
    overload: { maxConcurrentRankings: 1_000_000, maxEventLoopLagMs: 1_000_000 },
    ...configOverride.pipeline,
  },
};
for (const [section, value] of Object.entries(configOverride)) serverConfig[section] ??= value;

const FEED_QUERY = `query Feed($userId: ID!, $first: Int, $context: FeedContextInput, $debug: Boolean) {
  feed(userId: $userId, first: $first, context: $context, debug: $debug) {
    edges { cursor node { trackingId position score sources reason { code params { key value } } heads { head probability }
      video { id title category durationSec creator { id name } } } }
    pageInfo { endCursor hasNextPage }
    fallbacks { kind component message }
    modelVersion
    trace { totalMs stages { stage latencyMs input output } }
  }
}`;

interface StageSample {
  stage: string;
  latencyMs: number;
  input: number;
  output: number;
}
interface Trace {
  totalMs: number;
  stages: StageSample[];
}

/** "Rank (v, blend-v1)" → "Rank": one row per stage whatever the model version. */
const stageKey = (stage: string): string => stage.replace(/ \(.*\)$/, "");

interface SizeResult {
  videos: number;
  loadMs: number;
  requests: number;
  rps: number;
  latency: Summary;
  non200: number;
  graphqlErrors: number;
  fallbacks: Record<string, number>;
  serverCpuPct: number;
  /** Server CPU time (user + system) per request served in the load window: the efficiency number, less sensitive than latency to a busy machine. */
  serverCpuMsPerRequest: number;
  benchCpuPct: number;
  serverRssMiB: { beforeLoad: number; afterLoad: number; peak: number };
  stagesLoaded: Map<string, Summary>;
  stagesIdle: Map<string, Summary>;
  funnel: { merged: number; ranked: number };
  debugSamples: { loaded: number; idle: number };
  openLoop: RateResult[];
  /** --servers > 1: the local redis-server's CPU during the closed loop. */
  redisCpuPct?: number;
}

/** One step of the open-loop sweep. */
interface RateResult {
  offeredPerSec: number;
  /** Starts per second the load generator achieved (below the offered rate when it could not keep the schedule). */
  startedPerSec: number;
  latency: Summary;
  failed: number;
  fallbacks: Record<string, number>;
  serverCpuPct: number;
}

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** utime + stime of a process (or, with `tid`, of one of its threads), seconds (clock ticks at the usual 100 Hz). */
function procCpuSec(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const MiB = (bytes: number): number => Math.round(bytes / 2 ** 20);
const totalCpuSec = (pids: readonly number[]): number => pids.reduce((sum, pid) => sum + procCpuSec(pid), 0);
const totalStatus = (pids: readonly number[]): { rss: number; hwm: number } =>
  pids.map(procStatus).reduce((a, b) => ({ rss: a.rss + b.rss, hwm: a.hwm + b.hwm }), { rss: 0, hwm: 0 });

/** The local redis-server's pid, for its CPU in a --servers run (undefined when it is not a local process). */
function redisServerPid(): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "redis-server") return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

async function startServer(serverArgs: FeedServerArgs, logPath: string): Promise<{ child: ChildProcess; url: string; loadMs: number }> {
  // --max-semi-space-size as `npm start` (package.json): a request allocates a few MB of short-lived objects, and a
  // young generation that holds several requests' worth lets them die there instead of being promoted and marked.
  const execArgv = ["--import", "tsx", "--max-old-space-size=8192", "--max-semi-space-size=64"];
  const env = { ...process.env };
  // Embedded backends only: the benchmark measures the in-process path, never a shared Redis.
  for (const key of ["REDIS_URL", "QDRANT_URL", "NEO4J_URI", "REELFEED_CONFIG", "REELFEED_BUNDLE", "REELFEED_PLUGINS"]) delete env[key];
  // As `reelfeed serve` runs (cli.ts).
  env.NODE_ENV ??= "production";
  const child = fork(join(here, "feed-server.ts"), [JSON.stringify(serverArgs)], { execArgv, env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const log: string[] = [];
  const onLog = (chunk: Buffer) => void log.push(chunk.toString());
  child.stdout!.on("data", onLog);
  child.stderr!.on("data", onLog);
  child.on("exit", () => void writeFile(logPath, log.join("")).catch(() => {}));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start in 10 minutes; log:\n${log.join("").slice(-4000)}`));
    }, 600_000);
    child.on("message", (m: { type: string; url?: string; loadMs?: number; message?: string }) => {
      clearTimeout(timer);
      if (m.type === "ready") resolvePromise({ child, url: m.url!, loadMs: m.loadMs! });
      else reject(new Error(`server failed: ${m.message}\n${log.join("").slice(-4000)}`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before it was ready; log:\n${log.join("").slice(-4000)}`));
    });
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

/** The request mix: known users (uniformly) and a share of unknown ones, at the data's "now". */
function makeBodies(userIds: readonly string[], nowIso: string, count: number, debug: boolean): string[] {
  const bodies: string[] = [];
  let state = 12345;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < count; i++) {
    const unknown = rand() < unknownShare;
    const userId = unknown ? `bench-anon-${i}` : userIds[Math.floor(rand() * userIds.length)];
    const context: Record<string, unknown> = { time: nowIso };
    // Unknown users send what a client knows: device and country; known ones let the profile fill them.
    if (unknown) Object.assign(context, { device: "MOBILE", country: ["US", "GB", "DE", "BR", "IN"][i % 5] });
    bodies.push(JSON.stringify({ query: FEED_QUERY, variables: { userId, first: 20, context, debug } }));
  }
  return bodies;
}

interface LoadOutcome {
  latencies: number[];
  requests: number;
  durationSec: number;
  non200: number;
  graphqlErrors: number;
  fallbacks: Record<string, number>;
  firstError?: string;
}

/** Closed loop over every server at once: the connections split evenly, one autocannon per server. */
async function runLoad(urls: readonly string[], bodies: string[], seconds: number, headers?: readonly Record<string, string>[]): Promise<LoadOutcome> {
  const share = Math.max(1, Math.round(connections / urls.length));
  const parts = await Promise.all(urls.map((url, i) => runLoadOn(url, bodies, seconds, share, i, headers)));
  const fallbacks: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.fallbacks)) fallbacks[k] = (fallbacks[k] ?? 0) + v;
  return {
    latencies: parts.flatMap((p) => p.latencies),
    requests: parts.reduce((n, p) => n + p.requests, 0),
    durationSec: Math.max(...parts.map((p) => p.durationSec)),
    non200: parts.reduce((n, p) => n + p.non200, 0),
    graphqlErrors: parts.reduce((n, p) => n + p.graphqlErrors, 0),
    fallbacks,
    firstError: parts.find((p) => p.firstError)?.firstError,
  };
}

/** `headers`: extra headers of request i are headers[i % headers.length] (credentials: --mode auth). */
async function runLoadOn(url: string, bodies: string[], seconds: number, connectionCount: number, offset: number, headers?: readonly Record<string, string>[]): Promise<LoadOutcome> {
  const latencies: number[] = [];
  const fallbacks: Record<string, number> = {};
  let next = offset * 1024;
  let non200 = 0;
  let graphqlErrors = 0;
  let firstError: string | undefined;
  const instance = autocannon({
    url,
    connections: connectionCount,
    duration: seconds,
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        setupRequest: (req: Record<string, unknown>) => {
          const i = next++;
          const body = bodies[i % bodies.length];
          return headers ? { ...req, body, headers: { "content-type": "application/json", ...headers[i % headers.length] } } : { ...req, body };
        },
        onResponse: (status: number, body: string) => {
          if (status !== 200) {
            non200++;
            firstError ??= `HTTP ${status}: ${body.slice(0, 300)}`;
            return;
          }
          if (body.startsWith('{"errors"') || body.includes('"errors":[')) {
            graphqlErrors++;
            firstError ??= body.slice(0, 300);
          }
          if (body.includes('"fallbacks":[{')) {
            for (const kind of FALLBACK_KINDS) if (body.includes(`"kind":"${kind}"`)) fallbacks[kind] = (fallbacks[kind] ?? 0) + 1;
          }
        },
      },
    ],
  } as autocannon.Options);
  instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => void latencies.push(responseTime));
  const result = await instance;
  return { latencies, requests: latencies.length, durationSec: result.duration, non200, graphqlErrors, fallbacks, firstError };
}

/** Open loop at `rate` requests/s over keep-alive connections opened as needed (node:http: lighter than fetch). */
async function runRate(urls: readonly string[], bodies: string[], rate: number, seconds: number, pids: readonly number[]): Promise<RateResult & { latenciesMs: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const targets = urls.map((u) => new URL(u));
  const fallbacks: Record<string, number> = {};
  const post = (body: string, target: URL): Promise<void> =>
    new Promise((resolvePost, reject) => {
      const req = httpRequest(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
            if (text.startsWith('{"errors"') || text.includes('"errors":[')) return reject(new Error(text.slice(0, 300)));
            if (text.includes('"fallbacks":[{')) for (const kind of FALLBACK_KINDS) if (text.includes(`"kind":"${kind}"`)) fallbacks[kind] = (fallbacks[kind] ?? 0) + 1;
            resolvePost();
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const cpu0 = totalCpuSec(pids);
  const result = await runOpenLoop({ ratePerSec: rate, tasks: Math.max(1, Math.round(rate * seconds)), run: (i) => post(bodies[i % bodies.length], targets[i % targets.length]) });
  const serverCpuPct = ((totalCpuSec(pids) - cpu0) / (result.wallMs / 1000)) * 100;
  agent.destroy();
  if (result.firstError) progress.log(`! open loop at ${rate}/s: ${result.failed} failed; first: ${result.firstError.message}`);
  return { offeredPerSec: rate, startedPerSec: result.startRatePerSec, latency: summarize(result.latenciesMs), failed: result.failed, fallbacks, serverCpuPct, latenciesMs: result.latenciesMs };
}

async function debugRequest(url: string, body: string): Promise<Trace> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  const json = (await res.json()) as { data?: { feed: { trace: Trace } }; errors?: unknown };
  if (!json.data?.feed.trace) throw new Error(`debug request failed: ${JSON.stringify(json.errors ?? json).slice(0, 300)}`);
  return json.data.feed.trace;
}

function stageSummaries(traces: readonly Trace[]): Map<string, Summary> {
  const byStage = new Map<string, number[]>();
  const push = (key: string, v: number) => {
    const list = byStage.get(key);
    if (list) list.push(v);
    else byStage.set(key, [v]);
  };
  for (const t of traces) {
    const sums = new Map<string, number>();
    for (const s of t.stages) {
      const key = stageKey(s.stage);
      push(key, s.latencyMs);
      const group = key.startsWith("filter:") ? "filters (all)" : key.startsWith("rerank:") ? "re-rank (all)" : undefined;
      if (group) sums.set(group, (sums.get(group) ?? 0) + s.latencyMs);
    }
    for (const [k, v] of sums) push(k, v);
    push("total (server trace)", t.totalMs);
  }
  return new Map([...byStage].map(([k, v]) => [k, summarize(v)]));
}

async function benchSize(total: number, baseDir: string, dataset: Awaited<ReturnType<typeof loadDataset>>["dataset"]): Promise<SizeResult> {
  const bundleDir = join(dir, `bundle-${total}`);
  await ensureScaledBundle({ baseDir, dir: bundleDir, total, dataset, progress });
  const varDir = join(dir, `var-${total}`);
  await rm(varDir, { recursive: true, force: true });
  progress.log(`${formatInt(total)} videos: starting ${serverCount > 1 ? `${serverCount} servers on Redis` : "the server"}`);
  // --servers: one Redis key prefix per run, the first server consuming, the rest serving replicas started after it
  // (so the history bootstrap into Redis happens once).
  const redisPrefix = `rf-bench-feed-${process.pid}-${total}:`;
  const configFor = (i: number): Record<string, unknown> =>
    serverCount === 1
      ? serverConfig
      : { ...serverConfig, backends: { redisUrl: args.redis, redisKeyPrefix: redisPrefix }, events: { consume: i === 0 } };
  const servers: Array<{ child: ChildProcess; url: string; loadMs: number }> = [];
  const redisPid = serverCount > 1 ? redisServerPid() : undefined;
  try {
    for (let i = 0; i < serverCount; i++) {
      servers.push(await startServer({ bundleDir, total, seed: 1, varDir: serverCount === 1 ? varDir : join(varDir, `server-${i}`), config: configFor(i) }, join(dir, `server-${total}${i ? `-${i}` : ""}.log`)));
    }
    const { child, url, loadMs } = servers[0];
    const urls = servers.map((x) => x.url);
    const pids = servers.map((x) => x.child.pid!);
    const lastTs = dataset.events.reduce((m, e) => Math.max(m, e.ts), 0);
    // The data's "now" (an hour after its last event): fresh uploads, trending and subscriptions behave as on a
    // live platform instead of a year-old one.
    const nowIso = new Date(lastTs + 3_600_000).toISOString();
    const userIds = dataset.users.map((u) => u.id);
    const bodies = makeBodies(userIds, nowIso, 8192, false);
    const debugBodies = makeBodies(userIds, nowIso, 1024, true);
    progress.log(`${formatInt(total)} videos: server ready in ${(loadMs / 1000).toFixed(1)} s at ${url}; warm-up ${warmupSec} s`);
    if (warmupSec > 0) await runLoad(urls, bodies, warmupSec);
    const before = totalStatus(pids);
    const cpu0 = totalCpuSec(pids);
    const redisCpu0 = redisPid ? procCpuSec(redisPid) : 0;
    const benchCpu0 = process.cpuUsage();
    const t0 = performance.now();

    // Debug sampler alongside the load: a few traced requests per second (their own latency is not counted).
    const loaded: Trace[] = [];
    let sampling = true;
    const sampler = (async () => {
      // Started on a schedule, not one after another: a slow server must not starve the sample (at most 4 in flight).
      let i = 0;
      const inFlight = new Set<Promise<void>>();
      while (sampling && debugRate > 0) {
        await sleep(1000 / debugRate);
        if (!sampling) break;
        if (inFlight.size >= 4) continue;
        const p: Promise<void> = debugRequest(url, debugBodies[i++ % debugBodies.length]).then(
          (trace) => void loaded.push(trace),
          (err: unknown) => progress.log(`! debug sample failed: ${(err as Error).message}`),
        );
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      await Promise.all(inFlight);
    })();
    progress.log(`${formatInt(total)} videos: ${durationSec} s of load, ${connections} connections`);
    if (args["cpu-prof"]) child.send({ type: "profile-start" });
    const load = await runLoad(urls, bodies, durationSec);
    if (args["cpu-prof"]) {
      const path = join(dir, `server-${total}.cpuprofile`);
      const written = new Promise<void>((r) => child.on("message", (m: { type: string }) => m.type === "profiled" && r()));
      child.send({ type: "profile-stop", path });
      await written;
      progress.log(`CPU profile of the load window: ${path} (npx tsx bench/feed-profile.ts ${path})`);
    }
    sampling = false;
    await sampler;
    const wallSec = (performance.now() - t0) / 1000;
    const serverCpuSec = totalCpuSec(pids) - cpu0;
    const redisCpuPct = redisPid ? ((procCpuSec(redisPid) - redisCpu0) / wallSec) * 100 : undefined;
    const serverCpuPct = (serverCpuSec / wallSec) * 100;
    const benchCpu = process.cpuUsage(benchCpu0);
    const benchCpuPct = ((benchCpu.user + benchCpu.system) / 1e6 / wallSec) * 100;
    const after = totalStatus(pids);

    const idle: Trace[] = [];
    for (let i = 0; i < unloadedCount; i++) idle.push(await debugRequest(url, debugBodies[(i * 7) % debugBodies.length]));

    const openLoop: RateResult[] = [];
    for (const rate of rates) {
      progress.log(`${formatInt(total)} videos: open loop at ${rate} requests/s for ${durationSec} s`);
      const { latenciesMs: _raw, ...r } = await runRate(urls, bodies, rate, durationSec, pids);
      openLoop.push(r);
      progress.log(`  started ${r.startedPerSec.toFixed(0)}/s, p50 ${formatMs(r.latency.p50)} ms, p99 ${formatMs(r.latency.p99)} ms, server CPU ${Math.round(r.serverCpuPct)} %`);
      if (r.latency.p99 > 1000) break;
    }
    const all = [...loaded, ...idle];
    const stageMean = (name: string, field: "input" | "output") => {
      const v = all.flatMap((t) => t.stages.filter((s) => stageKey(s.stage) === name).map((s) => s[field]));
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
    };
    if (load.non200 || load.graphqlErrors) progress.log(`! ${load.non200} non-200, ${load.graphqlErrors} GraphQL errors; first: ${load.firstError}`);
    return {
      videos: total,
      loadMs,
      requests: load.requests,
      rps: load.requests / load.durationSec,
      latency: summarize(load.latencies),
      non200: load.non200,
      graphqlErrors: load.graphqlErrors,
      fallbacks: load.fallbacks,
      serverCpuPct,
      serverCpuMsPerRequest: (serverCpuSec * 1000) / Math.max(1, load.requests + loaded.length),
      benchCpuPct,
      serverRssMiB: { beforeLoad: MiB(before.rss), afterLoad: MiB(after.rss), peak: MiB(after.hwm) },
      stagesLoaded: stageSummaries(loaded),
      stagesIdle: stageSummaries(idle),
      funnel: { merged: stageMean("Merge", "output"), ranked: stageMean("Rank", "output") },
      debugSamples: { loaded: loaded.length, idle: idle.length },
      openLoop,
      redisCpuPct,
    };
  } finally {
    await Promise.all(servers.map((x) => stopServer(x.child)));
    if (serverCount > 1) {
      const redis = new Redis(args.redis!, { maxRetriesPerRequest: 1, lazyConnect: true });
      await redis.connect().then(() => deleteKeysWithPrefix(redis, redisPrefix)).catch((err: unknown) => progress.log(`! could not delete ${redisPrefix}*: ${(err as Error).message}`));
      redis.disconnect();
    }
  }
}

const STAGE_ORDER = ["Hydrate", "source:", "Merge", "filter:", "filters (all)", "Rank", "rerank:", "re-rank (all)", "fill:", "PopularityFill", "Page", "total"];
const stageRank = (s: string): number => {
  const i = STAGE_ORDER.findIndex((p) => s === p || s.startsWith(p));
  return i < 0 ? STAGE_ORDER.length : i;
};

/**
 * A target with a rate (p99 ≤ X at ≥ N requests/s) is checked on the open-loop run at that rate, which must have
 * kept its schedule and shed nothing (no OVERLOADED answer); one without (p99 ≤ X) reports the highest swept rate
 * that met it.
 */
function targetVerdict(r: SizeResult): string {
  const t = TARGETS[r.videos];
  if (!t) return "–";
  // A shed request (OVERLOADED: popular videos, nothing ranked) is not the work the target is about.
  const kept = (o: RateResult) => o.startedPerSec >= 0.97 * o.offeredPerSec && o.failed === 0 && !o.fallbacks.OVERLOADED;
  const rps = t.rps;
  if (rps !== undefined) {
    const run = r.openLoop.find((o) => o.offeredPerSec === rps);
    const saturated = r.openLoop.find((o) => o.offeredPerSec < rps && o.latency.p99 > 1000);
    if (!run && saturated) return `MISS: saturated below ${rps}/s (p99 ${formatMs(saturated.latency.p99)} ms at ${formatInt(saturated.offeredPerSec)}/s)`;
    if (!run) return `not run (add ${t.rps} to --rates)`;
    const ok = kept(run) && run.latency.p99 <= t.p99Ms;
    return `${ok ? "MET" : "MISS"}: p99 ${formatMs(run.latency.p99)} ms at ${t.rps}/s (≤ ${t.p99Ms})`;
  }
  const best = r.openLoop.filter((o) => kept(o) && o.latency.p99 <= t.p99Ms).sort((a, b) => b.offeredPerSec - a.offeredPerSec)[0];
  return best ? `MET up to ${formatInt(best.offeredPerSec)}/s (p99 ≤ ${t.p99Ms})` : `MISS (p99 ≤ ${t.p99Ms} at no swept rate)`;
}

/** p50, p95, p99 and max, as table cells. */
const latencyCells = (l: Summary): string[] => [formatMs(l.p50), formatMs(l.p95), formatMs(l.p99), formatMs(l.max)];

function report(results: readonly SizeResult[], command: string): string {
  const lines: string[] = [];
  lines.push(`Machine: ${formatMachine(machine)}`, "", `Command: \`${command}\``, "");
  lines.push(
    `Load: ${durationSec} s per size after ${warmupSec} s of warm-up, ${connections} connections (closed loop, autocannon on loopback, in the ` +
      `same 2-core machine as the server), first: 20, ${Math.round(unknownShare * 100)} % unknown users, 500 candidates ranked.` +
      (serverCount > 1
        ? ` ${serverCount} server processes on Redis (1 consuming, ${serverCount - 1} serving replica${serverCount > 2 ? "s" : ""}), load spread evenly; server CPU and RSS are their sums;` +
          ` redis-server CPU during the closed loop: ${results.map((r) => `${formatInt(r.videos)}: ${r.redisCpuPct === undefined ? "n/a" : `${Math.round(r.redisCpuPct)} %`}`).join(", ")}.`
        : ""),
    "",
  );
  lines.push(
    markdownTable(
      ["videos", "max requests/s (closed loop)", "p50 ms", "p95 ms", "p99 ms", "max ms", "target (open loop)", "server CPU", "server CPU ms/req", "load-gen CPU", "server RSS peak", "bench RSS peak", "start-up"],
      results.map((r) => {
        const target = targetVerdict(r);
        return [
          formatInt(r.videos),
          formatInt(r.rps),
          ...latencyCells(r.latency),
          target,
          `${Math.round(r.serverCpuPct)} %`,
          formatMs(r.serverCpuMsPerRequest),
          `${Math.round(r.benchCpuPct)} %`,
          `${formatInt(r.serverRssMiB.peak)} MiB`,
          `${formatInt(MiB(benchRss.peak()))} MiB`,
          `${(r.loadMs / 1000).toFixed(1)} s`,
        ];
      }),
    ),
    "",
  );
  lines.push(
    `Open loop (requests started on schedule at each rate for ${durationSec} s, latency from the start of each request; the sweep stops past a p99 of 1 s):`,
    "",
    markdownTable(
      ["videos", "offered/s", "started/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "server CPU", "failed", "responses with fallbacks"],
      results.flatMap((r) =>
        r.openLoop.map((o) => [
          formatInt(r.videos),
          formatInt(o.offeredPerSec),
          formatInt(o.startedPerSec),
          ...latencyCells(o.latency),
          `${Math.round(o.serverCpuPct)} %`,
          formatInt(o.failed),
          Object.entries(o.fallbacks).map(([k, v]) => `${k} ${v}`).join(", ") || "none",
        ]),
      ),
    ),
    "",
  );
  for (const r of results) {
    const fb = Object.entries(r.fallbacks).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    lines.push(
      `### ${formatInt(r.videos)} videos`,
      "",
      `${formatInt(r.requests)} requests, ${r.non200} non-200, ${r.graphqlErrors} GraphQL errors; responses with fallbacks: ${fb}. ` +
        `Candidates after merge ${formatInt(r.funnel.merged)}, ranked ${formatInt(r.funnel.ranked)} (means over the traced requests). ` +
        `Server RSS ${formatInt(r.serverRssMiB.beforeLoad)} MiB before load, ${formatInt(r.serverRssMiB.afterLoad)} after, peak (VmHWM, start-up included) ${formatInt(r.serverRssMiB.peak)}.`,
      "",
    );
    const keys = [...new Set([...r.stagesLoaded.keys(), ...r.stagesIdle.keys()])].sort((a, b) => stageRank(a) - stageRank(b) || a.localeCompare(b));
    lines.push(
      markdownTable(
        ["stage", "mean ms (load)", "p50 (load)", "p99 (load)", "mean ms (idle)", "p99 (idle)"],
        keys.map((k) => {
          const l = r.stagesLoaded.get(k);
          const i = r.stagesIdle.get(k);
          return [k, formatMs(l?.mean ?? NaN), formatMs(l?.p50 ?? NaN), formatMs(l?.p99 ?? NaN), formatMs(i?.mean ?? NaN), formatMs(i?.p99 ?? NaN)];
        }),
      ),
      "",
      `(${r.debugSamples.loaded} traced requests under load, ${r.debugSamples.idle} on the idle server; sources run in parallel, so their latencies overlap.)`,
      "",
    );
  }
  return lines.join("\n");
}

// ─── --mode auth and --mode catalog-load: A/B comparisons inside one run ───────────────────────────────────────

interface RunningServer {
  child: ChildProcess;
  url: string;
  loadMs: number;
}

/** Sends `message` to a feed-server child and resolves with its first answer of type `reply`. */
function ask<T extends { type: string }>(child: ChildProcess, message: object, reply: string): Promise<T> {
  return new Promise((resolveAsk) => {
    const onMessage = (m: T) => {
      if (m.type !== reply) return;
      child.off("message", onMessage);
      resolveAsk(m);
    };
    child.on("message", onMessage);
    child.send(message);
  });
}

/**
 * Runs `phase` with the server's CPU profiler on (sampling every `intervalUs`), writing the profile to `path`; also
 * the CPU time of the server's main thread and of the whole process over the phase.
 *
 * The profiler samples on wall time: on a box with more runnable threads than cores, a sample's interval includes
 * time the thread waited for a core, so profile milliseconds are not CPU milliseconds. The share of busy samples a
 * piece of code has is still its share of the main thread's CPU (waiting hits every piece of code alike), so CPU
 * per group = its share of busy samples × the main thread's CPU time (/proc/<pid>/task/<pid>): `cpuUs` below.
 */
async function profiled<T>(server: RunningServer, path: string, intervalUs: number, phase: () => Promise<T>): Promise<{ result: T; profile: CpuProfile; mainCpuSec: number; processCpuSec: number }> {
  const pid = server.child.pid!;
  server.child.send({ type: "profile-start", intervalUs });
  const main0 = procCpuSec(pid, pid);
  const all0 = procCpuSec(pid);
  const result = await phase();
  const mainCpuSec = procCpuSec(pid, pid) - main0;
  const processCpuSec = procCpuSec(pid) - all0;
  await ask(server.child, { type: "profile-stop", path }, "profiled");
  return { result, profile: JSON.parse(readFileSync(path, "utf8")) as CpuProfile, mainCpuSec, processCpuSec };
}

/** A group's main-thread CPU time, µs: its share of the profile's busy samples × the main thread's CPU time. */
const cpuUs = (shares: ProfileShares, group: number, mainCpuSec: number): number => (shares.busyUs > 0 ? (group / shares.busyUs) * mainCpuSec * 1e6 : 0);

interface ClosedPhase {
  requests: number;
  cpuSec: number;
  wallSec: number;
  latencies: number[];
  errors: number;
  firstError?: string;
}

/** One closed-loop phase against one server: its requests, latencies and the server's CPU time (all threads). */
async function closedPhase(server: RunningServer, bodies: string[], seconds: number, headers?: readonly Record<string, string>[]): Promise<ClosedPhase> {
  const pid = server.child.pid!;
  const cpu0 = procCpuSec(pid);
  const t0 = performance.now();
  const load = await runLoadOn(server.url, bodies, seconds, connections, 0, headers);
  return {
    requests: load.requests,
    cpuSec: procCpuSec(pid) - cpu0,
    wallSec: (performance.now() - t0) / 1000,
    latencies: load.latencies,
    errors: load.non200 + load.graphqlErrors,
    firstError: load.firstError,
  };
}

const cpuMsPerRequest = (phases: readonly { cpuSec: number; requests: number }[]): number =>
  (phases.reduce((s, p) => s + p.cpuSec, 0) * 1000) / Math.max(1, phases.reduce((s, p) => s + p.requests, 0));
const pct = (x: number, digits = 2): string => `${(x * 100).toFixed(digits)} %`;

/** Mean and the half-width of a ~95 % interval (2 standard errors) of paired differences. */
function meanInterval(values: readonly number[]): { mean: number; half: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length < 2) return { mean, half: NaN };
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
  return { mean, half: (2 * sd) / Math.sqrt(values.length) };
}

/**
 * The code that is issue 12's checks: credentials → API key (SHA-256, timingSafeEqual) or user token (jose) → rate
 * limits (rate-limiter-flexible) → the operation guard (shape, scopes, acting-for, cost). All of it lives in
 * src/auth/ and the two libraries; src/server.ts's caller() only calls them.
 */
const AUTH_GROUPS = {
  "all checks": urlContains("/src/auth/", "/node_modules/jose/", "/node_modules/rate-limiter-flexible/"),
  "operation guard": urlContains("/src/auth/operation-guard.ts"),
  "rate limits": urlContains("/src/auth/rate-limits.ts", "/node_modules/rate-limiter-flexible/"),
  "credentials + key / token": urlContains("/src/auth/authenticator.ts", "/src/auth/credentials.ts", "/src/auth/api-keys.ts", "/src/auth/user-tokens.ts", "/node_modules/jose/"),
};

/**
 * --mode auth (issue 12: "auth and limit checks cost < 2 % of request CPU"). Two servers of the same size: one with
 * auth.mode "off", one with auth as production runs it — a keys file (20 hashed keys, ours `feed:read` only) and
 * HS256 user tokens, per-key and per-user rate limits counted on every request (budgets too high to ever refuse),
 * the operation guard (always on, in both). Closed-loop phases of `--phase` seconds alternate off / API key / user
 * token, the order rotated each round, so drift of this shared box spreads over all three; each phase's CPU is the
 * server process's (all threads, /proc) over its requests. Then one phase per variant with the CPU profiler on
 * (100 µs sampling) attributes the main thread's time to the auth code directly.
 */
async function benchAuth(total: number, baseDir: string, dataset: Awaited<ReturnType<typeof loadDataset>>["dataset"]): Promise<{ md: string; failed: boolean }> {
  const bundleDir = join(dir, `bundle-${total}`);
  await ensureScaledBundle({ baseDir, dir: bundleDir, total, dataset, progress });
  const varDir = join(dir, `var-auth-${total}`);
  await rm(varDir, { recursive: true, force: true });
  await mkdir(varDir, { recursive: true });
  const keysFile = join(varDir, "keys.json");
  const keys = Array.from({ length: 20 }, () => generateApiKey());
  await writeKeyFile(keysFile, keys.map((k, i) => ({ id: `partner-${i}`, hash: hashApiKey(k), scopes: ["feed:read"] as Scope[] })));
  const jwt = { secret: randomBytes(32).toString("hex"), issuer: "https://id.bench.example", audience: "reelfeed" };
  const unlimited = { perSecond: 1_000_000_000, burst: 0 };
  const onConfig = { ...serverConfig, auth: { keysFile, jwt }, limits: { rate: { perKey: unlimited, perUser: unlimited } } };
  const offConfig = { ...serverConfig, auth: { mode: "off" } };

  const lastTs = dataset.events.reduce((m, e) => Math.max(m, e.ts), 0);
  const bodies = makeBodies(dataset.users.map((u) => u.id), new Date(lastTs + 3_600_000).toISOString(), 8192, false);
  // A viewer's token per body, its subject the body's userId (a token may only ask for its own feed).
  const secret = new TextEncoder().encode(jwt.secret);
  const tokens = new Map<string, string>();
  const tokenHeaders: Record<string, string>[] = [];
  for (const body of bodies) {
    const userId = (JSON.parse(body) as { variables: { userId: string } }).variables.userId;
    let token = tokens.get(userId);
    if (!token) {
      token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setIssuer(jwt.issuer).setAudience(jwt.audience).setIssuedAt().setExpirationTime("2h").sign(secret);
      tokens.set(userId, token);
    }
    tokenHeaders.push({ authorization: `Bearer ${token}` });
  }
  const keyHeaders = [{ authorization: `Bearer ${keys[keys.length - 1]}` }];

  const servers: RunningServer[] = [];
  try {
    progress.log(`auth: ${formatInt(total)} videos: starting the auth-off and the auth-on server`);
    const off = await startServer({ bundleDir, total, seed: 1, varDir: join(varDir, "off"), config: offConfig }, join(dir, `server-auth-off-${total}.log`));
    servers.push(off);
    const on = await startServer({ bundleDir, total, seed: 1, varDir: join(varDir, "on"), config: onConfig }, join(dir, `server-auth-on-${total}.log`));
    servers.push(on);
    const variants = [
      { name: "auth off (auth.mode \"off\")", server: off, headers: undefined },
      { name: "API key (Bearer, feed:read) + per-key limit", server: on, headers: keyHeaders },
      { name: "user token (HS256 JWT) + per-user limit", server: on, headers: tokenHeaders },
    ];
    // Every viewer's token seen once before anything is measured: a client sends the same token all session and the
    // authenticator remembers verified ones until their exp (bench:auth measures the first sight). `{ __typename }`
    // authenticates and costs nothing else.
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const distinct = [...tokens.values()];
    for (let i = 0; i < distinct.length; i += 8) {
      await Promise.all(
        distinct.slice(i, i + 8).map(async (token) => {
          const { status, text } = await post(agent, new URL(on.url), '{"query":"{ __typename }"}', "application/json", { authorization: `Bearer ${token}` });
          if (status !== 200 || text.includes('"errors"')) throw new Error(`token warm-up: HTTP ${status}: ${text.slice(0, 300)}`);
        }),
      );
    }
    agent.destroy();
    return await compareVariants({
      label: "auth",
      total,
      variants,
      bodies,
      groups: AUTH_GROUPS,
      intro: `Auth on vs off, ${formatInt(total)} videos`,
      profileNote: "Auth off runs the operation guard too (it is always on).",
      shareGroup: "all checks",
    });
  } finally {
    await Promise.all(servers.map((x) => stopServer(x.child)));
  }
}

/** One side of a --mode auth / experiments comparison: a running server and the headers its requests carry. */
interface ComparedVariant {
  name: string;
  server: RunningServer;
  headers?: readonly Record<string, string>[];
}

/**
 * The measurement --mode auth and --mode experiments share: warm-up, then `rounds` closed-loop phases per variant
 * (order rotated each round, so every variant sees the same state of a noisy box), then one profiled phase each.
 * Reports server CPU per request per variant, the difference to the first (the baseline), and the CPU the profile
 * attributes to each of `groups` with `shareGroup`'s share of the request's CPU.
 */
async function compareVariants(options: {
  label: string;
  total: number;
  variants: readonly ComparedVariant[];
  bodies: string[];
  groups: Record<string, FrameGroup>;
  intro: string;
  profileNote: string;
  shareGroup: string;
}): Promise<{ md: string; failed: boolean }> {
  const { label, total, variants, bodies, groups, intro, profileNote, shareGroup } = options;
  // Warm-up: JIT and caches.
  for (const v of variants) {
    const w = await closedPhase(v.server, bodies, Math.max(2, warmupSec), v.headers);
    if (w.errors) throw new Error(`${v.name}: warm-up failed: ${w.firstError}`);
  }
  const phases: ClosedPhase[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (r + k) % variants.length;
      const p = await closedPhase(variants[i].server, bodies, phaseSec, variants[i].headers);
      phases[i].push(p);
      progress.log(`${label} round ${r + 1}/${rounds}: ${variants[i].name}: ${formatInt(p.requests / p.wallSec)} req/s, ${formatMs((p.cpuSec * 1000) / p.requests)} ms CPU/request`);
    }
  }
  const profiles: Array<{ shares: ProfileShares; mainCpuSec: number; processCpuSec: number }> = [];
  const profiledPhases: ClosedPhase[] = [];
  for (const [i, v] of variants.entries()) {
    const { result, profile, mainCpuSec, processCpuSec } = await profiled(v.server, join(dir, `server-${label}-${i}-${total}.cpuprofile`), 100, () =>
      closedPhase(v.server, bodies, phaseSec, v.headers),
    );
    profiledPhases.push(result);
    profiles.push({ shares: profileShares(profile, groups), mainCpuSec, processCpuSec });
  }
  const errors = [...phases.flat(), ...profiledPhases].reduce((n, p) => n + p.errors, 0);
  const firstError = [...phases.flat(), ...profiledPhases].find((p) => p.firstError)?.firstError;
  if (errors) progress.log(`! ${errors} failed requests; first: ${firstError}`);

  const baseCpu = cpuMsPerRequest(phases[0]);
  const lines: string[] = [];
  lines.push(
    `${intro}: ${rounds} rounds × ${phaseSec} s closed-loop phases per variant (${connections} connections, ` +
      `order rotated each round), after ${Math.max(2, warmupSec)} s of warm-up each. CPU per request = the server process's ` +
      `CPU time (user + system, all threads, /proc) over the requests of its phases. ${errors} failed requests.`,
    "",
    markdownTable(
      ["variant", "requests", "req/s", "p50 ms", "p99 ms", "server CPU ms / request", "per round", `Δ vs ${variants[0].name} (share of its CPU)`, "paired Δ per round, mean ± 2 SE"],
      variants.map((v, i) => {
        const ps = phases[i];
        const cpu = cpuMsPerRequest(ps);
        const lat = summarize(ps.flatMap((p) => p.latencies));
        const paired = meanInterval(ps.map((p, r) => (p.cpuSec * 1000) / p.requests - (phases[0][r].cpuSec * 1000) / phases[0][r].requests));
        return [
          v.name,
          formatInt(ps.reduce((n, p) => n + p.requests, 0)),
          formatInt(ps.reduce((n, p) => n + p.requests, 0) / ps.reduce((n, p) => n + p.wallSec, 0)),
          formatMs(lat.p50),
          formatMs(lat.p99),
          cpu.toFixed(2),
          ps.map((p) => ((p.cpuSec * 1000) / p.requests).toFixed(2)).join(" / "),
          i === 0 ? "—" : `${(cpu - baseCpu).toFixed(2)} ms (${pct((cpu - baseCpu) / cpu, 1)})`,
          i === 0 ? "—" : `${paired.mean.toFixed(2)} ± ${paired.half.toFixed(2)} ms`,
        ];
      }),
    ),
    "",
    `CPU profile of one more ${phaseSec} s phase per variant (main thread, 100 µs sampling): CPU time with each group's code on the stack per request ` +
      `(its share of the busy samples × the main thread's CPU time, /proc; see profiled() for why not the profile's own milliseconds), and as a share ` +
      `of the same phase's server CPU per request (all threads). ${profileNote}`,
    "",
    markdownTable(
      ["variant", "requests", "server CPU ms / req", "main thread", ...Object.keys(groups).map((g) => `${g} µs / req`), `${shareGroup}, share of request CPU`],
      variants.map((v, i) => {
        const { shares, mainCpuSec, processCpuSec } = profiles[i];
        const n = Math.max(1, profiledPhases[i].requests);
        const per = (g: string) => cpuUs(shares, shares.groups[g], mainCpuSec) / n;
        return [
          v.name,
          formatInt(profiledPhases[i].requests),
          ((processCpuSec * 1000) / n).toFixed(2),
          pct(mainCpuSec / processCpuSec, 0),
          ...Object.keys(groups).map((g) => per(g).toFixed(1)),
          pct(per(shareGroup) / ((processCpuSec * 1e6) / n)),
        ];
      }),
    ),
    "",
  );
  return { md: lines.join("\n"), failed: errors > 0 };
}

/** Main-thread time with the experiments code on the stack (--mode experiments' profile). */
const EXPERIMENT_GROUPS: Record<string, FrameGroup> = {
  "experiments (assignment, exposure, counters)": urlContains("/src/experiments/"),
};

/**
 * --mode experiments (issue 13: "the per-request cost of assignment and exposure logging is measured in bench:feed").
 * Two servers of the same size: one without experiments, one running six at full traffic — five A/A experiments
 * (two variants, no overrides) and one whose second variant overrides the blend (its own pipeline) — so every
 * request is assigned six times, carries six exposures into its trace, answer and logged impressions, and counts
 * its request in the per-variant counters. Same bodies, alternated phases (compareVariants).
 */
async function benchExperiments(total: number, baseDir: string, dataset: Awaited<ReturnType<typeof loadDataset>>["dataset"]): Promise<{ md: string; failed: boolean }> {
  const bundleDir = join(dir, `bundle-${total}`);
  await ensureScaledBundle({ baseDir, dir: bundleDir, total, dataset, progress });
  const varDir = join(dir, `var-experiments-${total}`);
  await rm(varDir, { recursive: true, force: true });
  await mkdir(varDir, { recursive: true });
  const definitions = [
    ...Array.from({ length: 5 }, (_, i) => ({ name: `aa-${i}`, variants: [{ name: "control" }, { name: "same" }] })),
    { name: "blend", variants: [{ name: "control" }, { name: "likes", overrides: { ranking: { blend: { like: 1.0 } } } }] },
  ];
  const lastTs = dataset.events.reduce((m, e) => Math.max(m, e.ts), 0);
  const bodies = makeBodies(dataset.users.map((u) => u.id), new Date(lastTs + 3_600_000).toISOString(), 8192, false);
  const servers: RunningServer[] = [];
  try {
    progress.log(`experiments: ${formatInt(total)} videos: starting the server without and the one with experiments`);
    const none = await startServer({ bundleDir, total, seed: 1, varDir: join(varDir, "none"), config: serverConfig }, join(dir, `server-experiments-none-${total}.log`));
    servers.push(none);
    const six = await startServer(
      { bundleDir, total, seed: 1, varDir: join(varDir, "six"), config: { ...serverConfig, experiments: { definitions } } },
      join(dir, `server-experiments-six-${total}.log`),
    );
    servers.push(six);
    return await compareVariants({
      label: "experiments",
      total,
      variants: [
        { name: "no experiments", server: none },
        { name: "6 experiments (5 A/A, 1 blend override)", server: six },
      ],
      bodies,
      groups: EXPERIMENT_GROUPS,
      intro: `Experiments on vs off, ${formatInt(total)} videos`,
      profileNote: "Exposure fields written by the impression logger and the schema are outside src/experiments and not counted (a field copy each).",
      shareGroup: "experiments (assignment, exposure, counters)",
    });
  } finally {
    await Promise.all(servers.map((x) => stopServer(x.child)));
  }
}

/** Main-thread time of the serving process by what was on the stack (--mode catalog-load's profile). */
const CATALOG_GROUPS: Record<string, FrameGroup> = {
  "catalogue (all)": urlContains("/src/catalog/", "/src/events/catalog-endpoint.ts"),
  "POST /catalog parse + validate": urlContains("/src/events/catalog-endpoint.ts", "/src/catalog/validate-catalog.ts"),
  "content embedding": [urlContains("/src/catalog/video-embedder.ts"), urlContains("/src/features/content-embeddings")],
  "video tower (rows + ONNX call)": [urlContains("/src/catalog/video-embedder.ts"), urlContains("/src/features/rows", "/src/ranking/onnx-session", "onnxruntime")],
  "catalog puts": [urlContains("/src/catalog/catalog-applier.ts"), urlContains("/src/data/catalog.ts")],
  "vector index writes": [urlContains("/src/catalog/catalog-applier.ts"), urlContains("/src/stores/vector-index")],
  // The slices a background IVF rebuild runs on this thread (all of it without a build thread; with one, copying
  // the rows out and the swap): runSliced is on the stack of every slice.
  "vector index rebuilds (this thread's slices)": urlContains("/src/stores/vector-time-slices.ts"),
  "catalogue log append": [urlContains("/src/catalog/catalog-writer.ts"), urlContains("/src/stores/event-log-")],
  "log reads (both consumers)": [urlContains("/src/events/consumer.ts"), urlContains("/src/stores/event-log-")],
  "feed: GraphQL + pipeline": urlContains("/src/pipeline/", "/src/schema/", "/node_modules/graphql/", "/node_modules/@apollo/"),
  "feed: vector search": [urlContains("/src/sources/"), urlContains("/src/stores/vector-index")],
  "feed: ranking": [urlContains("/src/pipeline/", "/src/ranking/rank"), urlContains("/src/ranking/")],
  "garbage collector": (f) => f.functionName === "(garbage collector)",
};

interface CatalogPhase {
  load: boolean;
  feed: number[];
  feedFailed: number;
  feedFirstError?: string;
  feedStarted: number;
  servingCpuSec: number;
  /** The serving process's main thread only (the event loop that answers the feed). */
  servingMainCpuSec: number;
  writerCpuSec: number;
  wallSec: number;
  loop: { p50Ms: number; p99Ms: number; maxMs: number };
  catalog?: { videos: number; seconds: number; ackMs: number[]; failed: number; firstError?: string };
}

/**
 * One POST on a keep-alive agent. A reused socket that the server closed as idle just as the request went out fails
 * with ECONNRESET before the server read anything (Node's http docs, `request.reusedSocket`): that request is sent
 * once more (at most once, and only before any response arrived); any other error fails it.
 */
function post(agent: Agent, target: URL, body: string, contentType: string, headers: Record<string, string> = {}, retried = false): Promise<{ status: number; text: string }> {
  return new Promise((resolvePost, reject) => {
    let responded = false;
    const req = httpRequest(
      { agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { ...headers, "content-type": contentType, "content-length": Buffer.byteLength(body) } },
      (res) => {
        responded = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolvePost({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (!retried && !responded && req.reusedSocket && err.code === "ECONNRESET") post(agent, target, body, contentType, headers, true).then(resolvePost, reject);
      else reject(err);
    });
    req.end(body);
  });
}

interface PacedResult {
  latenciesMs: number[];
  started: number;
  failed: number;
  firstError?: string;
  wallMs: number;
}

/**
 * Starts `run` on a fixed schedule (`ratePerSec`) for `seconds`, like an open loop, but with at most `maxInFlight`
 * unfinished: a start that falls due while that many run waits for one to finish. Below capacity it is an open loop
 * at the rate; past it, a closed loop of `maxInFlight`. Latency is from the actual start, so it is the service time
 * under whatever else runs, not a queue that grows without bound once a 2-core box shared with other jobs cannot
 * keep the rate (an open loop then measures only how long the phase lasted).
 */
async function runPaced(options: { ratePerSec: number; seconds: number; maxInFlight: number; run: (i: number) => Promise<void> }): Promise<PacedResult> {
  const { ratePerSec, seconds, maxInFlight, run } = options;
  const intervalMs = 1000 / ratePerSec;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const latenciesMs: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  let firstError: string | undefined;
  let started = 0;
  for (let i = 0; t0 + i * intervalMs < end; i++) {
    const wait = t0 + i * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    if (performance.now() >= end) break;
    const s0 = performance.now();
    started++;
    const p: Promise<void> = run(i).then(
      () => void latenciesMs.push(performance.now() - s0),
      (err: unknown) => {
        failed++;
        firstError ??= (err as Error).message;
      },
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
  return { latenciesMs, started, failed, firstError, wallMs: performance.now() - t0 };
}

/**
 * --mode catalog-load (issue 11: "no change to feed latency while a catalogue load runs"). Per deployment:
 * - embedded: one server; the catalogue load is POST /catalog (NDJSON, `--catalog-batch` videos a request) to the
 *   serving process itself, which logs, embeds (content model + ONNX video tower) and indexes before it answers.
 * - redis: the serving instance (consumes the event log) and a second, writer instance (events.consume false) on one
 *   Redis key prefix; the load goes to the writer, which acknowledges into the catalogue stream; the serving
 *   instance follows the stream and applies (embeds, indexes) every change itself, as every replica does.
 * Phases of `--phase` seconds alternate quiet / load (order flipped each round): the feed at `--feed-rate` requests/s
 * throughout (at most `--feed-concurrency` in flight), the catalogue at `--catalog-rate` videos/s in load phases (at
 * most `--catalog-concurrency` batches in flight); see runPaced. Then one quiet and one load phase with the serving
 * process's CPU profiler on attribute its main thread's time.
 */
async function benchCatalogLoad(total: number, baseDir: string, dataset: Awaited<ReturnType<typeof loadDataset>>["dataset"], deployment: "embedded" | "redis"): Promise<{ md: string; failed: boolean }> {
  const bundleDir = join(dir, `bundle-${total}`);
  await ensureScaledBundle({ baseDir, dir: bundleDir, total, dataset, progress });
  const varDir = join(dir, `var-catalog-${deployment}-${total}`);
  await rm(varDir, { recursive: true, force: true });
  const prefix = `rf-bench-feedcat-${process.pid}-${total}:`;
  const base = { ...serverConfig, auth: { mode: "off" } };
  const redisBackends = { redisUrl: args.redis, redisKeyPrefix: prefix };
  const lastTs = dataset.events.reduce((m, e) => Math.max(m, e.ts), 0);
  const bodies = makeBodies(dataset.users.map((u) => u.id), new Date(lastTs + 3_600_000).toISOString(), 8192, false);
  // New uploads from the bundle's own vocabulary (the content model has real work), ids unique to this run.
  const words = dataset.videos.flatMap((v) => v.title.split(/\s+/)).filter((w) => w.length > 2);
  const tags = [...new Set(dataset.videos.flatMap((v) => v.tags))];
  const pick = <T>(list: readonly T[], i: number): T => list[(i * 2654435761) % list.length];
  const run = randomBytes(3).toString("hex");
  let nextVideo = 0;
  const catalogBody = (): string =>
    Array.from({ length: catalogBatch }, () => {
      const i = nextVideo++;
      const now = Date.now();
      return JSON.stringify({
        kind: "video",
        id: `up-${run}-${i}`,
        creatorId: pick(dataset.creators, i).id,
        title: `${pick(words, i)} ${pick(words, i + 7)} ${pick(words, i + 13)}`,
        tags: [pick(tags, i), pick(tags, i + 3)],
        category: pick(dataset.videos, i).category,
        language: "en",
        durationSec: 30 + (i % 900),
        uploadedAt: now - 1000,
        updatedAt: now,
      });
    }).join("\n");

  const servers: RunningServer[] = [];
  try {
    progress.log(`catalog-load ${deployment}: ${formatInt(total)} videos: starting ${deployment === "redis" ? "the serving and the writer instance" : "the server"}`);
    const serving = await startServer(
      { bundleDir, total, seed: 1, varDir: join(varDir, "serving"), config: deployment === "redis" ? { ...base, backends: redisBackends, events: { consume: true } } : base },
      join(dir, `server-catalog-${deployment}-${total}.log`),
    );
    servers.push(serving);
    const writer =
      deployment === "redis"
        ? await startServer({ bundleDir, total, seed: 1, varDir: join(varDir, "writer"), config: { ...base, backends: redisBackends, events: { consume: false } } }, join(dir, `server-catalog-writer-${total}.log`))
        : serving;
    if (writer !== serving) servers.push(writer);
    if (args.pin) {
      if (writer === serving) throw new Error("--pin needs --deployments redis: the embedded deployment is one process");
      // Every thread (-a) of each process: the serving instance alone on CPU 0; the writer and this process on CPU 1.
      const pin = (cpu: number, pid: number) => execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
      pin(0, serving.child.pid!);
      pin(1, writer.child.pid!);
      pin(1, process.pid);
    }
    const catalogTarget = new URL(writer.url.replace(/\/graphql$/, "/catalog"));

    /** The catalogue load: batches started on schedule (open loop) for `seconds`, each checked all ACCEPTED. */
    const catalogLoad = async (seconds: number, ratePerSec = catalogRate / catalogBatch): Promise<NonNullable<CatalogPhase["catalog"]>> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 256 });
      let videos = 0;
      const result = await runPaced({
        ratePerSec,
        seconds,
        maxInFlight: catalogConcurrency,
        run: async () => {
          const { status, text } = await post(agent, catalogTarget, catalogBody(), "application/x-ndjson");
          const results = status === 200 ? (JSON.parse(text) as { results: Array<{ status: string }> }).results : undefined;
          if (!results || results.some((r) => r.status !== "ACCEPTED")) throw new Error(`POST /catalog: HTTP ${status}: ${text.slice(0, 300)}`);
          videos += results.length;
        },
      });
      agent.destroy();
      return { videos, seconds: result.wallMs / 1000, ackMs: result.latenciesMs, failed: result.failed, firstError: result.firstError };
    };

    /** The feed: `--feed-rate` requests/s, at most `--feed-concurrency` in flight; a non-200 or GraphQL error fails. */
    const feedTarget = new URL(serving.url);
    const feedLoad = async (seconds: number): Promise<PacedResult> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 64 });
      const result = await runPaced({
        ratePerSec: feedRate,
        seconds,
        maxInFlight: feedConcurrency,
        run: async (i) => {
          const { status, text } = await post(agent, feedTarget, bodies[i % bodies.length], "application/json");
          if (status !== 200 || text.startsWith('{"errors"') || text.includes('"errors":[')) throw new Error(`feed: HTTP ${status}: ${text.slice(0, 300)}`);
        },
      });
      agent.destroy();
      return result;
    };

    const phase = async (load: boolean): Promise<CatalogPhase> => {
      const sPid = serving.child.pid!;
      const wPid = writer.child.pid!;
      serving.child.send({ type: "loop-reset" });
      const cpu0 = procCpuSec(sPid);
      const main0 = procCpuSec(sPid, sPid);
      const wCpu0 = writer === serving ? 0 : procCpuSec(wPid);
      const t0 = performance.now();
      const [feed, catalog] = await Promise.all([feedLoad(phaseSec), load ? catalogLoad(phaseSec) : undefined]);
      const wallSec = (performance.now() - t0) / 1000;
      const servingCpuSec = procCpuSec(sPid) - cpu0;
      const servingMainCpuSec = procCpuSec(sPid, sPid) - main0;
      const writerCpuSec = writer === serving ? 0 : procCpuSec(wPid) - wCpu0;
      const loop = await ask<{ type: string; p50Ms: number; p99Ms: number; maxMs: number }>(serving.child, { type: "loop-read" }, "loop");
      return { load, feed: feed.latenciesMs, feedFailed: feed.failed, feedFirstError: feed.firstError, feedStarted: feed.started / phaseSec, servingCpuSec, servingMainCpuSec, writerCpuSec, wallSec, loop, catalog };
    };

    progress.log(`catalog-load ${deployment}: warm-up (feed ${warmupSec} s, then a short catalogue load)`);
    if (warmupSec > 0) await runLoad([serving.url], bodies, warmupSec);
    const warm = await catalogLoad(2, 5);
    if (warm.failed) throw new Error(`catalogue warm-up failed: ${warm.firstError}`);
    const phases: CatalogPhase[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const load of r % 2 === 0 ? [false, true] : [true, false]) {
        const p = await phase(load);
        phases.push(p);
        const s = summarize(p.feed);
        progress.log(
          `catalog-load ${deployment} round ${r + 1}/${rounds} ${load ? "load " : "quiet"}: feed p50 ${formatMs(s.p50)} p99 ${formatMs(s.p99)} ms` +
            (p.catalog ? `, catalogue ${formatInt(p.catalog.videos / p.catalog.seconds)} videos/s (ack p99 ${formatMs(summarize(p.catalog.ackMs).p99)} ms)` : "") +
            `, loop delay p99 ${formatMs(p.loop.p99Ms)} ms`,
        );
      }
    }
    const prof: Array<{ phase: CatalogPhase; shares: ProfileShares; mainCpuSec: number }> = [];
    for (const load of [false, true]) {
      const { result, profile, mainCpuSec } = await profiled(serving, join(dir, `server-catalog-${deployment}-${load ? "load" : "quiet"}-${total}.cpuprofile`), 1000, () => phase(load));
      prof.push({ phase: result, shares: profileShares(profile, CATALOG_GROUPS), mainCpuSec });
    }

    const failures = phases.reduce((n, p) => n + p.feedFailed + (p.catalog?.failed ?? 0), 0);
    const firstError = phases.find((p) => p.feedFailed)?.feedFirstError ?? phases.find((p) => p.catalog?.failed)?.catalog?.firstError;
    if (failures) progress.log(`! ${failures} failed requests; first: ${firstError}`);
    const ps0 = (all: readonly CatalogPhase[]) =>
      [false, true].map((load) => `${all.filter((p) => p.load === load).map((p) => p.feedStarted.toFixed(0)).join(" / ")} req/s ${load ? "loaded" : "quiet"}`).join(", ");
    const row = (load: boolean): string[] => {
      const ps = phases.filter((p) => p.load === load);
      const lat = summarize(ps.flatMap((p) => p.feed));
      const requests = ps.reduce((n, p) => n + p.feed.length, 0);
      const wall = ps.reduce((n, p) => n + p.wallSec, 0);
      const cat = ps.flatMap((p) => (p.catalog ? [p.catalog] : []));
      const videos = cat.reduce((n, c) => n + c.videos, 0);
      const ack = summarize(cat.flatMap((c) => c.ackMs));
      return [
        load ? `catalogue load (${formatInt(catalogRate)} videos/s offered)` : "quiet",
        formatInt(requests),
        ps.map((p) => formatMs(summarize(p.feed).p50)).join(" / "),
        formatMs(lat.p50),
        formatMs(lat.p99),
        formatMs(lat.max),
        ((ps.reduce((n, p) => n + p.servingCpuSec, 0) * 1000) / Math.max(1, requests)).toFixed(1),
        `${Math.round((ps.reduce((n, p) => n + p.servingCpuSec, 0) / wall) * 100)} %`,
        `${Math.round((ps.reduce((n, p) => n + p.servingMainCpuSec, 0) / wall) * 100)} % (${((ps.reduce((n, p) => n + p.servingMainCpuSec, 0) * 1000) / Math.max(1, requests)).toFixed(1)} ms / req)`,
        deployment === "redis" ? `${Math.round((ps.reduce((n, p) => n + p.writerCpuSec, 0) / wall) * 100)} %` : "—",
        `${formatMs(Math.max(...ps.map((p) => p.loop.p99Ms)))} / ${formatMs(Math.max(...ps.map((p) => p.loop.maxMs)))}`,
        cat.length ? `${formatInt(videos / cat.reduce((n, c) => n + c.seconds, 0))} (${formatInt(videos)})` : "—",
        cat.length ? `${formatMs(ack.p50)} / ${formatMs(ack.p99)}` : "—",
      ];
    };
    const lines: string[] = [];
    lines.push(
      `Catalogue load beside the feed, ${deployment === "redis" ? `Redis: serving instance + writer instance${args.pin ? " (pinned: the serving instance on CPU 0, the writer and the load generator on CPU 1)" : ""}` : "embedded: one process"}, ${formatInt(total)} videos: ` +
        `${rounds} rounds of a quiet and a load phase (${phaseSec} s each, order flipped each round); feed at ${feedRate} requests/s (at most ${feedConcurrency} in flight), ` +
        `achieved ${ps0(phases)}; catalogue ${formatInt(catalogRate)} videos/s offered in batches of ${catalogBatch} (POST /catalog, at most ${catalogConcurrency} in flight) ` +
        `to ${deployment === "redis" ? "the writer instance" : "the serving process"}. ` +
        `${failures} failed requests.`,
      "",
      markdownTable(
        ["phase", "feed requests", "feed p50 per phase", "feed p50 ms", "feed p99 ms", "feed max ms", "serving CPU ms / feed request", "serving CPU", "serving main thread CPU", "writer CPU", "loop delay p99 / max ms", "videos/s (added)", "ack p50 / p99 ms"],
        [row(false), row(true)],
      ),
      "",
      `Serving process's main thread by what was on the stack (CPU profile of one more quiet and one more load phase; CPU ms = share of busy samples × ` +
        `the main thread's CPU time; per second of the phase, and per feed request):`,
      "",
      markdownTable(
        ["code", "quiet CPU ms/s", "load CPU ms/s", "quiet CPU ms / feed req", "load CPU ms / feed req"],
        [
          ["main thread (all)", ...prof.map((p) => formatMs((p.mainCpuSec * 1000) / p.phase.wallSec)), ...prof.map((p) => formatMs((p.mainCpuSec * 1000) / Math.max(1, p.phase.feed.length)))],
          ...Object.keys(CATALOG_GROUPS).map((g) => [
            g,
            ...prof.map((p) => formatMs(cpuUs(p.shares, p.shares.groups[g], p.mainCpuSec) / 1000 / p.phase.wallSec)),
            ...prof.map((p) => formatMs(cpuUs(p.shares, p.shares.groups[g], p.mainCpuSec) / 1000 / Math.max(1, p.phase.feed.length))),
          ]),
        ],
      ),
      "",
    );
    return { md: lines.join("\n"), failed: failures > 0 };
  } finally {
    await Promise.all(servers.map((x) => stopServer(x.child)));
    if (deployment === "redis") {
      const redis = new Redis(args.redis!, { maxRetriesPerRequest: 1, lazyConnect: true });
      await redis.connect().then(() => deleteKeysWithPrefix(redis, prefix)).catch((err: unknown) => progress.log(`! could not delete ${prefix}*: ${(err as Error).message}`));
      redis.disconnect();
    }
  }
}

await mkdir(dir, { recursive: true });
const baseDir = join(dir, "base-bundle");
await ensureParent(baseDir);
await ensureBaseBundle(baseDir, progress);
const { dataset } = await loadDataset(join(baseDir, BUNDLE_FILES.data), { format: "generic" });
if (args.mode === "auth" || args.mode === "experiments" || args.mode === "catalog-load") {
  const sections: string[] = [];
  let anyFailed = false;
  for (const total of sizes) {
    const n = Math.max(total, dataset.videos.length);
    const jobs =
      args.mode === "auth"
        ? [() => benchAuth(n, baseDir, dataset)]
        : args.mode === "experiments"
          ? [() => benchExperiments(n, baseDir, dataset)]
          : deployments.map((d) => () => benchCatalogLoad(n, baseDir, dataset, d));
    for (const job of jobs) {
      const { md: section, failed: sectionFailed } = await job();
      sections.push(section);
      anyFailed ||= sectionFailed;
    }
  }
  benchRss.stop();
  const command = `npm run bench:feed -- ${process.argv.slice(2).join(" ")}`;
  const md = [`Machine: ${formatMachine(machine)}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(" ")}`, "", `Command: \`${command}\``, "", ...sections].join("\n");
  console.log(`\n${md}`);
  if (args.md) await writeFile(args.md, md + "\n");
  process.exit(anyFailed ? 1 : 0);
}
if (args.mode !== "load") throw new Error(`--mode: expected load, auth, experiments or catalog-load, got "${args.mode}"`);
const results: SizeResult[] = [];
let failed = false;
for (const total of sizes) {
  const r = await benchSize(Math.max(total, dataset.videos.length), baseDir, dataset);
  if (r.non200 || r.graphqlErrors) failed = true;
  results.push(r);
  progress.log(`${formatInt(r.videos)} videos: ${formatInt(r.rps)} req/s, p50 ${formatMs(r.latency.p50)} ms, p99 ${formatMs(r.latency.p99)} ms`);
}
benchRss.stop();
const command = `npm run bench:feed${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
const md = report(results, command);
console.log(`\n${md}`);
if (args.md) await writeFile(args.md, md + "\n");
if (args.json) {
  const plain = results.map((r) => ({ ...r, stagesLoaded: Object.fromEntries(r.stagesLoaded), stagesIdle: Object.fromEntries(r.stagesIdle) }));
  await writeFile(args.json, JSON.stringify({ machine, command, results: plain }, null, 2) + "\n");
}
process.exit(failed ? 1 : 0);
