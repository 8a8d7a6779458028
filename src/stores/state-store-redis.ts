import type { ChainableCommander, Redis } from "ioredis";
import type { ReelEvent, Video } from "../data/types";
import { assertNever } from "../data/types";
import {
  DAY_MS,
  TREND_HALF_LIFE_MS,
  applyUserEvent,
  applyVideoEvent,
  emptyUserAggregates,
  emptyVideoAggregates,
  type UserAggregates,
  type VideoAggregates,
} from "../features/aggregates";
import { LANDMARK_REBASE_HALF_LIVES, forwardDecayWeight, type CheckpointedStateStore } from "../events/checkpointed-store";
import { ReelfeedError } from "../errors";
import { unavailable } from "./redis-client";
import { SEEN_BLOOM_ADD_LUA, seenBloomAddArgs, seenBloomGeometry, seenBloomReader, type SeenBloomOptions } from "./seen-bloom";
import { createSeenSet } from "./seen-set";
import type { TrendingHit, UserRelations } from "./state-store";

/**
 * Real-time state in Redis, shared by every server process. Aggregates change only through
 * applyUserEvent/applyVideoEvent (the training code path). Key schema (documented in docs/events.md):
 *
 *   {p}u:{userId}:agg        STRING  UserAggregates JSON, EX userTtlSec
 *   {p}u:{userId}:seen       ZSET    videoId → ts (watch/start/click), ≤ seenCap, ≥ newest − seenTtl, EX seenTtl
 *   {p}u:{userId}:served     ZSET    videoId → ts (markServed), ≤ servedCap, ≥ newest − servedTtl, EX servedTtl
 *   {p}u:{userId}:watched:{tag}  STRING  Bloom filter of every watch/start/click (seen-bloom.ts layout, grown by a
 *                            Lua script with SETBIT), ≤ geometry.totalBytes (137 KB at the defaults; 1,443 bytes
 *                            up to ~1,000 watches), PEXPIRE watchedTtl (730 days) refreshed on every watch
 *   {p}u:{userId}:ni|blocked|reported|subs|follows   SET, EX relationsTtlSec (refreshed on every write)
 *   {p}v:{videoId}:agg       STRING  VideoAggregates JSON, EX videoTtlSec
 *   {p}trend:g, {p}trend:c:{CC}   ZSET  videoId → Σ 2^((ts − landmark)/halfLife) over watches, ≤ trendingCap
 *   {p}trend:landmark        STRING  the forward-decay landmark (ms); {p}trend:boards SET of the board keys
 *   {p}state:cursor          STRING  the consumer's applied log cursor, written in the same MULTI as the state
 *
 * Writes: one MGET + one MULTI per batch (the Bloom inserts are one script call per user inside it). Reads: one
 * round trip each; getSeen fetches both sorted sets and the whole filter string and tests candidates in process. Aggregates are read-modify-write, so run one
 * writer (the consumer) per key prefix; any number of readers.
 */
export interface RedisStateStoreOptions {
  /** A client from createRedisClient. Not closed by `close()`. */
  redis: Redis;
  /** Prefix of every key. @default "rf:" */
  keyPrefix?: string;
  /** User aggregates expire after this long without events, s. @default 7_776_000 (90 days) */
  userTtlSec?: number;
  /** Video aggregates expire after this long without events, s. @default 7_776_000 (90 days) */
  videoTtlSec?: number;
  /** Seen videos kept per user. @default 1000 */
  seenCap?: number;
  /** Seen window, ms (entries older than the newest minus this are dropped; the key expires after it). @default 30 days */
  seenTtlMs?: number;
  /** The per-user Bloom filter of every watched/started/clicked video. @default seenBloomGeometry defaults */
  watchedBloom?: SeenBloomOptions;
  /**
   * The filter expires after this long without a watch, ms (refreshed on every one): "watched, however long ago"
   * holds for any user active within it, and a churned user's key still goes. @default 730 days
   */
  watchedTtlMs?: number;
  /** Served videos kept per user. @default 500 */
  servedCap?: number;
  /** Served window, ms. @default 1 day */
  servedTtlMs?: number;
  /** Relation sets expire after this long without a change, s. @default 31_536_000 (365 days) */
  relationsTtlSec?: number;
  /** Trending half-life, ms. @default TREND_HALF_LIFE_MS (1 day) */
  trendingHalfLifeMs?: number;
  /** Entries kept per trending board. @default 10_000 */
  trendingCap?: number;
}

const REBASE_LUA = `
local old = tonumber(redis.call('GET', KEYS[1]))
local new = tonumber(ARGV[1])
if old == nil then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
if new <= old then return redis.call('GET', KEYS[1]) end
local w = 2 ^ ((old - new) / tonumber(ARGV[2]))
for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('ZUNIONSTORE', k, 1, k, 'WEIGHTS', w)
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`;

type RebaseCommand = (numKeys: number, ...args: (string | number)[]) => Promise<string>;

type RelationKind = "ni" | "blocked" | "reported" | "subs" | "follows";

export function createRedisStateStore(options: RedisStateStoreOptions): CheckpointedStateStore {
  const {
    redis,
    keyPrefix = "rf:",
    userTtlSec = 90 * 24 * 3600,
    videoTtlSec = 90 * 24 * 3600,
    seenCap = 1000,
    seenTtlMs = 30 * DAY_MS,
    servedCap = 500,
    servedTtlMs = DAY_MS,
    relationsTtlSec = 365 * 24 * 3600,
    trendingHalfLifeMs = TREND_HALF_LIFE_MS,
    trendingCap = 10_000,
    watchedTtlMs = 730 * DAY_MS,
  } = options;
  const bloom = seenBloomGeometry(options.watchedBloom);
  const k = {
    userAgg: (id: string) => `${keyPrefix}u:${id}:agg`,
    seen: (id: string) => `${keyPrefix}u:${id}:seen`,
    served: (id: string) => `${keyPrefix}u:${id}:served`,
    // The geometry's tag in the name: a changed capacity or rate starts new filters instead of misreading old bits.
    watched: (id: string) => `${keyPrefix}u:${id}:watched:${bloom.tag}`,
    rel: (id: string, kind: RelationKind) => `${keyPrefix}u:${id}:${kind}`,
    videoAgg: (id: string) => `${keyPrefix}v:${id}:agg`,
    board: (country: string | undefined) => (country === undefined ? `${keyPrefix}trend:g` : `${keyPrefix}trend:c:${country.toUpperCase()}`),
    landmark: `${keyPrefix}trend:landmark`,
    boards: `${keyPrefix}trend:boards`,
    cursor: `${keyPrefix}state:cursor`,
  };
  const rebaseName = "rfTrendRebase";
  if (typeof (redis as unknown as Record<string, unknown>)[rebaseName] !== "function") redis.defineCommand(rebaseName, { lua: REBASE_LUA });
  const rebase = (redis as unknown as Record<string, RebaseCommand>)[rebaseName].bind(redis);
  const bloomAddName = "rfSeenBloomAdd";
  if (typeof (redis as unknown as Record<string, unknown>)[bloomAddName] !== "function") redis.defineCommand(bloomAddName, { numberOfKeys: 1, lua: SEEN_BLOOM_ADD_LUA });
  const bloomAdd = (m: ChainableCommander, key: string, ids: Iterable<string>): void => {
    (m as unknown as Record<string, (key: string, ...args: number[]) => unknown>)[bloomAddName](key, ...seenBloomAddArgs(bloom, watchedTtlMs, ids));
  };
  let landmark: number | undefined;

  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ReelfeedError) throw err;
      throw unavailable(`redis state ${what}`, err);
    }
  };

  /** The landmark trending increments are relative to; moved forward (scores rescaled) as time advances. */
  async function landmarkFor(minTs: number, maxTs: number): Promise<number> {
    if (landmark === undefined) {
      const v = await redis.get(k.landmark);
      landmark = v === null ? Number(await rebase(2, k.landmark, k.boards, minTs, trendingHalfLifeMs)) : Number(v);
    }
    if ((maxTs - landmark) / trendingHalfLifeMs > LANDMARK_REBASE_HALF_LIVES) {
      landmark = Number(await rebase(2, k.landmark, k.boards, maxTs, trendingHalfLifeMs));
    }
    return landmark;
  }

  async function applyBatch(events: readonly ReelEvent[], videoOf: (id: string) => Video | undefined, cursor?: string): Promise<void> {
    const userIds = [...new Set(events.map((e) => e.userId))];
    const videoIds = [...new Set(events.flatMap((e) => ("videoId" in e ? [e.videoId] : [])))];
    const raw = userIds.length + videoIds.length > 0 ? await redis.mget(...userIds.map(k.userAgg), ...videoIds.map(k.videoAgg)) : [];
    const users = new Map<string, UserAggregates>();
    const videos = new Map<string, VideoAggregates>();
    userIds.forEach((id, i) => users.set(id, raw[i] ? (JSON.parse(raw[i]!) as UserAggregates) : emptyUserAggregates(id)));
    videoIds.forEach((id, i) => {
      const v = raw[userIds.length + i];
      videos.set(id, v ? (JSON.parse(v) as VideoAggregates) : emptyVideoAggregates(id));
    });
    const watches = events.filter((e) => e.type === "watch");
    const lm = watches.length > 0 ? await landmarkFor(Math.min(...watches.map((e) => e.ts)), Math.max(...watches.map((e) => e.ts))) : 0;

    const m = redis.multi();
    const seenNewest = new Map<string, number>();
    const watchedIds = new Map<string, Set<string>>();
    const trend = new Map<string, Map<string, number>>();
    const relTouched = new Set<string>();
    const bump = (board: string, videoId: string, w: number): void => {
      let b = trend.get(board);
      if (!b) trend.set(board, (b = new Map()));
      b.set(videoId, (b.get(videoId) ?? 0) + w);
    };
    const rel = (userId: string, kind: RelationKind, op: "sadd" | "srem", member: string): void => {
      const key = k.rel(userId, kind);
      if (op === "sadd") m.sadd(key, member);
      else m.srem(key, member);
      relTouched.add(key);
    };
    const seen = (userId: string, videoId: string, ts: number): void => {
      m.zadd(k.seen(userId), "GT", ts, videoId);
      seenNewest.set(userId, Math.max(seenNewest.get(userId) ?? ts, ts));
      let ids = watchedIds.get(userId);
      if (!ids) watchedIds.set(userId, (ids = new Set()));
      ids.add(videoId);
    };

    for (const e of events) {
      const videoId = "videoId" in e ? e.videoId : undefined;
      const video = videoId !== undefined ? videoOf(videoId) : undefined;
      users.set(e.userId, applyUserEvent(users.get(e.userId)!, e, video));
      if (videoId !== undefined) videos.set(videoId, applyVideoEvent(videos.get(videoId)!, e, video));
      switch (e.type) {
        case "watch": {
          seen(e.userId, e.videoId, e.ts);
          const w = forwardDecayWeight(e.ts, lm, trendingHalfLifeMs);
          bump(k.board(undefined), e.videoId, w);
          if (e.country) bump(k.board(e.country), e.videoId, w);
          break;
        }
        case "start":
        case "click":
          seen(e.userId, e.videoId, e.ts);
          break;
        case "not_interested":
          rel(e.userId, "ni", "sadd", e.videoId);
          break;
        case "report":
          rel(e.userId, "reported", "sadd", e.videoId);
          break;
        case "block_creator":
          rel(e.userId, "blocked", "sadd", e.creatorId);
          break;
        case "subscribe":
          rel(e.userId, "subs", "sadd", e.creatorId);
          break;
        case "unsubscribe":
          rel(e.userId, "subs", "srem", e.creatorId);
          break;
        case "follow":
          rel(e.userId, "follows", "sadd", e.followeeId);
          break;
        case "impression":
        case "progress":
        case "pause":
        case "resume":
        case "seek":
        case "search":
        case "dwell":
        case "like":
        case "dislike":
        case "comment":
        case "share":
        case "save":
          break;
        default:
          assertNever(e, "event");
      }
    }
    for (const [id, agg] of users) m.set(k.userAgg(id), JSON.stringify(agg), "EX", userTtlSec);
    for (const [id, agg] of videos) m.set(k.videoAgg(id), JSON.stringify(agg), "EX", videoTtlSec);
    for (const key of relTouched) m.expire(key, relationsTtlSec);
    for (const [userId, newest] of seenNewest) trimTimed(m, k.seen(userId), newest, seenCap, seenTtlMs);
    for (const [userId, ids] of watchedIds) bloomAdd(m, k.watched(userId), ids);
    for (const [board, hits] of trend) {
      for (const [videoId, w] of hits) m.zincrby(board, w, videoId);
      m.zremrangebyrank(board, 0, -(trendingCap + 1));
      m.sadd(k.boards, board);
    }
    if (cursor !== undefined) m.set(k.cursor, cursor);
    await execOrThrow(m);
  }

  return {
    kind: "redis",
    apply: (events, videoOf) => guard("apply", () => (events.length > 0 ? applyBatch(events, videoOf) : Promise.resolve())),
    applyAt: (events, videoOf, cursor) => guard("apply", () => applyBatch(events, videoOf, cursor)),
    checkpoint: () => guard("checkpoint", async () => (await redis.get(k.cursor)) ?? undefined),
    getUser: (userId) =>
      guard("getUser", async () => {
        const v = await redis.get(k.userAgg(userId));
        return v ? (JSON.parse(v) as UserAggregates) : undefined;
      }),
    getVideos: (videoIds) =>
      guard("getVideos", async () => {
        const out = new Map<string, VideoAggregates>();
        if (videoIds.length === 0) return out;
        const vals = await redis.mget(...videoIds.map(k.videoAgg));
        videoIds.forEach((id, i) => {
          const v = vals[i];
          if (v) out.set(id, JSON.parse(v) as VideoAggregates);
        });
        return out;
      }),
    getRelations: (userId) =>
      guard("getRelations", async (): Promise<UserRelations> => {
        const kinds: RelationKind[] = ["ni", "blocked", "reported", "subs", "follows"];
        const p = redis.pipeline();
        for (const kind of kinds) p.smembers(k.rel(userId, kind));
        const [ni, blocked, reported, subs, follows] = (await execOrThrow(p)) as string[][];
        return { notInterested: ni, blockedCreators: blocked, reported, subscriptions: subs, follows };
      }),
    getSeen: (userId) =>
      guard("getSeen", async () => {
        const p = redis.pipeline().zrange(k.seen(userId), 0, -1).zrange(k.served(userId), 0, -1).getBuffer(k.watched(userId));
        const [seenIds, servedIds, bits] = (await execOrThrow(p)) as [string[], string[], Buffer | null];
        return createSeenSet({ watched: seenIds, served: servedIds, everWatched: bits ? seenBloomReader(bloom, bits) : undefined });
      }),
    markServed: (userId, videoIds, ts) =>
      guard("markServed", async () => {
        if (videoIds.length === 0) return;
        const m = redis.multi();
        m.zadd(k.served(userId), "GT", ...videoIds.flatMap((id) => [ts, id]));
        trimTimed(m, k.served(userId), ts, servedCap, servedTtlMs);
        await execOrThrow(m);
      }),
    trending: (country, limit, now) =>
      guard("trending", async (): Promise<TrendingHit[]> => {
        if (limit <= 0) return [];
        const p = redis.pipeline().get(k.landmark).zrevrange(k.board(country), 0, limit - 1, "WITHSCORES");
        const [lmRaw, flat] = (await execOrThrow(p)) as [string | null, string[]];
        if (lmRaw === null) return [];
        const scale = 1 / forwardDecayWeight(now, Number(lmRaw), trendingHalfLifeMs);
        const hits: TrendingHit[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) hits.push({ videoId: flat[i], score: Number(flat[i + 1]) * scale });
        return hits;
      }),
    async close() {
      /* the client is the caller's */
    },
  };
}

/** Cap by count (drop the oldest), drop entries older than the newest minus the TTL, expire the key with it. */
function trimTimed(m: ChainableCommander, key: string, newest: number, cap: number, ttlMs: number): void {
  m.zremrangebyrank(key, 0, -(cap + 1));
  m.zremrangebyscore(key, "-inf", `(${newest - ttlMs}`);
  m.pexpire(key, ttlMs);
}

async function execOrThrow(m: ChainableCommander): Promise<unknown[]> {
  const res = await m.exec();
  if (res === null) throw new Error("transaction aborted");
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
