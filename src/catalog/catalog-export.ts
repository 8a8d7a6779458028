import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { ReelfeedConfig } from "../config";
import { createCatalog } from "../data/catalog";
import type { Dataset, ReelEvent } from "../data/types";
import { createRedisEventLog } from "../stores/event-log-redis";
import { connectRedis } from "../stores/redis-client";
import type { Progress } from "../util/progress";
import { createCatalogApplier } from "./catalog-applier";
import type { CatalogChange } from "./catalog-changes";
import { createVideoEmbedder } from "./video-embedder";

/**
 * The live catalogue for `export-training`: the catalogue log read without opening it for writing (a live server may
 * be appending), and the bundle's catalog brought to the state the servers have, by the same applier and versions.
 *
 * Point in time: the exported videos, users and creators are each in their newest version (what the generic layout
 * holds); a video uploaded after the bundle keeps its `uploadedAt`, so the time split trains on it only from then,
 * and a removed one is kept flagged "removed" (its events stay; it is never a candidate). Every version with its
 * `updatedAt` (and every takedown with its time) is written beside the dataset as `catalog-changes.jsonl`, the full
 * history for whoever needs the catalogue as it was at a given time.
 */
export const CATALOG_CHANGES_FILE = "catalog-changes.jsonl";

export interface CatalogueLogRead {
  where: string;
  changes: CatalogChange[];
}

/** Reads the whole catalogue log (file or Redis, plus a Redis deployment's not yet replayed local buffer). */
export async function readCatalogueLog(
  config: ReelfeedConfig,
  options: { redisKeyPrefix: string; readFileLog: (dir: string, onRecord: (e: ReelEvent) => void) => Promise<number>; batchSize?: number },
): Promise<CatalogueLogRead> {
  const { redisKeyPrefix, readFileLog, batchSize = 10_000 } = options;
  const seen = new Set<string>();
  const changes: CatalogChange[] = [];
  const add = (e: ReelEvent): void => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    changes.push(e as unknown as CatalogChange);
  };
  const { redisUrl } = config.backends;
  if (redisUrl) {
    const redis = await connectRedis({ url: redisUrl });
    try {
      const log = await createRedisEventLog({ redis, keyPrefix: `${redisKeyPrefix}catalog:`, maxLen: Number.MAX_SAFE_INTEGER });
      try {
        for (let cursor: string | undefined; ; ) {
          const recs = await log.read(cursor, batchSize);
          if (recs.length === 0) break;
          for (const r of recs) add(r.event);
          cursor = recs[recs.length - 1].cursor;
        }
      } finally {
        await log.close();
      }
    } finally {
      redis.disconnect();
    }
    const buffer = resolve(config.paths.varDir, "redis-catalog-buffer");
    if (existsSync(buffer)) await readFileLog(buffer, add);
    return { where: `redis ${redisKeyPrefix}catalog:events`, changes };
  }
  const dir = resolve(config.paths.varDir, "catalog");
  if (existsSync(dir)) await readFileLog(dir, add);
  return { where: dir, changes };
}

/** `base` with the catalogue changes applied in log order (versions compared as the servers compare them). */
export async function applyCatalogueChanges(base: Dataset, changes: readonly CatalogChange[], progress?: Progress): Promise<{ dataset: Dataset; applied: number }> {
  const catalog = createCatalog(base);
  // No models: training embeds every video itself; only the catalogue's contents matter here.
  const applier = createCatalogApplier({ catalog, vectors: {}, embedder: createVideoEmbedder({}) });
  for (let i = 0; i < changes.length; i += 10_000) await applier.apply(changes.slice(i, i + 10_000));
  const ids = <T extends { id: string }>(rows: readonly T[], extra: Iterable<string>): string[] => [...new Set([...rows.map((r) => r.id), ...extra])];
  const of = (kind: CatalogChange["kind"]) => changes.flatMap((c) => (c.kind === kind ? [c] : []));
  const videoIds = ids(base.videos, of("video").map((c) => (c as Extract<CatalogChange, { kind: "video" }>).video.id));
  const userIds = ids(base.users, of("user").map((c) => (c as Extract<CatalogChange, { kind: "user" }>).user.id));
  const creatorIds = ids(base.creators, of("creator").map((c) => (c as Extract<CatalogChange, { kind: "creator" }>).creator.id));
  const stats = applier.stats();
  progress?.log(`export-training: catalogue log: ${stats.applied} changes applied (${stats.skipped} stale or repeated), ${stats.removed} takedowns`);
  return {
    applied: stats.applied,
    dataset: {
      ...base,
      videos: videoIds.flatMap((id) => catalog.video(id) ?? []),
      users: userIds.flatMap((id) => catalog.user(id) ?? []),
      creators: creatorIds.flatMap((id) => catalog.creator(id) ?? []),
    },
  };
}
