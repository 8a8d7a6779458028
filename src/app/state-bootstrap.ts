import type { Redis } from "ioredis";
import type { Dataset, ReelEvent, Video } from "../data/types";
import type { StateStore } from "../stores/state-store";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";

/**
 * Start-up bootstrap of the real-time state from a bundle's history, so a user with past behaviour gets a
 * personalised feed (seen set, relations, aggregates, trending) from the first request.
 *
 * The history is applied through `StateStore.apply`, i.e. through applyUserEvent/applyVideoEvent: the same code
 * training replayed, so the bootstrapped aggregates equal the training features as of the end of the data.
 */

/**
 * The events that reproduce a dataset's state: its history, plus a `subscribe` per subscription that no
 * `subscribe` event in the history explains (subscriptions that predate the data window exist only in the
 * subscriptions list, and the state store learns relations from events only). Follows are not added: they only
 * feed the graph, and the state's follow set is not read by the pipeline. Sorted by time, stable.
 *
 * Trade-off: each synthesised subscribe counts as one event in the user's aggregates (events, hour histogram),
 * which training did not see. One event per pre-window subscription is a negligible skew next to a subscriptions
 * source that would otherwise be empty for every user until they subscribe again.
 */
export function bootstrapEvents(dataset: Pick<Dataset, "events" | "subscriptions">): ReelEvent[] {
  const explained = new Set<string>();
  for (const e of dataset.events) if (e.type === "subscribe") explained.add(`${e.userId}\u0000${e.creatorId}`);
  const extra: ReelEvent[] = [];
  for (const s of dataset.subscriptions) {
    if (explained.has(`${s.userId}\u0000${s.creatorId}`)) continue;
    extra.push({ id: `bootstrap:sub:${s.userId}:${s.creatorId}`, type: "subscribe", userId: s.userId, creatorId: s.creatorId, ts: s.ts });
  }
  if (extra.length === 0) return dataset.events as ReelEvent[];
  // Stable merge by ts: history events keep their order, a synthesised subscribe goes before events of its ms.
  const all = [...extra, ...dataset.events];
  return all.map((e, i) => ({ e, i })).sort((a, b) => a.e.ts - b.e.ts || a.i - b.i).map(({ e }) => e);
}

export interface BootstrapStateOptions {
  store: StateStore;
  events: readonly ReelEvent[];
  videoOf: (id: string) => Video | undefined;
  /** Events per `apply` call (one MGET + one MULTI each on Redis). @default 2000 */
  batchSize?: number;
  /** @default silentProgress */
  progress?: Progress;
}

/** Applies the history in batches, with progress. */
export async function applyHistory(options: BootstrapStateOptions): Promise<void> {
  const { store, events, videoOf, batchSize = 2000, progress = silentProgress } = options;
  const step = progress.step(`state (${store.kind}): applying ${events.length} history events`, events.length);
  for (let i = 0; i < events.length; i += batchSize) {
    const batch = events.slice(i, i + batchSize);
    await store.apply(batch, videoOf);
    step.tick(batch.length);
  }
  step.done();
}

export interface RedisBootstrapOptions extends BootstrapStateOptions {
  redis: Redis;
  /** The state store's key prefix: the marker lives beside the state it describes. */
  keyPrefix: string;
  /** Identifies the history (the bundle's data fingerprint): the same data is never applied twice. */
  dataId: string;
  /** How long a start-up waits for another process that is bootstrapping the same prefix, ms. @default 120_000 */
  waitMs?: number;
  /** A bootstrap that died half-way is retried after this long, s. @default 900 */
  lockTtlSec?: number;
}

export type RedisBootstrapOutcome = "applied" | "already" | "other-process" | "timed-out";

/**
 * Bootstraps a Redis state store once per (key prefix, dataset): the marker key `{p}bootstrap:{dataId}` is "pending"
 * while one process applies the history (SET NX: two servers starting together do not both apply it) and "done"
 * after. A restart finds "done" and skips straight to serving. Aggregates are additive, so applying the same
 * history twice would double every count: that is what the marker prevents.
 *
 * A marker for *other* data under the same prefix is reported by the caller (different data in one prefix mixes
 * two histories); use a separate key prefix per dataset.
 */
export async function bootstrapRedisState(options: RedisBootstrapOptions): Promise<RedisBootstrapOutcome> {
  const { redis, keyPrefix, dataId, waitMs = 120_000, lockTtlSec = 900, progress = silentProgress } = options;
  const marker = bootstrapMarkerKey(keyPrefix, dataId);
  const won = await redis.set(marker, "pending", "EX", lockTtlSec, "NX");
  if (won === "OK") {
    try {
      await applyHistory(options);
    } catch (err) {
      // Let the next start (or another process) retry at once rather than after the lock TTL.
      await redis.del(marker).catch(() => undefined);
      throw err;
    }
    await redis.multi().set(marker, "done").sadd(bootstrapSetKey(keyPrefix), dataId).exec();
    return "applied";
  }
  const deadline = Date.now() + waitMs;
  let value = await redis.get(marker);
  if (value === "done") return "already";
  progress.log(`state (redis): another process is bootstrapping ${keyPrefix}; waiting up to ${Math.round(waitMs / 1000)} s`);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    value = await redis.get(marker);
    if (value === "done") return "other-process";
    if (value === null) return bootstrapRedisState(options); // the other process failed: take over
  }
  return "timed-out";
}

export const bootstrapMarkerKey = (keyPrefix: string, dataId: string): string => `${keyPrefix}bootstrap:${dataId}`;

const bootstrapSetKey = (keyPrefix: string): string => `${keyPrefix}bootstraps`;

/** Data ids other than `dataId` already bootstrapped under the prefix (a warning: two histories mixed). */
export async function otherBootstraps(redis: Redis, keyPrefix: string, dataId: string): Promise<string[]> {
  return (await redis.smembers(bootstrapSetKey(keyPrefix))).filter((id) => id !== dataId);
}
