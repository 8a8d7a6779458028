/**
 * In-process companion of the feed benchmark, for A/B work on the pipeline's CPU cost: loads a scaled bundle
 * (made by `npm run bench:feed`, cached under --dir) through the real loadRuntime + feed service, without HTTP or
 * GraphQL, and calls feed() sequentially. Prints the process CPU time per request (ONNX Runtime threads included)
 * and, from a second traced pass, the mean time per pipeline stage. Sequential on purpose: no queueing, no source
 * timeouts, so two runs of it compare code, not load.
 *
 *   npx tsx bench/feed-micro.ts [--size 100000] [--requests 300] [--warmup 300] [--dir .bench-out/feed] [--check out.json]
 *
 * The warm-up is long enough for V8 to have compiled the hot code: after 60 requests its compiler threads still took
 * ~1 ms of CPU per request. The runtime's start-up work on other threads (the drift reference) is awaited first. The
 * last line splits the CPU by thread: main, and the others (V8's compiler and GC helpers, libuv's pool).
 *
 * --check writes the served item ids of the untraced pass (same users, same request time), so two versions of the
 * code can be compared for identical output where they should be identical.
 *
 * --sources times each enabled source alone (its fetch, awaited, nothing else running) on the hydrated queries of the
 * untraced pass, with the vector indexes' query caches cleared before each fetch (a first search, as most are):
 * what each source costs on its own and how many candidates it gives for it.
 *
 * --cpu-prof writes a V8 CPU profile of the untraced pass only (start-up and warm-up left out), for
 * `npx tsx bench/feed-profile.ts <file>`; --alloc-prof a sampling heap profile of the same pass (bytes allocated, by
 * function), which the same script summarises per request.
 */
import { readdirSync, readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { loadRuntime } from "../src/app/runtime";
import { configSchema } from "../src/config";
import type { FeedRequest } from "../src/pipeline/feed-page";
import type { CandidateSource } from "../src/pipeline/types";
import { DEFAULT_SOURCES, loadScaledCatalog, startUpWorkDone } from "./feed-bundle";

const { values: args } = parseArgs({
  options: {
    size: { type: "string", default: "100000" },
    requests: { type: "string", default: "300" },
    warmup: { type: "string", default: "300" },
    dir: { type: "string", default: ".bench-out/feed" },
    check: { type: "string" },
    "cpu-prof": { type: "string" },
    "alloc-prof": { type: "string" },
    without: { type: "string", default: "" },
    sources: { type: "boolean", default: false },
  },
});
const size = Number(args.size);
const requests = Number(args.requests);
const warmup = Number(args.warmup);
const bundleDir = resolve(join(args.dir!, `bundle-${size}`));

const { dataset, catalog } = await loadScaledCatalog(bundleDir, size);
// --check: generous budgets, a fixed exploration seed and no impression consumption, so the served pages depend
// on the code alone (not on timing or on random session ids).
const check = !!args.check;
// --without Social,Fresh: those sources disabled, to measure what each costs.
const without = new Set(args.without!.split(",").filter(Boolean));
const config = configSchema.parse({
  // Models on the event loop: this measures the pipeline's own CPU per request, and a profile reads it in one place.
  ranking: { candidatesToRank: 500, executionProviders: ["cpu"], inferenceThread: "main", ...(check ? { timeoutMs: 60_000 } : {}) },
  paths: { varDir: resolve(join(args.dir!, `var-micro-${size}`)) },
  pipeline: {
    sources: DEFAULT_SOURCES.map(({ name, quota }) => ({ name, quota, enabled: !without.has(name), ...(check ? { timeoutMs: 60_000 } : {}) })),
    // Every request ranked: a shed one would measure (and serve) something else.
    overload: { maxConcurrentRankings: 1_000_000, maxEventLoopLagMs: 1_000_000 },
    ...(check ? { stages: [{ name: "Freshness" }, { name: "Guardrails" }, { name: "Diversity" }, { name: "Exploration", options: { seed: "micro" } }] } : {}),
  },
  // The drift reference (seconds of replay on a thread of its own) built at once and awaited below: started 10 s
  // after load as in a server, it ran inside the measured window: up to 9 ms of CPU per request in one run.
  experiments: { drift: { referenceDelayMs: 0 } },
});
await rm(resolve(join(args.dir!, `var-micro-${size}`)), { recursive: true, force: true });
const loaded = await loadRuntime({ bundleDir, config, catalogOverride: catalog });
// --check: served pages are logged as impressions, and a consumer applying them (at timing-dependent moments) would
// change the next requests' features; stopped, every run sees the same state.
if (check) await loaded.consumer.stop();
await startUpWorkDone(() => loaded.drift().ready);
const lastTs = dataset.events.reduce((m, e) => Math.max(m, e.ts), 0);
const now = lastTs + 3_600_000;
const userIds = dataset.users.map((u) => u.id);

let state = 12345;
const rand = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296;
const requestsFor = (count: number, debug: boolean): FeedRequest[] =>
  Array.from({ length: count }, (_, i) => {
    const unknown = rand() < 0.1;
    return {
      userId: unknown ? `bench-anon-${i}` : userIds[Math.floor(rand() * userIds.length)],
      surface: "home" as FeedRequest["surface"],
      context: unknown ? { now, device: "mobile", country: ["US", "GB", "DE", "BR", "IN"][i % 5] } : { now },
      first: 20,
      debug,
    } as FeedRequest;
  });

// Searches per index, and how many the query cache answered (stats of the embedded index), for the printout.
const searchCounts = new Map<string, number>();
for (const [name, index] of Object.entries(loaded.runtime.vectors)) {
  if (!index) continue;
  const search = index.search.bind(index);
  index.search = (vector, k, options) => {
    searchCounts.set(name, (searchCounts.get(name) ?? 0) + 1);
    return search(vector, k, options);
  };
}
const cacheHits = (): Record<string, number> =>
  Object.fromEntries(Object.entries(loaded.runtime.vectors).map(([name, index]) => [name, (index as { stats?: () => { queryCacheHits: number } } | undefined)?.stats?.().queryCacheHits ?? 0]));

for (const r of requestsFor(warmup, false)) await loaded.feed.feed(r);
searchCounts.clear();
const hits0 = cacheHits();

// --sources: the hydrated queries of the untraced pass, as the first enabled source received them.
const hydrated: Array<Parameters<CandidateSource["fetch"]>> = [];
const sourceSteps = loaded.definition.sources.filter((s) => s.enabled);
const firstSource = sourceSteps[0]?.source;
const firstFetch = firstSource?.fetch.bind(firstSource);
if (args.sources && firstSource && firstFetch) {
  firstSource.fetch = (query, ctx) => {
    hydrated.push([query, ctx]);
    return firstFetch(query, ctx);
  };
}

const plain = requestsFor(requests, false);
const served: string[][] = [];
const profiler = args["cpu-prof"] ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post("Profiler.enable");
  await profiler.post("Profiler.start");
}
const allocProfiler = args["alloc-prof"] ? new Session() : undefined;
if (allocProfiler) {
  allocProfiler.connect();
  await allocProfiler.post("HeapProfiler.enable");
  // Every 8 KiB allocated on average, objects collected since included: where the young generation's churn comes from.
  await allocProfiler.post("HeapProfiler.startSampling", { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}
const fallbacks: Record<string, number> = {};
const threads0 = threadCpuMs();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (const r of plain) {
  const page = await loaded.feed.feed(r);
  served.push(page.items.map((it) => it.video.id));
  for (const f of page.fallbacks) fallbacks[f.kind] = (fallbacks[f.kind] ?? 0) + 1;
}
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const threads1 = threadCpuMs();
if (firstSource && firstFetch) firstSource.fetch = firstFetch;
const hits1 = cacheHits();
const searches = [...searchCounts].map(([name, n]) => `${name} ${(n / requests).toFixed(1)}/req (${(((hits1[name] - hits0[name]) / Math.max(1, n)) * 100).toFixed(0)} % from the query cache)`);
if (profiler) {
  const { profile } = await profiler.post("Profiler.stop");
  await writeFile(args["cpu-prof"]!, JSON.stringify(profile));
  profiler.disconnect();
}
if (allocProfiler) {
  const { profile } = await allocProfiler.post("HeapProfiler.stopSampling");
  await writeFile(args["alloc-prof"]!, JSON.stringify(profile));
  allocProfiler.disconnect();
}
const cpuMs = (cpu.user + cpu.system) / 1000;

const stageSums = new Map<string, number>();
const traced = requestsFor(Math.min(100, requests), true);
for (const r of traced) {
  const page = await loaded.feed.feed(r);
  for (const s of page.trace?.stages ?? []) {
    const key = s.stage.replace(/ \(.*\)$/, "");
    stageSums.set(key, (stageSums.get(key) ?? 0) + s.latencyMs);
  }
}
console.log(`size ${size}: ${requests} sequential requests, wall ${(wall / requests).toFixed(2)} ms/req, CPU ${(cpuMs / requests).toFixed(2)} ms/req`);
console.log(`fallbacks: ${JSON.stringify(fallbacks)}; vector searches: ${searches.join(", ")}`);
if (threads0 && threads1) {
  // Node leaves its threads unnamed ("node"): the main thread is the one whose id is the process id. The others are
  // V8's platform workers (GC helpers, background compilation) and libuv's pool, listed busiest first.
  const used = [...threads1].map(([tid, ms]) => ({ main: tid === String(process.pid), ms: (ms - (threads0.get(tid) ?? 0)) / requests }));
  const main = used.find((t) => t.main)?.ms ?? 0;
  const others = used.filter((t) => !t.main && t.ms > 0).sort((a, b) => b.ms - a.ms);
  const sum = others.reduce((s, t) => s + t.ms, 0);
  console.log(`CPU by thread, ms/req: main ${main.toFixed(2)}, other threads ${sum.toFixed(2)} (${others.map((t) => t.ms.toFixed(2)).join(" ")})`);
}
for (const [k, v] of stageSums) console.log(`  ${k.padEnd(24)} ${(v / traced.length).toFixed(2)} ms`);
if (args.sources) {
  console.log(`each source alone, mean over ${hydrated.length} hydrated queries (query caches cleared before each fetch):`);
  const ms = new Map<string, number>();
  const candidates = new Map<string, number>();
  for (const [query, ctx] of hydrated) {
    for (const step of sourceSteps) {
      for (const index of Object.values(loaded.runtime.vectors)) (index as { setProbes?: (p: object) => void } | undefined)?.setProbes?.({});
      const t0 = performance.now();
      const out = await step.source.fetch(query, { ...ctx, limit: step.quota, signal: new AbortController().signal });
      ms.set(step.name, (ms.get(step.name) ?? 0) + performance.now() - t0);
      candidates.set(step.name, (candidates.get(step.name) ?? 0) + out.length);
    }
  }
  for (const step of sourceSteps) {
    console.log(`  ${step.name.padEnd(24)} ${(ms.get(step.name)! / hydrated.length).toFixed(2)} ms  ${(candidates.get(step.name)! / hydrated.length).toFixed(0).padStart(4)} candidates (quota ${step.quota})`);
  }
}
if (args.check) await writeFile(args.check, JSON.stringify(served));
await loaded.close?.();
process.exit(0);

/**
 * CPU ms per thread of this process, by thread id (Linux /proc; undefined elsewhere): shows what the main thread's
 * profile cannot, V8's helper threads and libuv's pool. Clock ticks, read as 10 ms each (USER_HZ 100).
 */
function threadCpuMs(): Map<string, number> | undefined {
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return undefined;
  }
  const out = new Map<string, number>();
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended between the listing and the read
    }
    // After the command name in parentheses (which may hold spaces): fields[11], [12] are utime, stime (14, 15).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10);
  }
  return out;
}
