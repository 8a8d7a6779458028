import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { resolveAuthMode } from "../auth/auth-mode";
import { guardIngestor } from "../auth/guarded-ingestor";
import type { ReelfeedConfig } from "../config";
import type { CatalogWriter } from "../catalog/catalog-writer";
import { registerCatalogueMetrics } from "../catalog/live-catalog";
import { registerEventMetrics } from "../schema/metrics";
import { createExperimentsAdmin } from "../experiments/admin";
import { registerExperimentMetrics } from "../experiments/experiment-metrics-export";
import { createCatalogHttpHandler } from "../events/catalog-endpoint";
import { createEventsHttpHandler } from "../events/http-endpoint";
import type { EventIngestor } from "../events/ingestor";
import { startServer, type RunningServer, type ScopedHttpHandler } from "../server";
import { activeBundlePath, readRegistry, registerBundle, registryPath } from "../training/registry";
import type { Progress } from "../util/progress";
import { createProgress } from "../util/progress";
import { loadRuntime, type LoadedRuntime, type LoadRuntimeOptions } from "./runtime";
import { createRuntimeHealth } from "./runtime-health";

/**
 * `reelfeed serve` / `npm start`: find (or build) a model bundle, load the runtime over it, and serve GraphQL, the
 * IDE, /health, /metrics and POST /events until SIGINT/SIGTERM.
 *
 * Which bundle, first match wins: the --bundle flag, config paths.bundle (REELFEED_BUNDLE), the registry's active
 * bundle in the var directory. With none, a fresh clone still starts: it trains one from paths.bootstrapData
 * (MovieLens small by default) — or, when that folder is missing, from a synthetic platform — registers it and
 * serves it. Later starts find it in the registry.
 */

/** Synthetic platform trained when there is no bundle and no bootstrap data. */
export const BOOTSTRAP_SYNTHETIC = { users: 1000, videos: 2000, days: 30 } as const;

export type BundleChoice =
  | { kind: "existing"; path: string; from: "flag" | "config" | "registry" }
  | { kind: "train"; out: string; data: string; reason: string }
  | { kind: "train"; out: string; synthetic: { users: number; videos: number; days: number }; reason: string };

/** Where the served bundle comes from. Pure apart from reading the registry and checking the bootstrap folder. */
export function resolveBundle(options: { flag?: string; config: ReelfeedConfig }): BundleChoice {
  const { flag, config } = options;
  if (flag) return { kind: "existing", path: resolve(flag), from: "flag" };
  if (config.paths.bundle) return { kind: "existing", path: resolve(config.paths.bundle), from: "config" };
  const active = activeBundlePath(config.paths.varDir);
  if (active) return { kind: "existing", path: active, from: "registry" };
  const out = bootstrapBundleDir(config);
  const data = resolve(config.paths.bootstrapData);
  const none = `no model bundle yet (no --bundle, no REELFEED_BUNDLE, no active bundle in ${resolve(config.paths.varDir)}/registry.json)`;
  if (existsSync(data) && statSync(data).isDirectory()) {
    return { kind: "train", out, data, reason: `${none}: training one from ${data} first` };
  }
  const { users, videos, days } = BOOTSTRAP_SYNTHETIC;
  return {
    kind: "train",
    out,
    synthetic: { ...BOOTSTRAP_SYNTHETIC },
    reason: `${none}, and the bootstrap data folder ${data} does not exist: training on a synthetic platform (${users} users, ${videos} videos, ${days} days) first`,
  };
}

/** The bundle folder to serve: the chosen one, or a freshly trained and registered one. */
export async function ensureBundle(choice: BundleChoice, config: ReelfeedConfig, progress: Progress): Promise<string> {
  if (choice.kind === "existing") {
    progress.log(`serving bundle ${choice.path} (from ${choice.from === "flag" ? "--bundle" : choice.from === "config" ? "paths.bundle / REELFEED_BUNDLE" : "the registry's active bundle"})`);
    return choice.path;
  }
  progress.log(`reelfeed: ${choice.reason} (this happens once; later starts reuse it)`);
  const { trainBundle } = await import("../training/train-pipeline");
  const started = Date.now();
  await trainBundle({ ...("data" in choice ? { data: choice.data } : { synthetic: choice.synthetic }), out: choice.out, progress });
  const entry = await registerBundle(config.paths.varDir, choice.out);
  progress.log(`trained and registered bundle ${entry.version} in ${((Date.now() - started) / 1000).toFixed(0)} s: ${choice.out}`);
  return choice.out;
}

export interface ServeOptions {
  config: ReelfeedConfig;
  /** --bundle. @default resolved (see resolveBundle) */
  bundle?: string;
  /** @default createProgress() (stderr) */
  progress?: Progress;
  /** Port override; 0 picks a free one. @default config.server.port */
  port?: number;
  /** Stop cleanly on SIGINT/SIGTERM and exit the process. Off for embedding (tests). @default true */
  handleSignals?: boolean;
  /** Passed to loadRuntime (Redis key prefix, plugins folder, ...). @default {} */
  runtime?: Omit<LoadRuntimeOptions, "bundleDir" | "config" | "progress">;
  /**
   * The operator asked for production (NODE_ENV=production as they set it, before `reelfeed serve` defaulted it):
   * serving without auth configured is refused (BAD_CONFIG) before anything is trained or loaded.
   * @default process.env.NODE_ENV === "production"
   */
  production?: boolean;
  /**
   * How often the registry is checked for a newly activated bundle (hot swap), ms; only when the bundle came from
   * the registry (no --bundle, no paths.bundle). @default 2000
   */
  registryPollMs?: number;
}

export interface Serving {
  url: string;
  server: RunningServer;
  loaded: LoadedRuntime;
  bundleDir: string;
  /** Stops the HTTP server (in-flight requests finish), then the consumer, then closes stores. Idempotent. */
  stop(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const { config, progress = createProgress(), handleSignals = true, production = process.env.NODE_ENV === "production" } = options;
  // Refuse an unauthenticated production start now, not after minutes of training a bootstrap bundle.
  resolveAuthMode(config.auth, production);
  const started = Date.now();
  const choice = resolveBundle({ flag: options.bundle, config });
  const bundleDir = await ensureBundle(choice, config, progress);
  const loaded = await loadRuntime({ ...options.runtime, bundleDir, config, progress });
  let server: RunningServer;
  try {
    server = await startServer({
      config,
      port: options.port,
      production,
      redis: loaded.redis,
      services: {
        feed: loaded.feed,
        catalog: loaded.catalog,
        ingestor: loaded.ingestor,
        catalogWriter: loaded.liveCatalog.writer,
        experiments: createExperimentsAdmin({ experiments: () => loaded.serving.experiments(), metrics: loaded.experimentMetrics, config }),
        httpHandlers: {
          "/events": eventsRoute(loaded.ingestor, config),
          "/catalog": catalogRoute(loaded.liveCatalog.writer, config),
        },
      },
      health: createRuntimeHealth(loaded, config),
    });
  } catch (err) {
    await loaded.close();
    throw err;
  }
  registerCatalogueMetrics(server.metrics.registry, loaded.liveCatalog);
  registerEventMetrics(server.metrics.registry, { kind: loaded.log.kind, stats: () => loaded.consumer.stats(), ingested: () => loaded.ingestor.stats?.() });
  const experimentSeries = registerExperimentMetrics(server.metrics.registry, { metrics: loaded.experimentMetrics, experiments: () => loaded.serving.experiments(), drift: () => loaded.drift() });
  // A server serving the registry's active bundle follows it: `models --activate` / `--rollback` hot-swap it here.
  const follower = choice.kind === "train" || choice.from === "registry" ? followRegistry(loaded, config, progress, options.registryPollMs ?? 2000) : undefined;
  const swaps = server.metrics.registry.counter("reelfeed_model_swaps_total", "Hot model swaps by outcome (swapped, refused).", ["outcome"]);
  follower?.onOutcome((outcome) => swaps.inc({ outcome }));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      let t = Date.now();
      experimentSeries.close();
      follower?.close();
      await server.stop();
      progress.log(`reelfeed: HTTP server stopped (${Date.now() - t} ms)`);
      t = Date.now();
      await loaded.close();
      progress.log(`reelfeed: consumer stopped, log and stores closed (${Date.now() - t} ms)`);
    })());

  progress.log(
    `reelfeed ${loaded.manifest.version} ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${server.url} ` +
      `(GraphiQL IDE in a browser; POST ${server.url.replace(/\/graphql$/, "/events")} for NDJSON events, POST .../catalog for catalogue bulk loads; /health, /metrics)`,
  );

  if (handleSignals) {
    let signalledAt = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalledAt > 0) {
        // Ctrl-C reaches both a wrapper (npx, tsx) and this process, which the wrapper then relays: one press can
        // arrive twice. Only a second press, a moment later, means "stop waiting".
        if (Date.now() - signalledAt < 2000) return;
        progress.log(`reelfeed: ${signal} again, exiting now`);
        process.exit(130);
      }
      signalledAt = Date.now();
      progress.log(`reelfeed: ${signal}: stopping (in-flight requests finish, consumer stops, stores close)`);
      // A stuck backend must not keep the process alive forever after a stop was asked for.
      const force = setTimeout(() => {
        progress.log("reelfeed: clean stop took over 15 s, exiting");
        process.exit(1);
      }, 15_000);
      force.unref();
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          progress.log(`reelfeed: error while stopping: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }

  return { url: server.url, server, loaded, bundleDir, stop };
}

/**
 * `POST /events` behind auth: callers need `events:write`; a user token's batch goes through a guarded ingestor, so
 * it records only its own user's events (the others come back REJECTED, code FORBIDDEN).
 */
export function eventsRoute(ingestor: EventIngestor, config: ReelfeedConfig): ScopedHttpHandler {
  const options = { maxBodyBytes: config.server.maxBodyBytes, maxBatch: config.server.maxEventBatch };
  const forKeys = createEventsHttpHandler({ ingestor, ...options });
  return {
    scope: "events:write",
    handler: (req, res, principal) =>
      principal.kind === "user" ? createEventsHttpHandler({ ingestor: guardIngestor(ingestor, principal), ...options })(req, res) : forKeys(req, res),
  };
}

/** `POST /catalog` (NDJSON bulk loads of the live catalogue) behind auth: callers need `catalog:write`. */
export function catalogRoute(writer: CatalogWriter, config: ReelfeedConfig): ScopedHttpHandler {
  const handler = createCatalogHttpHandler({ writer, maxBodyBytes: config.server.maxBodyBytes });
  return { scope: "catalog:write", handler: (req, res) => handler(req, res) };
}

/**
 * Polls the registry; when its active bundle is not the one served, hot-swaps to it (LoadedRuntime.swapBundle). A
 * bundle that fails to load or its checks is refused, logged and counted, and the served one stays; the same
 * activation is not retried until the registry changes again.
 */
function followRegistry(
  loaded: LoadedRuntime,
  config: ReelfeedConfig,
  progress: Progress,
  intervalMs: number,
): { close(): void; onOutcome(fn: (outcome: "swapped" | "refused") => void): void } {
  const path = registryPath(config.paths.varDir);
  const stamp = (): string => (existsSync(path) ? `${statSync(path).mtimeMs}:${statSync(path).size}` : "");
  let seen = stamp();
  let busy = false;
  const listeners: Array<(outcome: "swapped" | "refused") => void> = [];
  const tick = async (): Promise<void> => {
    const now = stamp();
    if (busy || now === seen) return;
    seen = now;
    busy = true;
    try {
      const registry = readRegistry(config.paths.varDir);
      const entry = registry.bundles.find((b) => b.version === registry.active);
      if (!entry || resolve(entry.path) === resolve(loaded.bundleDir)) return;
      progress.log(`reelfeed: registry activated ${entry.version}: hot-swapping from ${loaded.manifest.version}`);
      try {
        await loaded.swapBundle(entry.path);
        listeners.forEach((fn) => fn("swapped"));
      } catch (err) {
        listeners.forEach((fn) => fn("refused"));
        progress.log(`reelfeed: ! bundle ${entry.version} refused, still serving ${loaded.manifest.version}: ${err instanceof Error ? err.message : String(err)}`);
      }
    } catch (err) {
      progress.log(`reelfeed: ! registry ${path}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return { close: () => clearInterval(timer), onOutcome: (fn) => void listeners.push(fn) };
}

/** Where the bootstrap bundle is written (exported for docs and tests). */
export const bootstrapBundleDir = (config: ReelfeedConfig): string => join(resolve(config.paths.varDir), "bundles", "bootstrap");
