/**
 * The server side of the feed benchmark, run as a child process of bench/feed-bench.ts so its CPU and memory are
 * measured apart from the load generator. It serves a scaled bundle through the real start-up path (`serve()`:
 * loadRuntime → vector indexes built at load → pipeline → Apollo on node:http), with the extended catalog passed
 * as `catalogOverride` (the bundle's data/ holds only the trained catalog; see feed-bundle.ts).
 *
 * Input: one JSON argument (FeedServerArgs). Output: an IPC message { type: "ready", url, loadMs } once listening,
 * or { type: "error", message }. Stops on SIGTERM like `reelfeed serve`. IPC { type: "profile-start", intervalUs? } and
 * { type: "profile-stop", path } write a CPU profile of the time between them (answered { type: "profiled" }).
 * IPC { type: "loop-reset" } and { type: "loop-read" } measure the event loop's delay between them (perf_hooks'
 * monitorEventLoopDelay, 10 ms resolution), answered { type: "loop", p50Ms, p99Ms, maxMs }: how long the loop was
 * blocked, which is what a request arriving then waits before anything of it runs.
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { serve } from "../src/app/serve";
import { configSchema } from "../src/config";
import { createProgress } from "../src/util/progress";
import { loadScaledCatalog, startUpWorkDone } from "./feed-bundle";

export interface FeedServerArgs {
  bundleDir: string;
  total: number;
  seed: number;
  /** Scratch folder for the event log (impressions are logged like in production). */
  varDir: string;
  /** Partial config (zod defaults fill the rest). */
  config: Record<string, unknown>;
}

const send = (message: unknown): void => void process.send?.(message);

try {
  const args = JSON.parse(process.argv[2] ?? "") as FeedServerArgs;
  const started = performance.now();
  const progress = createProgress();
  // The drift reference is built at once and awaited before "ready" (startUpWorkDone): started 10 s after load, as
  // by default, its seconds of CPU on another thread landed inside a measured phase.
  const experiments = (args.config.experiments ?? {}) as { drift?: object };
  const config = configSchema.parse({
    ...args.config,
    paths: { ...(args.config.paths as object), varDir: args.varDir },
    experiments: { ...experiments, drift: { referenceDelayMs: 0, ...experiments.drift } },
  });
  const { catalog } = await loadScaledCatalog(args.bundleDir, args.total, args.seed);
  // feed-bench sets NODE_ENV=production for graphql-js's speed, as `reelfeed serve` does; like there, that is not an
  // operator asking for production (which refuses to serve without auth: docs/security.md).
  const serving = await serve({ config, bundle: args.bundleDir, port: 0, progress, handleSignals: true, production: false, runtime: { catalogOverride: catalog } });
  await startUpWorkDone(() => serving.loaded.drift().ready);
  send({ type: "ready", url: serving.url, loadMs: performance.now() - started });
  // A benchmark that dies (Ctrl-C, a crash) must not leave its server running: the IPC channel closing says so.
  process.on("disconnect", () => void serving.stop().finally(() => process.exit(0)));
  // On request, a CPU profile of the measured window only (start-up would otherwise dominate it).
  let session: Session | undefined;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  process.on("message", (m: { type: string; path?: string; intervalUs?: number }) => {
    if (m.type === "loop-reset") loop.reset();
    else if (m.type === "loop-read") {
      const ms = (ns: number) => ns / 1e6;
      send({ type: "loop", p50Ms: ms(loop.percentile(50)), p99Ms: ms(loop.percentile(99)), maxMs: ms(loop.max) });
    } else if (m.type === "profile-start" && !session) {
      session = new Session();
      session.connect();
      const s = session;
      // A finer sampling interval than V8's 1 ms default when asked: short functions (an auth check of ~20 µs) then
      // show up in enough samples to be measured.
      void s
        .post("Profiler.enable")
        .then(() => (m.intervalUs ? s.post("Profiler.setSamplingInterval", { interval: m.intervalUs }) : undefined))
        .then(() => s.post("Profiler.start"));
    } else if (m.type === "profile-stop" && session && m.path) {
      const s = session;
      session = undefined;
      void s
        .post("Profiler.stop")
        .then(({ profile }) => writeFile(m.path!, JSON.stringify(profile)))
        .then(() => (s.disconnect(), send({ type: "profiled", path: m.path })));
    }
  });
} catch (err) {
  send({ type: "error", message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
}
