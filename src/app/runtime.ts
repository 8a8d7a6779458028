import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Redis } from "ioredis";
import type { ReelfeedConfig } from "../config";
import { createCatalog, type Catalog } from "../data/catalog";
import { loadDataset } from "../data/load-dataset";
import type { Dataset, ReelEvent, Video } from "../data/types";
import type { FeedItem } from "../pipeline/feed-page";
import { openLiveCatalog, type LiveCatalog } from "../catalog/live-catalog";
import { ReelfeedError } from "../errors";
import { createEventConsumer, type EventConsumer } from "../events/consumer";
import { compareCursors } from "../events/cursor";
import { createIngestor } from "../events/ingest";
import type { EventIngestor } from "../events/ingestor";
import { loadFeatureArtifacts, type FeatureArtifacts } from "../features/artifacts";
import { loadContentModel, type ContentModel } from "../features/content-embeddings";
import type { PipelineFeedService } from "../pipeline/feed-pipeline";
import type { PipelineDefinition } from "../pipeline/pipeline-definition";
import type { FeedQuery, FeedRuntime } from "../pipeline/types";
import type { OnnxRuntimeSession } from "../ranking/onnx-session";
import { BUNDLE_FILES, readManifest, type BundleManifest } from "../training/bundle";
import { MAX_PARITY_DIFF } from "../training/registry";
import { createFileEventLog } from "../stores/event-log-file";
import type { EventLog } from "../stores/event-log";
import { createRedisEventLog } from "../stores/event-log-redis";
import { createFileDeadLetter, createRedisDeadLetter, type DeadLetterSink } from "../stores/dead-letter";
import type { GraphStore } from "../stores/graph-store";
import { openGraphStore } from "../stores/open-stores";
import { createRedisClient, redactUrl, waitForRedis } from "../stores/redis-client";
import { EMPTY_SEEN } from "../stores/seen-set";
import { createMemoryStateStore } from "../stores/state-store-memory";
import { createRedisStateStore } from "../stores/state-store-redis";
import type { StateStore } from "../stores/state-store";
import type { CheckpointedStateStore } from "../events/checkpointed-store";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";
import { applyToGraph, bootstrapGraph } from "./graph-sync";
import { assembleFeedRuntime, bundleModelFiles, openModelSet, releaseAll, servedBy, type Closers, type ModelSet, type OpenModelSetOptions } from "./runtime-assembly";
import { createServingFeed, type ExperimentFeedService, type ServingFeed, type ServingFeedOptions } from "./serving-feed";
import { createMemoryCountsStore, createRedisCountsStore, type ExperimentCountsStore } from "../experiments/counts-store";
import type { ExperimentConfig } from "../experiments/experiment-config";
import { readExperimentsFile, watchExperimentsFile } from "../experiments/experiments-file";
import { createExperimentMetrics, isRequestField, type ExperimentMetrics } from "../experiments/online-metrics";
import { createDriftMonitor, driftReferenceInWorker, type DriftReport } from "../experiments/drift";
import type { VideoAggregates } from "../features/aggregates";
import { applyHistory, bootstrapEvents, bootstrapRedisState, otherBootstraps } from "./state-bootstrap";

/**
 * Everything a serving process holds, loaded from one model bundle: catalog and history (the bundle's data/),
 * feature artifacts, vector indexes, social graph, real-time state, ONNX models, the durable event log with its
 * ingestor and consumer, and the feed service over all of it. Start-up order follows the data dependencies:
 *
 *   manifest → data/ (catalog + history) → artifacts, content model → graph (follows + engagements of the history)
 *   → state store + event log → vector indexes (bulk-loaded) and ONNX models over the state (runtime-assembly.ts,
 *   the assembly the offline runs share) → ingestor + consumer (history applied to the state once, then new events
 *   → state, graph) → pipeline + feed service (impressions → log)
 *
 * Backends come from config alone: Redis (state + event log) when `backends.redisUrl`, Qdrant / Neo4j when their
 * URLs are set, embedded otherwise. A configured Redis that is down at start-up does not stop the server: after a
 * bounded wait it serves degraded (every request says STATE_UNAVAILABLE, events are buffered to a local file log),
 * and the state bootstrap and the consumer start by themselves once Redis answers.
 */
export interface LoadRuntimeOptions {
  /** The model bundle folder (manifest.json, models, embeddings, data/). */
  bundleDir: string;
  config: ReelfeedConfig;
  /** Progress of the slow steps (data, vectors, state bootstrap). @default silentProgress */
  progress?: Progress;
  /** Serve this catalog instead of the bundle's (a catalog service, tests). @default createCatalog(bundle data) */
  catalogOverride?: Catalog;
  /**
   * Prefix of every Redis key (state and event stream), so several deployments or test runs can share a Redis.
   * @default config.backends.redisKeyPrefix (REELFEED_REDIS_PREFIX, "rf:")
   */
  redisKeyPrefix?: string;
  /** How long start-up waits for a configured Redis before serving degraded, ms. @default 3000 */
  redisConnectTimeoutMs?: number;
  /** Folder of plugin folders. @default "plugins" (working directory) */
  pluginsDir?: string;
  /** Consumer pause when caught up, ms. @default 50 */
  consumerPollMs?: number;
  /** Non-fatal errors (consumer retries, impression logging, Redis connection). @default a throttled console.warn */
  onError?: (error: unknown, where: string) => void;
  /** Feed-service settings config does not carry (state read budget, session TTL, ...). @default {} */
  service?: ServingFeedOptions["service"];
}

export interface LoadedRuntime {
  /** The runtime served now (a hot swap replaces its models). */
  readonly runtime: FeedRuntime;
  /** Routes each request to its experiment variants' pipeline (src/app/serving-feed.ts). */
  feed: ExperimentFeedService;
  /** The base pipeline. */
  readonly definition: PipelineDefinition;
  /** The experiments, their pipelines, reload and swap. */
  serving: ServingFeed;
  /** Online metrics per experiment variant (fed by the consumer and the router). */
  experimentMetrics: ExperimentMetrics;
  /** Feature drift (PSI) of the served bundle's ranker rows against its training rows. */
  drift(): DriftReport;
  /**
   * Hot-swaps the served models for another bundle's: opened and checked (checkModelSet) beside the serving ones,
   * then swapped in; in-flight requests finish on the old models. A bundle that fails to load or its checks is
   * refused (BAD_BUNDLE) and the old one keeps serving. Swaps run one at a time. The registry decides which bundle
   * (src/training/registry.ts: gate, rollback); this only serves it.
   */
  swapBundle(bundleDir: string): Promise<SwapResult>;
  /** The folder of the bundle served now. */
  readonly bundleDir: string;
  catalog: Catalog;
  /** The bundle's data: catalog and history the state was bootstrapped from. */
  dataset: Dataset;
  readonly manifest: BundleManifest;
  readonly artifacts: FeatureArtifacts;
  contentModel?: ContentModel;
  ingestor: EventIngestor;
  consumer: EventConsumer;
  log: EventLog;
  /** The live catalogue (src/catalog): the write API's writer, its log and the applier following it. */
  liveCatalog: LiveCatalog;
  state: StateStore;
  graph: GraphStore;
  /** The Redis client when `backends.redisUrl` is set. */
  redis?: Redis;
  /** ONNX Runtime sessions, for /health (provider in use, providers skipped). */
  readonly sessions: { userTower?: OnnxRuntimeSession; ranker?: OnnxRuntimeSession; videoTower?: OnnxRuntimeSession };
  /** The serving bundle's video tower fingerprint (ModelSet.videoTowerFingerprint), for another live catalogue over the same log. */
  readonly videoTowerFingerprint?: string;
  /**
   * Resolves once the state is bootstrapped and the consumer runs. At once in embedded mode; with a Redis that was
   * down at start-up, when it comes back (so it may stay pending).
   */
  ready: Promise<void>;
  /** True once `ready` resolved. */
  isReady(): boolean;
  /** Stops the consumer, then closes the log, stores and sessions. Idempotent. */
  close(): Promise<void>;
}


export interface SwapResult {
  version: string;
  previous: string;
  bundleDir: string;
  /** Settles when the requests that started on the previous models have finished (then they are released). */
  drained: Promise<void>;
}

/** The experiments served at start: the experiments file's when one is configured (BAD_CONFIG when it is bad). */
async function initialExperiments(config: ReelfeedConfig): Promise<ExperimentConfig[]> {
  if (!config.experiments.file) return config.experiments.definitions;
  return readExperimentsFile(config.experiments.file);
}

/** One warning per distinct message per minute: a Redis outage must not print a line per request. */
function throttledWarn(): (error: unknown, where: string) => void {
  const last = new Map<string, number>();
  return (error, where) => {
    const message = `${where}: ${error instanceof Error ? error.message : String(error)}`;
    const now = Date.now();
    if ((last.get(message) ?? 0) > now - 60_000) return;
    last.set(message, now);
    console.warn(`reelfeed: ${message}`);
  };
}

/** Whether the ranker scored this item (it has head probabilities): a fill or a fallback item has none. */
function rankedByModel(item: FeedItem): boolean {
  for (const _head in item.heads) return true;
  return false;
}

export async function loadRuntime(options: LoadRuntimeOptions): Promise<LoadedRuntime> {
  const {
    bundleDir,
    config,
    progress = silentProgress,
    catalogOverride,
    redisKeyPrefix = config.backends.redisKeyPrefix,
    redisConnectTimeoutMs = 3000,
    pluginsDir,
    consumerPollMs = 50,
    onError = throttledWarn(),
    service,
  } = options;
  const started = Date.now();
  const closers: Closers = [];
  const fail = async (err: unknown): Promise<never> => {
    await releaseAll(closers.reverse(), onError);
    throw err;
  };

  try {
    if (!config.events.consume && !config.backends.redisUrl) {
      throw new ReelfeedError(
        "BAD_CONFIG",
        "config events.consume: false needs backends.redisUrl (REDIS_URL): a serving replica reads the state another instance applies the events to",
        { key: "events.consume" },
      );
    }
    const manifest = await readManifest(bundleDir);
    progress.log(`bundle ${manifest.version} (${manifest.source}) from ${bundleDir}`);

    const dataDir = join(bundleDir, BUNDLE_FILES.data);
    if (!existsSync(dataDir)) {
      throw new ReelfeedError("BAD_BUNDLE", `${dataDir}: the bundle has no data/ folder (train with includeData) — the server bootstraps its catalog and history from it`, { path: dataDir });
    }
    const { dataset } = await loadDataset(dataDir, { format: "generic", progress });
    const catalog = catalogOverride ?? createCatalog(dataset);
    const videoOf = (id: string) => catalog.video(id);
    progress.log(`data: ${dataset.users.length} users, ${dataset.videos.length} videos, ${dataset.events.length} history events`);

    const artifacts = await loadFeatureArtifacts(join(bundleDir, BUNDLE_FILES.features));
    const contentModelPath = join(bundleDir, BUNDLE_FILES.contentModel);
    const contentModel = existsSync(contentModelPath) ? await loadContentModel(contentModelPath) : undefined;

    // Graph: the history's follows and engagements. Neo4j keeps them across restarts and marks the history it
    // holds, so a restart skips the load (and its writes are idempotent if one dies half-way).
    const graph = await openGraphStore(config);
    closers.push(() => graph.close());
    await bootstrapGraph(graph, { follows: dataset.follows, events: dataset.events, progress, dataId: manifest.dataFingerprint });

    // Real-time state and the durable log.
    let redis: Redis | undefined;
    let state: CheckpointedStateStore;
    let log: EventLog;
    let deadLetter: DeadLetterSink | undefined;
    const retention = config.events.retention;
    const redisUrl = config.backends.redisUrl;
    if (redisUrl) {
      let wasDown = false;
      redis = createRedisClient({
        url: redisUrl,
        onError: (err) => {
          wasDown = true;
          onError(err, `redis ${redactUrl(redisUrl)}`);
        },
      });
      const client = redis;
      client.on("ready", () => {
        if (wasDown) progress.log(`redis ${redactUrl(redisUrl)}: connected again`);
        wasDown = false;
      });
      closers.push(() => client.quit().catch(() => client.disconnect()));
      state = createRedisStateStore({ redis, keyPrefix: redisKeyPrefix });
      log = await createRedisEventLog({
        redis,
        keyPrefix: redisKeyPrefix,
        bufferDir: join(config.paths.varDir, "redis-buffer"),
        onError: (e) => onError(e, "redis event log replay"),
        retainMs: retention.maxAgeDays === undefined ? undefined : retention.maxAgeDays * 86_400_000,
      });
      if (config.events.deadLetter) deadLetter = createRedisDeadLetter({ redis, keyPrefix: redisKeyPrefix });
    } else {
      // Trending may lag watch events by up to a second: re-sorting a board per request under a stream of events
      // would cost more than the feed it serves (docs/benchmarks-feed.md).
      state = createMemoryStateStore({ trendingStaleMs: 1000 });
      log = await createFileEventLog({
        dir: join(config.paths.varDir, "events"),
        segmentBytes: config.events.segmentBytes,
        retention: { maxAgeMs: retention.maxAgeDays === undefined ? undefined : retention.maxAgeDays * 86_400_000, maxBytes: retention.maxBytes },
      });
      if (config.events.deadLetter) deadLetter = createFileDeadLetter(join(config.paths.varDir, "dead-letter.jsonl"));
    }
    closers.push(() => state.close());
    closers.push(() => log.close());

    // Vector indexes and ONNX models over these stores: assembleFeedRuntime, the assembly the offline runs use too;
    // its model set (openModelSet) is the code that loads a canary's or a hot-swapped bundle's models. The set
    // serving at close is the one closed (after a swap, the new one).
    const assembled = await assembleFeedRuntime({ bundleDir, config, files: bundleModelFiles(manifest), artifacts, catalog, state, graph, progress, onError, closers });
    const { vectors } = assembled;
    const first: ServedModelSet = { ...assembled.models, manifest };
    let active = first;
    closers.push(() => active.close());
    const sessions = first.sessions;

    await warmUp({ set: first, vectors, catalog, progress, onError });

    let runtime: FeedRuntime = assembled.runtime;

    // Online experiment metrics: impressions joined to their outcomes per variant (the consumer hands each instance
    // the events of the users it owns, so each event is counted once), request counters from the router.
    const experimentCounts: ExperimentCountsStore = redis
      ? createRedisCountsStore({ redis, keyPrefix: redisKeyPrefix, onError })
      : createMemoryCountsStore({ persist: { file: join(config.paths.varDir, "experiments", "request-counters.json"), fields: isRequestField }, onError });
    const experimentMetrics = createExperimentMetrics({ store: experimentCounts, attributionWindowMs: config.experiments.analysis.attributionWindowMs });
    closers.push(() => experimentMetrics.close());

    // Events: ingestor → log → consumer → state + graph.
    const graphHook = async (events: readonly ReelEvent[]): Promise<void> => void (await applyToGraph(graph, events));
    const consumer = createEventConsumer({
      log,
      store: state,
      videoOf,
      // An in-process graph is every instance's own: it sees every event. A shared graph (Neo4j) is written by the
      // consumer that applies the event's user (idempotent writes: one passed twice after a takeover is harmless).
      onEvents: graph.kind === "embedded" ? graphHook : undefined,
      onOwnedEvents: async (events) => {
        if (graph.kind !== "embedded") await graphHook(events);
        experimentMetrics.onEvents(events);
      },
      pollMs: consumerPollMs,
      onError: (e) => onError(e, "event consumer"),
      // A serving replica (events.consume false) leaves the shared Redis state to the consuming instance and tails
      // the log for its in-process graph only.
      applyState: config.events.consume,
      deadLetter,
    });
    closers.push(() => consumer.stop());
    const ingestor = createIngestor({
      log,
      maxBatch: config.server.maxEventBatch,
      validation: { maxFutureSkewMs: config.events.maxFutureSkewMs, horizonDays: config.events.horizonDays },
      onAccepted: () => consumer.nudge(),
    });

    // The live catalogue: everything uploaded, edited, taken down or profiled since the bundle, replayed from its log
    // below (before the first request), then followed like the event log.
    const liveCatalog = await openLiveCatalog({
      config,
      catalog,
      vectors,
      artifacts,
      contentModel,
      videoTower: sessions.videoTower,
      videoTowerFingerprint: first.videoTowerFingerprint,
      twoTowerDim: manifest.embeddings.twoTowerDim,
      redis,
      redisKeyPrefix,
      pollMs: consumerPollMs,
      onError,
    });
    closers.push(() => liveCatalog.close());

    // Feature drift of the served bundle (src/experiments/drift.ts); a hot swap starts a new monitor for the new one.
    const driftConfig = config.experiments.drift;
    const driftStop = new AbortController();
    closers.push(() => driftStop.abort());
    const newDrift = (set: ServedModelSet) => ({
      version: set.manifest.version,
      monitor: createDriftMonitor({
        artifacts: set.artifacts,
        // The training rows are rebuilt from the bundle's history in a worker thread (seconds on MovieLens-small);
        // drift off (rowsPerRequest 0): never built.
        reference: driftConfig.rowsPerRequest > 0 ? driftReferenceInWorker(set.bundleDir, { delayMs: driftConfig.referenceDelayMs, signal: driftStop.signal }) : new Promise<never>(() => {}),
        psiThreshold: driftConfig.psiThreshold,
        onError,
      }),
    });
    let drift = newDrift(first);

    // Canary variants: a bundle's models over this runtime's stores, opened (and checked) once per bundle folder.
    const variantSets = new Map<string, Promise<ServedModelSet>>();
    closers.push(async () => {
      for (const set of variantSets.values()) await (await set.catch(() => undefined))?.close();
    });
    const runtimeForBundle = async (dir: string, base: FeedRuntime): Promise<FeedRuntime> => {
      const path = resolve(dir);
      let pending = variantSets.get(path);
      if (!pending) {
        pending = openServedModelSet({ bundleDir: path, config, state, progress, onError }).then(async (set) => {
          await checkModelSet(set, catalog).catch(async (err: unknown) => {
            await set.close();
            throw err;
          });
          return set;
        });
        variantSets.set(path, pending);
        pending.catch(() => variantSets.delete(path));
      }
      const set = await pending;
      return servedBy(base, set);
    };
    const serving = await createServingFeed({
      runtime,
      config,
      ingestor,
      pluginsDir,
      progress,
      onError,
      service,
      experiments: await initialExperiments(config),
      runtimeForBundle,
      experimentMetrics,
      observeServed: (page, query) => {
        // Drift of the served bundle's rows only (a canary variant's bundle has its own artifacts), and only of items
        // the ranker scored: a popularity fill or a shed request's page was never the model's input, and building its
        // rows cost a request that ranks nothing a fifth of its CPU.
        const sample: Video[] = [];
        for (const item of page.items) {
          if (sample.length === driftConfig.rowsPerRequest) break;
          if (rankedByModel(item)) sample.push(item.video);
        }
        if (sample.length === 0 || page.modelVersion !== drift.version) return;
        const monitor = drift.monitor;
        const observe = (aggs: ReadonlyMap<string, VideoAggregates>): void => {
          try {
            monitor.observe(query, sample, aggs);
          } catch (err) {
            onError(err, "drift monitor");
          }
        };
        state.getVideos(sample.map((v) => v.id)).then(observe, () => observe(new Map()));
      },
    });
    const experimentsFile = config.experiments.file;
    if (experimentsFile) {
      const watcher = watchExperimentsFile(experimentsFile, config.experiments.reloadMs, async (definitions) => {
        const { drained } = await serving.reloadExperiments(definitions, `experiments.file(${experimentsFile}).definitions`);
        progress.log(`experiments: reloaded ${definitions.length} from ${experimentsFile}`);
        // A canary bundle no experiment serves any more is released once the requests still using it are done.
        const used = new Set(serving.experiments().flatMap((e) => e.variants.flatMap((v) => (v.overrides.bundle ? [resolve(v.overrides.bundle)] : []))));
        void drained.then(async () => {
          for (const [path, set] of variantSets) {
            if (used.has(path)) continue;
            variantSets.delete(path);
            await (await set.catch(() => undefined))?.close();
          }
        });
      }, onError);
      closers.push(() => watcher.close());
    }

    // Hot swap: the new bundle is opened and checked beside the serving one, every pipeline is built over it, then
    // one pointer moves. Requests in flight finish on the old models, which are released once they have.
    let swapping: Promise<unknown> = Promise.resolve();
    const swapBundle = (dir: string): Promise<SwapResult> => {
      const run = swapping.then(async (): Promise<SwapResult> => {
        const path = resolve(dir);
        const started = Date.now();
        const set = await openServedModelSet({ bundleDir: path, config, state, progress, onError });
        let retargeted = false;
        try {
          await checkModelSet(set, catalog);
          await warmUp({ set, vectors: { ...vectors, twoTower: set.twoTower }, catalog, progress, onError });
          // Videos uploaded since the first bundle get the new bundle's two-tower vectors, and later uploads too.
          await liveCatalog.retargetTwoTower({
            twoTower: set.twoTower,
            videoTower: set.sessions.videoTower,
            videoTowerFingerprint: set.videoTowerFingerprint,
            artifacts: set.artifacts,
            twoTowerDim: set.manifest.embeddings.twoTowerDim,
          });
          retargeted = true;
          const next: FeedRuntime = servedBy(runtime, set);
          const { drained } = await serving.swapRuntime(next);
          const previous = active;
          active = set;
          runtime = next;
          drift = newDrift(set);
          // The first set's index is the runtime's own (closed with the stores); a swapped-in set owns its index.
          void drained.then(() => previous.close());
          progress.log(`models: now serving ${set.manifest.version} (was ${previous.manifest.version}), swapped in ${Date.now() - started} ms`);
          return { version: set.manifest.version, previous: previous.manifest.version, bundleDir: path, drained };
        } catch (err) {
          // Uploads go back to the index that keeps serving before this set's index closes.
          if (retargeted) {
            await liveCatalog
              .retargetTwoTower({
                twoTower: active.twoTower,
                videoTower: active.sessions.videoTower,
                videoTowerFingerprint: active.videoTowerFingerprint,
                artifacts: active.artifacts,
                twoTowerDim: active.manifest.embeddings.twoTowerDim,
              })
              .catch((e: unknown) => onError(e, "catalogue back to the serving bundle"));
          }
          await set.close();
          throw err;
        }
      });
      swapping = run.catch(() => undefined);
      return run;
    };

    // State bootstrap + consumer start: now in embedded mode; with Redis, as soon as it answers.
    const history = bootstrapEvents(dataset);
    let closed = false;
    let readyFlag = false;
    const startEvents = async (): Promise<void> => {
      // Where the in-process graph's replay stopped: the consumer's hook goes on from exactly there.
      let hookFrom: { hookFrom: string | undefined } | undefined;
      if (redis) {
        const others = await otherBootstraps(redis, redisKeyPrefix, manifest.dataFingerprint);
        if (others.length > 0) {
          progress.log(`! state (redis): prefix ${redisKeyPrefix} already holds the history of other data (${others.map((o) => o.slice(0, 8)).join(", ")}); use a separate key prefix per dataset`);
        }
        const outcome = await bootstrapRedisState({ redis, keyPrefix: redisKeyPrefix, dataId: manifest.dataFingerprint, store: state, events: history, videoOf, progress });
        if (outcome === "timed-out") progress.log(`! state (redis): another process is still bootstrapping ${redisKeyPrefix}; serving meanwhile`);
        else if (outcome !== "applied") progress.log(`state (redis): history already applied under ${redisKeyPrefix}`);
        // The consumer resumes from the checkpoint stored with the Redis state; an in-process graph lost the
        // events before it, so replay those into the graph only.
        const checkpoint = await state.checkpoint();
        if (graph.kind === "embedded" && checkpoint !== undefined) await replayGraphUntil(log, graph, checkpoint, progress);
        if (graph.kind === "embedded") hookFrom = { hookFrom: checkpoint };
      } else {
        // The memory store starts empty: history first, then the consumer replays the log from its start.
        await applyHistory({ store: state, events: history, videoOf, progress });
      }
      if (closed) return;
      await consumer.start(hookFrom);
      readyFlag = true;
    };

    let ready: Promise<void>;
    if (redis && !(await waitForRedis(redis, redisConnectTimeoutMs))) {
      progress.log(
        `! redis ${redactUrl(redisUrl!)} is unreachable: serving degraded (empty real-time state, STATE_UNAVAILABLE; ` +
          `events buffered locally). State bootstrap and event consumption start when it answers.`,
      );
      const client = redis;
      ready = new Promise<void>((resolve) => {
        const attempt = (): void => {
          if (closed) return;
          startEvents().then(resolve, (err: unknown) => {
            onError(err, "deferred state bootstrap");
            client.once("ready", attempt);
          });
        };
        client.once("ready", attempt);
      });
    } else {
      await startEvents();
      ready = Promise.resolve();
    }

    // A Redis that is down leaves the catalogue as the bundle has it until the log answers (the consumer retries).
    const replayStarted = Date.now();
    const redisUp = !redis || (await waitForRedis(redis, 0));
    await liveCatalog.start(redisUp ? 600_000 : 1).then(
      () => progress.log(`catalogue: ${liveCatalog.applier.stats().applied} changes since the bundle applied in ${Date.now() - replayStarted} ms`),
      (err: unknown) => onError(err, "catalogue replay (continuing in the background)"),
    );

    if (!config.events.consume) progress.log(`serving replica (events.consume false): another instance applies the event log to the Redis state under ${redisKeyPrefix}`);
    progress.log(`runtime ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    let closing: Promise<void> | undefined;
    void sessions;
    return {
      // What a hot swap changes is read through getters: a caller always sees the models serving now.
      get runtime() {
        return runtime;
      },
      feed: serving.feed,
      get definition() {
        return serving.definition;
      },
      serving,
      experimentMetrics,
      drift: () => drift.monitor.report(),
      swapBundle,
      get bundleDir() {
        return active.bundleDir;
      },
      catalog,
      dataset,
      get manifest() {
        return active.manifest;
      },
      get artifacts() {
        return active.artifacts;
      },
      contentModel,
      ingestor,
      consumer,
      log,
      liveCatalog,
      state,
      graph,
      redis,
      get sessions() {
        return active.sessions;
      },
      get videoTowerFingerprint() {
        return active.videoTowerFingerprint;
      },
      ready,
      isReady: () => readyFlag,
      close: () =>
        (closing ??= (async () => {
          closed = true;
          await releaseAll([...closers].reverse(), onError);
        })()),
    };
  } catch (err) {
    return fail(err);
  }
}

/** Applies the log's graph events up to `until` (inclusive) to the graph. */
async function replayGraphUntil(log: EventLog, graph: GraphStore, until: string, progress: Progress): Promise<void> {
  const step = progress.step("graph: replaying logged events up to the state checkpoint");
  let cursor: string | undefined;
  for (;;) {
    const recs = await log.read(cursor, 1000);
    const upto = recs.filter((r) => compareCursors(r.cursor, until) <= 0);
    if (upto.length > 0) await applyToGraph(graph, upto.map((r) => r.event));
    step.tick(upto.length);
    if (upto.length < recs.length || recs.length < 1000) break;
    cursor = recs[recs.length - 1].cursor;
  }
  step.done();
}

/**
 * One throw-away pass through the models and indexes before the first request: ONNX Runtime and V8 do their lazy
 * work (kernel selection, JIT) on the first calls, which otherwise lands on the first user's request and blows its
 * source budget (a 40 ms TwoTower timeout on a cold process). Read-only: no page is served, nothing is logged.
 */
async function warmUp(options: {
  set: Pick<ModelSet, "userTower" | "ranker">;
  vectors: FeedRuntime["vectors"];
  catalog: Catalog;
  progress: Progress;
  onError: (error: unknown, where: string) => void;
}): Promise<void> {
  const { set, vectors, catalog, progress, onError } = options;
  const { userTower, ranker } = set;
  const started = Date.now();
  const query = probeQuery("__reelfeed_warmup__");
  try {
    const videos = catalog.newest().slice(0, 500);
    for (let round = 0; round < 3; round++) {
      const embedding = await userTower.embed(query);
      if (vectors.twoTower) await vectors.twoTower.search(embedding, 300);
      if (vectors.content && videos[0]) {
        const seed = await vectors.content.get(videos[0].id);
        if (seed) await vectors.content.search(seed, 150);
      }
      await ranker.score(query, videos);
    }
    progress.log(`warm-up: models and indexes exercised in ${Date.now() - started} ms`);
  } catch (err) {
    onError(err, "warm-up");
  }
}

/** A request of an unknown user at home, now: what the warm-up and the bundle checks send through the models. */
function probeQuery(userId: string): FeedQuery {
  return {
    userId,
    surface: "home",
    context: { device: "unknown", now: Date.now(), sessionVideoIds: [] },
    relations: { notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] },
    seen: EMPTY_SEEN,
    pageSize: 20,
  };
}

/** A served bundle's model set, with its manifest: the bundle checks, the hot swap and the live catalogue read it. */
interface ServedModelSet extends ModelSet {
  manifest: BundleManifest;
}

/** Opens another bundle's models beside the serving ones (hot swap, canary variant), from its manifest. */
async function openServedModelSet(options: Omit<OpenModelSetOptions, "files">): Promise<ServedModelSet> {
  const manifest = await readManifest(options.bundleDir);
  return { ...(await openModelSet({ ...options, files: bundleModelFiles(manifest) })), manifest };
}

/**
 * The checks a bundle passes before it serves a single request (hot swap, canary): the parity its export measured
 * is within MAX_PARITY_DIFF, and the loaded models answer a probe request of real catalogue videos with an embedding
 * of the declared width and finite probabilities in [0, 1] for every declared head. Throws BAD_BUNDLE naming what
 * failed. Not a quality check: that is the promotion gate's (src/training/registry.ts).
 */
async function checkModelSet(set: ServedModelSet, catalog: Catalog): Promise<void> {
  const { manifest } = set;
  const bad = (what: string): ReelfeedError => new ReelfeedError("BAD_BUNDLE", `${set.bundleDir}: ${what}`, { path: set.bundleDir, check: what });
  for (const [name, diff] of [
    ["user tower", manifest.models.userTower.parityMaxAbsDiff],
    ["ranker", manifest.models.ranker.parityMaxAbsDiff],
  ] as const) {
    if (!(typeof diff === "number" && Number.isFinite(diff) && diff <= MAX_PARITY_DIFF)) {
      throw bad(`${name} ONNX parity ${String(diff)} is over ${MAX_PARITY_DIFF} (or missing): the exported model does not compute what was trained`);
    }
  }
  const query = probeQuery("__reelfeed_bundle_check__");
  let embedding: Float32Array;
  try {
    embedding = await set.userTower.embed(query);
  } catch (err) {
    throw bad(`the user tower fails on a probe request (${(err as Error).message})`);
  }
  if (embedding.length !== manifest.models.userTower.dim || !embedding.every(Number.isFinite)) {
    throw bad(`the user tower returns ${embedding.length} values (declared ${manifest.models.userTower.dim}), or non-finite ones`);
  }
  const videos = catalog.newest().slice(0, 50);
  let heads: Record<string, Float32Array>;
  try {
    heads = await set.ranker.score(query, videos);
  } catch (err) {
    throw bad(`the ranker fails on a probe request (${(err as Error).message})`);
  }
  for (const head of manifest.models.ranker.heads) {
    const p = heads[head];
    if (!p || p.length !== videos.length || !p.every((x) => Number.isFinite(x) && x >= 0 && x <= 1)) {
      throw bad(`ranker head "${head}" is missing, of the wrong length, or not a probability`);
    }
  }
}
