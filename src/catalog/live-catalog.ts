import { join } from "node:path";
import type { Redis } from "ioredis";
import type { ReelfeedConfig } from "../config";
import type { Catalog } from "../data/catalog";
import { createEventConsumer, type EventConsumer } from "../events/consumer";
import type { IdempotentEventLog } from "../events/id-window-deduper";
import type { FeatureArtifacts } from "../features/artifacts";
import type { ContentModel } from "../features/content-embeddings";
import type { OnnxRuntimeSession } from "../ranking/onnx-session";
import { createFileEventLog } from "../stores/event-log-file";
import { createRedisEventLog } from "../stores/event-log-redis";
import { createMemoryStateStore } from "../stores/state-store-memory";
import type { VectorIndex } from "../stores/vector-index";
import { createCatalogApplier, type CatalogApplier } from "./catalog-applier";
import type { CatalogChange } from "./catalog-changes";
import { createCatalogWriter, type CatalogWriter } from "./catalog-writer";
import { createVideoEmbedder } from "./video-embedder";

/**
 * The live catalogue of a serving process: the catalogue log, the applier that follows it into the catalog and the
 * vector indexes, and the writer the write API calls.
 *
 * The log is separate from the event log (its own folder `<varDir>/catalog`, or the stream `<prefix>catalog:events`
 * on Redis): it is replayed from its start by every process at start-up — it is the record of everything added
 * since the bundle — while the event log is consumed from a checkpoint. On Redis it is never trimmed (MAXLEN off):
 * a trimmed catalogue log would lose videos for every replica started later. Every process, writer or replica,
 * tails it, so an upload reaches every replica within a poll interval.
 */
export interface LiveCatalogOptions {
  config: ReelfeedConfig;
  catalog: Catalog;
  vectors: { twoTower?: VectorIndex; content?: VectorIndex };
  /** The bundle's feature artifacts: the video tower's rows are built from them. @default none (no video tower then) */
  artifacts?: FeatureArtifacts;
  contentModel?: ContentModel;
  /** The bundle's video tower; without one new videos get no two-tower vector. @default none */
  videoTower?: OnnxRuntimeSession;
  /** Identifies `videoTower` (ModelSet.videoTowerFingerprint): its vectors are carried in the log. @default none (not carried) */
  videoTowerFingerprint?: string;
  twoTowerDim?: number;
  /** With Redis: the log is a stream there. @default a file log under config.paths.varDir */
  redis?: Redis;
  /** @default config.backends.redisKeyPrefix */
  redisKeyPrefix?: string;
  /** Consumer pause when caught up, ms. @default 50 */
  pollMs?: number;
  onError?: (error: unknown, where: string) => void;
}

export interface LiveCatalog {
  writer: CatalogWriter;
  applier: CatalogApplier;
  consumer: EventConsumer;
  log: IdempotentEventLog;
  /**
   * A hot swap's part: new uploads get their two-tower vector from `videoTower` (with `artifacts`) into `twoTower`,
   * and every video added since the first bundle is embedded there before it resolves (CatalogApplier).
   */
  retargetTwoTower(next: {
    twoTower?: VectorIndex;
    videoTower?: OnnxRuntimeSession;
    videoTowerFingerprint?: string;
    artifacts: FeatureArtifacts;
    twoTowerDim?: number;
  }): Promise<void>;
  /** Starts following the log; resolves once everything logged before the call is applied (or after `timeoutMs`). */
  start(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function openLiveCatalog(options: LiveCatalogOptions): Promise<LiveCatalog> {
  const { config, catalog, vectors, artifacts, contentModel, videoTower, videoTowerFingerprint, twoTowerDim, redis, pollMs = 50, onError = () => {} } = options;
  const prefix = options.redisKeyPrefix ?? config.backends.redisKeyPrefix;
  const log: IdempotentEventLog = redis
    ? await createRedisEventLog({
        redis,
        keyPrefix: `${prefix}catalog:`,
        maxLen: Number.MAX_SAFE_INTEGER,
        bufferDir: join(config.paths.varDir, "redis-catalog-buffer"),
        onError: (e) => onError(e, "redis catalogue log replay"),
      })
    : await createFileEventLog({ dir: join(config.paths.varDir, "catalog"), segmentBytes: config.events.segmentBytes });
  const embedder = createVideoEmbedder({ contentModel, videoTower, artifacts, twoTowerDim, videoTowerFingerprint });
  const applier = createCatalogApplier({ catalog, vectors, embedder });
  const consumer = createEventConsumer({
    log,
    // Not applied to any state (applyState false): a fresh in-memory store only makes the consumer start at the
    // beginning of the log, which is what rebuilding the catalogue needs.
    store: createMemoryStateStore(),
    videoOf: () => undefined,
    applyState: false,
    onEvents: (records) => applier.apply(records as unknown as CatalogChange[]),
    pollMs,
    // Never trimmed (see above), and no dead letter: a change that cannot be applied yet (a video tower failure) is
    // retried, never parked, since it was acknowledged.
    retainEveryMs: 0,
    onError: (e) => onError(e, "catalogue consumer"),
  });
  const writer = createCatalogWriter({
    log,
    applier,
    consumer,
    maxBatch: config.server.maxEventBatch,
    validation: { maxFutureSkewMs: config.events.maxFutureSkewMs },
    applyBlocked: () => "circuitOpen" in log && typeof log.circuitOpen === "function" && log.circuitOpen(),
    onError,
  });
  let started = false;
  return {
    writer,
    applier,
    consumer,
    log,
    retargetTwoTower: (next) =>
      applier.retargetTwoTower({
        twoTower: next.twoTower,
        embedder: createVideoEmbedder({
          contentModel,
          videoTower: next.videoTower,
          artifacts: next.artifacts,
          twoTowerDim: next.twoTowerDim,
          videoTowerFingerprint: next.videoTowerFingerprint,
        }),
      }),
    async start(timeoutMs = 60_000) {
      if (!started) {
        started = true;
        await consumer.start();
      }
      await consumer.catchUp(timeoutMs);
    },
    async close() {
      await consumer.stop();
      await log.close();
    },
  };
}

/** The live catalogue's series on /metrics: what was written through this process and what its applier applied. */
export function registerCatalogueMetrics(
  registry: { counterFrom(name: string, help: string, read: () => number): void },
  live: Pick<LiveCatalog, "writer" | "applier">,
): void {
  for (const [status, what] of [
    ["ACCEPTED", "written to the catalogue log"],
    ["DUPLICATE", "already applied in that version (retries)"],
    ["STALE", "older than the applied version"],
    ["REJECTED", "invalid"],
  ] as const) {
    registry.counterFrom(`reelfeed_catalog_items_${status.toLowerCase()}_total`, `Catalogue write items answered ${status}: ${what}.`, () => live.writer.stats()[status]);
  }
  registry.counterFrom("reelfeed_catalog_changes_applied_total", "Catalogue changes this process applied from the log (every process applies all of them).", () => live.applier.stats().applied);
  registry.counterFrom("reelfeed_catalog_videos_embedded_total", "Videos embedded (content model and video tower) by this process's applier.", () => live.applier.stats().videosEmbedded);
  registry.counterFrom(
    "reelfeed_catalog_videos_carried_total",
    "Videos this process's applier took with the vectors their log record carries (embedded once, by the writing process).",
    () => live.applier.stats().videosCarried,
  );
  registry.counterFrom("reelfeed_catalog_takedowns_total", "Takedowns this process applied.", () => live.applier.stats().removed);
}
