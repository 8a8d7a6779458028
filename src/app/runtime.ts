import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Redis } from "ioredis";
import type { ReelfeedConfig } from "../config";
import { createCatalog, type Catalog } from "../data/catalog";
import { loadDataset } from "../data/load-dataset";
import type { Dataset } from "../data/types";
import { openLiveCatalog, type LiveCatalog } from "../catalog/live-catalog";
import { ReelfeedError } from "../errors";
import { createEventConsumer, type EventConsumer } from "../events/consumer";
import { compareCursors } from "../events/cursor";
import { createIngestor } from "../events/ingest";
import type { EventIngestor } from "../events/ingestor";
import { loadFeatureArtifacts, type FeatureArtifacts } from "../features/artifacts";
import { loadContentModel, type ContentModel } from "../features/content-embeddings";
import { loadContentNeighbours } from "../features/content-neighbours";
import type { PipelineFeedService } from "../pipeline/feed-pipeline";
import type { PipelineDefinition } from "../pipeline/pipeline-definition";
import type { FeedQuery, FeedRuntime } from "../pipeline/types";
import { createOnnxRuntimeSession, type OnnxRuntimeSession } from "../ranking/onnx-session";
import { createOnnxWorkerSession } from "../ranking/onnx-worker-session";
import { createOnnxRankerModel, type OnnxRankerModel } from "../ranking/ranker-model";
import { createOnnxUserTowerModel, type OnnxUserTowerModel } from "../ranking/user-tower-model";
import { BUNDLE_FILES, readManifest, readMatrix, type BundleManifest } from "../training/bundle";
import { MAX_PARITY_DIFF } from "../training/registry";
import { createFileEventLog } from "../stores/event-log-file";
import type { EventLog } from "../stores/event-log";
import { createRedisEventLog } from "../stores/event-log-redis";
import { createFileDeadLetter, createRedisDeadLetter, type DeadLetterSink } from "../stores/dead-letter";
import type { GraphStore } from "../stores/graph-store";
import { activateVectorIndex, loadVectors, openGraphStore, openVectorIndex } from "../stores/open-stores";
import { withNeighbourLists } from "../stores/vector-neighbour-lists";
import { createRedisClient, redactUrl, waitForRedis } from "../stores/redis-client";
import { EMPTY_SEEN } from "../stores/seen-set";
import { createMemoryStateStore } from "../stores/state-store-memory";
import { createRedisStateStore } from "../stores/state-store-redis";
import type { StateStore } from "../stores/state-store";
import type { VectorIndex } from "../stores/vector-index";
import type { CheckpointedStateStore } from "../events/checkpointed-store";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";
import { applyToGraph, bootstrapGraph } from "./graph-sync";
import { createServingFeed, type ExperimentFeedService, type ServingFeed, type ServingFeedOptions } from "./serving-feed";
import { createMemoryCountsStore, createRedisCountsStore, type ExperimentCountsStore } from "../experiments/counts-store";
import type { ExperimentConfig } from "../experiments/experiment-config";
import { readExperimentsFile, watchExperimentsFile } from "../experiments/experiments-file";
import { createExperimentMetrics, isRequestField, type ExperimentMetrics } from "../experiments/online-metrics";
import { createDriftMonitor, driftReferenceInWorker, type DriftReport } from "../experiments/drift";
import type { ReelEvent } from "../data/types";
import type { VideoAggregates } from "../features/aggregates";
import { applyHistory, bootstrapEvents, bootstrapRedisState, otherBootstraps } from "./state-bootstrap";

/**
 * Everything a serving process holds, loaded from one model bundle: catalog and history (the bundle's data/),
 * feature artifacts, vector indexes, social graph, real-time state, ONNX models, the durable event log with its
 * ingestor and consumer, and the feed service over all of it. Start-up order follows the data dependencies:
 *
 *   manifest → data/ (catalog + history) → artifacts, content model → vector indexes (bulk-loaded)
 *   → graph (follows + engagements of the history) → state store (history applied once) → ONNX sessions
 *   → event log → ingestor + consumer (new events → state, graph) → pipeline + feed service (impressions → log)
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

/** Sessions are cheap to leave to process exit, but a clean close lets tests open many runtimes in one process. */
async function releaseAll(closers: Array<() => Promise<unknown> | unknown>, onError: (e: unknown, where: string) => void): Promise<void> {
  for (const close of closers) {
    try {
      await close();
    } catch (err) {
      onError(err, "close");
    }
  }
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

async function openVectors(
  config: ReelfeedConfig,
  bundleDir: string,
  manifest: BundleManifest,
  videoIds: string[],
  progress: Progress,
): Promise<{ twoTower?: VectorIndex; content?: VectorIndex }> {
  const out: { twoTower?: VectorIndex; content?: VectorIndex } = {};
  const specs = [
    { key: "twoTower" as const, name: "videos", file: manifest.embeddings.twoTower, dim: manifest.embeddings.twoTowerDim },
    { key: "content" as const, name: "content", file: manifest.embeddings.content, dim: manifest.embeddings.contentDim },
  ];
  for (const spec of specs) {
    if (!spec.file || !spec.dim || !existsSync(join(bundleDir, spec.file))) {
      progress.log(`vectors: the bundle has no ${spec.key} embeddings; sources that need them are disabled`);
      continue;
    }
    const step = progress.step(`vectors: ${spec.key} ${videoIds.length} × ${spec.dim}`);
    const matrix = await readMatrix(join(bundleDir, spec.file), videoIds.length, spec.dim);
    // On Qdrant one collection per bundle version under an alias: a restart of the same version finds its vectors
    // in place and skips the upload, then the alias moves to it and superseded versions go (the previous one stays
    // for replicas still serving it); the embedded index is always bulk-loaded (one copy + index build).
    const index = await openVectorIndex(config, { name: spec.name, version: manifest.version, dim: spec.dim });
    if (index.kind === "embedded" || (await index.size()) !== videoIds.length) await loadVectors(index, videoIds, matrix);
    const removed = await activateVectorIndex(index);
    if (removed.length > 0) progress.log(`vectors: removed superseded collections ${removed.join(", ")}`);
    step.done(`${index.kind}`);
    out[spec.key] = index;
  }
  // The Content source's seeds are answered from the bundle's precomputed neighbour lists where they can be.
  const listsPath = join(bundleDir, BUNDLE_FILES.contentNeighbours);
  if (out.content && existsSync(listsPath)) out.content = withNeighbourLists(out.content, await loadContentNeighbours(listsPath));
  return out;
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
  const closers: Array<() => Promise<unknown> | unknown> = [];
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

    const videoIds = JSON.parse(await readFile(join(bundleDir, manifest.embeddings.videoIds), "utf8")) as string[];
    if (!Array.isArray(videoIds)) throw new ReelfeedError("BAD_BUNDLE", `${join(bundleDir, manifest.embeddings.videoIds)}: expected a JSON list of ids`);
    const vectors = await openVectors(config, bundleDir, manifest, videoIds, progress);
    for (const index of Object.values(vectors)) closers.push(() => index.close());

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

    // ONNX models, on the configured execution providers, micro-batched: openModelSet, the same code that loads a
    // canary's or a hot-swapped bundle's models. The active set is closed last (after a swap, the new one).
    const first = await openModelSet({ bundleDir, manifest, artifacts, config, state, twoTower: vectors.twoTower, progress, onError });
    let active = first;
    closers.push(() => active.close());
    const sessions = first.sessions;
    const { userTower, ranker } = first;

    await warmUp({ userTower, ranker, vectors, catalog, progress, onError });

    let runtime: FeedRuntime = { catalog, state, graph, vectors, models: { userTower, ranker, neighbours: artifacts.neighbours }, modelVersion: manifest.version };

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
    const newDrift = (set: ModelSet) => ({
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
    const variantSets = new Map<string, Promise<ModelSet>>();
    closers.push(async () => {
      for (const set of variantSets.values()) await (await set.catch(() => undefined))?.close();
    });
    const runtimeForBundle = async (dir: string, base: FeedRuntime): Promise<FeedRuntime> => {
      const path = resolve(dir);
      let pending = variantSets.get(path);
      if (!pending) {
        pending = openModelSet({ bundleDir: path, config, state, progress, onError }).then(async (set) => {
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
      return { ...base, vectors: { ...base.vectors, twoTower: set.twoTower }, models: { userTower: set.userTower, ranker: set.ranker, neighbours: set.artifacts.neighbours }, modelVersion: set.manifest.version };
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
        // Drift of the served bundle's rows only (a canary variant's bundle has its own artifacts).
        const sample = page.items.slice(0, driftConfig.rowsPerRequest).map((i) => i.video);
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
        const set = await openModelSet({ bundleDir: path, config, state, progress, onError });
        let retargeted = false;
        try {
          await checkModelSet(set, catalog);
          await warmUp({ userTower: set.userTower, ranker: set.ranker, vectors: { ...vectors, twoTower: set.twoTower }, catalog, progress, onError });
          // Videos uploaded since the first bundle get the new bundle's two-tower vectors, and later uploads too.
          await liveCatalog.retargetTwoTower({
            twoTower: set.twoTower,
            videoTower: set.sessions.videoTower,
            artifacts: set.artifacts,
            twoTowerDim: set.manifest.embeddings.twoTowerDim,
          });
          retargeted = true;
          const next: FeedRuntime = { ...runtime, vectors: { ...vectors, twoTower: set.twoTower }, models: { userTower: set.userTower, ranker: set.ranker, neighbours: set.artifacts.neighbours }, modelVersion: set.manifest.version };
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
              .retargetTwoTower({ twoTower: active.twoTower, videoTower: active.sessions.videoTower, artifacts: active.artifacts, twoTowerDim: active.manifest.embeddings.twoTowerDim })
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
  userTower: OnnxUserTowerModel;
  ranker: OnnxRankerModel;
  vectors: { twoTower?: VectorIndex; content?: VectorIndex };
  catalog: Catalog;
  progress: Progress;
  onError: (error: unknown, where: string) => void;
}): Promise<void> {
  const { userTower, ranker, vectors, catalog, progress, onError } = options;
  const started = Date.now();
  const query: FeedQuery = {
    userId: "__reelfeed_warmup__",
    surface: "home",
    context: { device: "unknown", now: Date.now(), sessionVideoIds: [] },
    relations: { notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] },
    seen: EMPTY_SEEN,
    pageSize: 20,
  };
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

/**
 * One bundle's models: feature artifacts, the ONNX user tower, ranker and video tower, and (unless given) its
 * two-tower video vectors in an index of their own. The server's active bundle, a hot-swapped one and a canary
 * variant's bundle are all opened here, so they are served the same way.
 */
export interface ModelSet {
  bundleDir: string;
  manifest: BundleManifest;
  artifacts: FeatureArtifacts;
  userTower: OnnxUserTowerModel;
  ranker: OnnxRankerModel;
  /** The bundle's two-tower index (the one given, or its own). */
  twoTower?: VectorIndex;
  sessions: { userTower?: OnnxRuntimeSession; ranker?: OnnxRuntimeSession; videoTower?: OnnxRuntimeSession };
  /** Releases the sessions and the index this set opened. Idempotent. */
  close(): Promise<void>;
}

export interface OpenModelSetOptions {
  bundleDir: string;
  config: ReelfeedConfig;
  /** Where the ranker reads video aggregates (the serving state store). */
  state: StateStore;
  /** Already read. @default read from bundleDir */
  manifest?: BundleManifest;
  /** Already loaded. @default loaded from bundleDir */
  artifacts?: FeatureArtifacts;
  /** Serve this two-tower index (not closed by the set). @default the bundle's vectors, bulk-loaded into a new index */
  twoTower?: VectorIndex;
  progress?: Progress;
  onError?: (error: unknown, where: string) => void;
}

export async function openModelSet(options: OpenModelSetOptions): Promise<ModelSet> {
  const { bundleDir, config, state, progress = silentProgress, onError = () => {} } = options;
  const owned: Array<() => Promise<unknown> | unknown> = [];
  try {
    const manifest = options.manifest ?? (await readManifest(bundleDir));
    const artifacts = options.artifacts ?? (await loadFeatureArtifacts(join(bundleDir, BUNDLE_FILES.features)));
    let twoTower = options.twoTower;
    if (!options.twoTower) {
      const idsPath = join(bundleDir, manifest.embeddings.videoIds);
      const videoIds = JSON.parse(await readFile(idsPath, "utf8")) as string[];
      if (!Array.isArray(videoIds)) throw new ReelfeedError("BAD_BUNDLE", `${idsPath}: expected a JSON list of ids`);
      const file = manifest.embeddings.twoTower;
      const dim = manifest.embeddings.twoTowerDim;
      if (file && dim && existsSync(join(bundleDir, file))) {
        const matrix = await readMatrix(join(bundleDir, file), videoIds.length, dim);
        const index = await openVectorIndex(config, { name: "videos", version: manifest.version, dim });
        owned.push(() => index.close());
        if (index.kind === "embedded" || (await index.size()) !== videoIds.length) await loadVectors(index, videoIds, matrix);
        twoTower = index;
      }
    }
    const sessions: ModelSet["sessions"] = {};
    const openSession = async (name: string, file: string) => {
      const open = config.ranking.inferenceThread === "worker" ? createOnnxWorkerSession : createOnnxRuntimeSession;
      const session = await open({
        model: join(bundleDir, file),
        executionProviders: config.ranking.executionProviders,
        intraOpNumThreads: config.ranking.onnxThreads,
        name,
        log: (m) => progress.log(m),
      });
      owned.push(() => session.release());
      return session;
    };
    sessions.userTower = await openSession("user-tower", manifest.models.userTower.file);
    const userTower: OnnxUserTowerModel = await createOnnxUserTowerModel({
      session: sessions.userTower,
      artifacts,
      microBatchWindowMs: config.ranking.microBatchWindowMs,
      maxBatchRows: config.ranking.maxBatchRows,
    });
    sessions.ranker = await openSession("ranker", manifest.models.ranker.file);
    const ranker: OnnxRankerModel = createOnnxRankerModel({
      session: sessions.ranker,
      artifacts,
      version: manifest.version,
      heads: manifest.models.ranker.heads,
      // Video aggregates are ranker features; when the state store is down the ranker still scores with the rest
      // (the request already reports STATE_UNAVAILABLE) instead of the whole page falling back to source order.
      state: {
        getVideos: (ids) => state.getVideos(ids).catch((err: unknown) => (onError(err, "ranker video features"), new Map())),
      },
      microBatchWindowMs: config.ranking.microBatchWindowMs,
      maxBatchRows: config.ranking.maxBatchRows,
    });
    progress.log(`models ${manifest.version}: user tower dim ${userTower.dim} and ranker [${ranker.heads.join(", ")}] on ${ranker.executionProvider}`);
    // The video tower embeds videos added after training; bundles from before it ship none (no two-tower vector
    // for a new upload then: the other sources still find it).
    const videoTowerFile = manifest.models.videoTower?.file;
    if (videoTowerFile && existsSync(join(bundleDir, videoTowerFile))) sessions.videoTower = await openSession("video-tower", videoTowerFile);
    else progress.log("! the bundle ships no video tower: videos added at serving time get no two-tower vector (retrain to ship one)");
    let closing: Promise<void> | undefined;
    return {
      bundleDir,
      manifest,
      artifacts,
      userTower,
      ranker,
      twoTower,
      sessions,
      close: () => (closing ??= releaseAll([...owned].reverse(), onError)),
    };
  } catch (err) {
    await releaseAll([...owned].reverse(), onError);
    throw err;
  }
}

/**
 * The checks a bundle passes before it serves a single request (hot swap, canary): the parity its export measured
 * is within MAX_PARITY_DIFF, and the loaded models answer a probe request of real catalogue videos with an embedding
 * of the declared width and finite probabilities in [0, 1] for every declared head. Throws BAD_BUNDLE naming what
 * failed. Not a quality check: that is the promotion gate's (src/training/registry.ts).
 */
export async function checkModelSet(set: ModelSet, catalog: Catalog): Promise<void> {
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
  const query: FeedQuery = {
    userId: "__reelfeed_bundle_check__",
    surface: "home",
    context: { device: "unknown", now: Date.now(), sessionVideoIds: [] },
    relations: { notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] },
    seen: EMPTY_SEEN,
    pageSize: 20,
  };
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
