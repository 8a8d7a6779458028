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
import { LANDMARK_REBASE_HALF_LIVES, forwardDecayWeight } from "../events/checkpointed-store";
import { compareCursors } from "../events/cursor";
import { partitionOf, type ConsumerShare, type SharedStateStore } from "../events/shared-store";
import { ReelfeedError } from "../errors";
import type { LogRecord } from "./event-log";
import { permanentError, redisError } from "./backend-errors";
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
 *   {p}state:cursor          STRING  the single-consumer checkpoint (applyAt), written in the same script as the state
 *   {p}consume:cp            HASH    partition → log cursor applied through (applyShare), in the same script
 *   {p}consume:parts         STRING  the partition count of this prefix (fixed once set)
 *   {p}consume:lease:{n}     STRING  the consumer holding partition n, PX leaseMs (renewed while it lives)
 *   {p}consume:members       ZSET    live consumers → heartbeat expiry (ms): the fair share is partitions / members
 *
 * Writes: one MGET + one script call per batch (APPLY_LUA: every write of the batch, the Bloom inserts included,
 * all or nothing). Reads: one round trip each; getSeen fetches both sorted sets and the whole filter string and
 * tests candidates in process.
 *
 * Many consumers (src/events/shared-store.ts): a user's keys belong to partition hash(userId), a video's aggregates
 * and its trending increments to hash(videoId). A consumer applies the sides of events that fall in the partitions
 * it holds, and the script that writes a batch first compares those partitions' checkpoints with the ones the
 * batch was computed from (and moves them): so every key has one writer at a time, read-modify-write stays safe,
 * and a record is applied once per partition whatever crashes. `apply` / `applyAt` write unpartitioned (history
 * bootstrap under its marker; one consumer): never run them beside consumers that share a prefix.
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
  /**
   * Partitions the consumers of this prefix divide the work into (applyShare): more than the consumers you will
   * run; fixed per prefix once a consumer joined (a different count is refused with BAD_CONFIG). @default 16
   */
  partitions?: number;
  /** A consumer's hold on its partitions lasts this long unless renewed: a dead consumer's share moves after it. @default 5000 */
  leaseMs?: number;
}

/** Which sides of which events of a batch this call applies (index into the batch). */
interface BatchScope {
  user(i: number): boolean;
  video(i: number): boolean;
}

/** A partition checkpoint compared (`expected`, undefined = none yet) and moved (`next`) by the apply script. */
interface CheckpointMove {
  partition: number;
  expected: string | undefined;
  next: string;
}

/** Ids per Bloom insert inside APPLY_LUA: 2 hash arguments each, well under Lua's 8,000-value unpack limit. */
const BLOOM_IDS_PER_CALL = 2000;

/**
 * One batch, atomically. ARGV: checkpoint hash key, m, then m × (partition, expected cursor or '', next cursor),
 * landmark key, expected landmark ('' = none), then commands as (argument count, COMMAND, arguments...). Nothing is
 * written unless every checkpoint and the landmark are as expected: a batch computed from stale reads (another
 * consumer applied these partitions meanwhile, a retry after a lost reply) writes nothing and says why.
 * BLOOMADD runs seen-bloom.ts' insert on one key (its script body, as a function).
 */
const APPLY_LUA = `
local function bloom_add(KEYS, ARGV)
${SEEN_BLOOM_ADD_LUA}
end
local cpKey = ARGV[1]
local m = tonumber(ARGV[2])
local a = 3
for j = 1, m do
  local cur = redis.call('HGET', cpKey, ARGV[a]) or ''
  if cur ~= ARGV[a + 1] then return {'MOVED', ARGV[a], cur} end
  a = a + 3
end
local lmKey, lmWant = ARGV[a], ARGV[a + 1]
a = a + 2
if lmWant ~= '' then
  local lm = redis.call('GET', lmKey) or ''
  if lm ~= lmWant then return {'LANDMARK', lm} end
end
local n = #ARGV
while a <= n do
  local c = tonumber(ARGV[a])
  if ARGV[a + 1] == 'BLOOMADD' then
    bloom_add({ARGV[a + 2]}, {unpack(ARGV, a + 3, a + c)})
  else
    redis.call(unpack(ARGV, a + 1, a + c))
  end
  a = a + c + 1
end
a = 3
for j = 1, m do
  redis.call('HSET', cpKey, ARGV[a], ARGV[a + 2])
  a = a + 3
end
return {'OK'}
`;

/**
 * Join, renew or leave (ARGV: prefix, owner, now ms, lease ms, partitions, 'join' | 'leave'). Registers the owner
 * as live, drops members whose heartbeat expired, releases leases over the fair share ceil(partitions / live),
 * renews the rest, takes free partitions up to the share, and returns 'OK', then partition, checkpoint ('' = none)
 * for each lease held. The first join on a prefix a single consumer used (state:cursor) starts every partition
 * there. 'PARTS', count when the prefix is partitioned differently.
 */
const SYNC_LUA = `
local p, owner = ARGV[1], ARGV[2]
local now, lease, parts = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local stored = redis.call('GET', p .. 'consume:parts')
if not stored then
  redis.call('SET', p .. 'consume:parts', parts)
elseif tonumber(stored) ~= parts then
  return {'PARTS', stored}
end
local cpKey = p .. 'consume:cp'
if redis.call('EXISTS', cpKey) == 0 then
  local legacy = redis.call('GET', p .. 'state:cursor')
  if legacy then
    for i = 0, parts - 1 do redis.call('HSET', cpKey, i, legacy) end
  end
end
local members = p .. 'consume:members'
redis.call('ZREMRANGEBYSCORE', members, '-inf', now)
local fair = 0
if ARGV[6] == 'leave' then
  redis.call('ZREM', members, owner)
else
  redis.call('ZADD', members, now + lease, owner)
  fair = math.ceil(parts / redis.call('ZCARD', members))
end
local held, free = {}, {}
for i = 0, parts - 1 do
  local o = redis.call('GET', p .. 'consume:lease:' .. i)
  if o == owner then held[#held + 1] = i elseif not o then free[#free + 1] = i end
end
while #held > fair do
  redis.call('DEL', p .. 'consume:lease:' .. table.remove(held))
end
for _, i in ipairs(held) do redis.call('PEXPIRE', p .. 'consume:lease:' .. i, lease) end
for _, i in ipairs(free) do
  if #held >= fair then break end
  redis.call('SET', p .. 'consume:lease:' .. i, owner, 'PX', lease)
  held[#held + 1] = i
end
local out = {'OK'}
for _, i in ipairs(held) do
  out[#out + 1] = tostring(i)
  out[#out + 1] = redis.call('HGET', cpKey, i) or ''
end
return out
`;

type ScriptCommand = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;

/** Defines a Lua command on the client once (EVALSHA, loaded on first use) and returns it bound. */
function defineScript(redis: Redis, name: string, lua: string): ScriptCommand {
  const r = redis as unknown as Record<string, ScriptCommand>;
  if (typeof r[name] !== "function") redis.defineCommand(name, { lua });
  return r[name].bind(redis);
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

export function createRedisStateStore(options: RedisStateStoreOptions): SharedStateStore {
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
    partitions: partitionCount = 16,
    leaseMs = 5000,
  } = options;
  if (!Number.isInteger(partitionCount) || partitionCount < 1 || partitionCount > 1024) {
    throw new ReelfeedError("BAD_CONFIG", `redis state: partitions must be an integer in 1…1024, got ${partitionCount}`, { key: "partitions" });
  }
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
    checkpoints: `${keyPrefix}consume:cp`,
  };
  const rebaseName = "rfTrendRebase";
  if (typeof (redis as unknown as Record<string, unknown>)[rebaseName] !== "function") redis.defineCommand(rebaseName, { lua: REBASE_LUA });
  const rebase = (redis as unknown as Record<string, RebaseCommand>)[rebaseName].bind(redis);
  const applyScript = defineScript(redis, "rfStateApply", APPLY_LUA);
  const syncScript = defineScript(redis, "rfConsumeSync", SYNC_LUA);
  // The forward-decay landmark as Redis holds it (a string, compared as such by APPLY_LUA).
  let landmark: string | undefined;

  // Connection trouble and transient replies are retryable (UNAVAILABLE); other server replies are permanent
  // (backend-errors.ts): the consumer parks an event that keeps failing that way instead of retrying forever.
  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw redisError(`redis state ${what}`, err);
    }
  };

  /** The landmark trending increments are relative to; moved forward (scores rescaled) as time advances. */
  async function landmarkFor(minTs: number, maxTs: number): Promise<string> {
    if (landmark === undefined) {
      const v = await redis.get(k.landmark);
      landmark = v === null ? String(await rebase(2, k.landmark, k.boards, minTs, trendingHalfLifeMs)) : v;
    }
    if ((maxTs - Number(landmark)) / trendingHalfLifeMs > LANDMARK_REBASE_HALF_LIVES) {
      landmark = String(await rebase(2, k.landmark, k.boards, maxTs, trendingHalfLifeMs));
    }
    return landmark;
  }

  /**
   * Computes a batch's writes in process (aggregates through the training code path) and runs them as one script
   * (APPLY_LUA): all of them or none. `scope` picks which sides of which events are applied here (a consumer's
   * partitions; everything when undefined); `checks` are the partition checkpoints compared and moved in the same
   * script; `cursor` is the single-consumer checkpoint (applyAt). Returns false when a checkpoint moved.
   */
  async function applyBatch(
    events: readonly ReelEvent[],
    videoOf: (id: string) => Video | undefined,
    opts: { scope?: BatchScope; checks?: readonly CheckpointMove[]; cursor?: string } = {},
  ): Promise<boolean> {
    const { scope, checks = [], cursor } = opts;
    const userSide = (i: number): boolean => scope === undefined || scope.user(i);
    const videoSide = (i: number): boolean => scope === undefined || scope.video(i);
    const userIds = new Set<string>();
    const videoIds = new Set<string>();
    let minWatch = Infinity;
    let maxWatch = -Infinity;
    events.forEach((e, i) => {
      if (userSide(i)) userIds.add(e.userId);
      if ("videoId" in e && videoSide(i)) {
        videoIds.add(e.videoId);
        if (e.type === "watch") {
          minWatch = Math.min(minWatch, e.ts);
          maxWatch = Math.max(maxWatch, e.ts);
        }
      }
    });
    const userList = [...userIds];
    const videoList = [...videoIds];
    const raw = userList.length + videoList.length > 0 ? await redis.mget(...userList.map(k.userAgg), ...videoList.map(k.videoAgg)) : [];
    // Landmark moves (every 64 half-lives) race with other consumers' batches: the script checks the one the
    // weights were computed against and the batch is recomputed when it moved.
    for (let attempt = 0; ; attempt++) {
      const lm = minWatch <= maxWatch ? await landmarkFor(minWatch, maxWatch) : undefined;
      let argv: (string | number)[];
      try {
        argv = buildWrites(events, videoOf, userSide, videoSide, userList, videoList, raw, lm === undefined ? 0 : Number(lm));
      } catch (err) {
        // Pure computation over the events and stored aggregates: what fails here fails on every retry (an event
        // type this version does not know, a stored value that does not parse). Permanent: the consumer parks it.
        throw permanentError("redis state: cannot apply the batch", err, "INTERNAL", { backend: "redis" });
      }
      if (cursor !== undefined) argv.push(3, "SET", k.cursor, cursor);
      const head: (string | number)[] = [k.checkpoints, checks.length];
      for (const c of checks) head.push(c.partition, c.expected ?? "", c.next);
      head.push(k.landmark, lm ?? "");
      const reply = (await applyScript(0, ...head, ...argv)) as string[];
      if (reply[0] === "OK") return true;
      if (reply[0] === "MOVED") return false;
      if (reply[0] === "LANDMARK" && attempt < 5) {
        landmark = undefined;
        continue;
      }
      throw new ReelfeedError("INTERNAL", `redis state apply: unexpected script reply ${JSON.stringify(reply)}`);
    }
  }

  /** The writes of one batch as APPLY_LUA commands: [argument count, COMMAND, ...arguments] each. */
  function buildWrites(
    events: readonly ReelEvent[],
    videoOf: (id: string) => Video | undefined,
    userSide: (i: number) => boolean,
    videoSide: (i: number) => boolean,
    userList: readonly string[],
    videoList: readonly string[],
    raw: readonly (string | null)[],
    lm: number,
  ): (string | number)[] {
    const users = new Map<string, UserAggregates>();
    const videos = new Map<string, VideoAggregates>();
    userList.forEach((id, i) => users.set(id, raw[i] ? (JSON.parse(raw[i]!) as UserAggregates) : emptyUserAggregates(id)));
    videoList.forEach((id, i) => {
      const v = raw[userList.length + i];
      videos.set(id, v ? (JSON.parse(v) as VideoAggregates) : emptyVideoAggregates(id));
    });
    const out: (string | number)[] = [];
    const cmd = (...args: (string | number)[]): void => {
      out.push(args.length, ...args);
    };
    const seenNewest = new Map<string, number>();
    const watchedIds = new Map<string, Set<string>>();
    const trend = new Map<string, Map<string, number>>();
    const relTouched = new Set<string>();
    const bump = (board: string, videoId: string, w: number): void => {
      let b = trend.get(board);
      if (!b) trend.set(board, (b = new Map()));
      b.set(videoId, (b.get(videoId) ?? 0) + w);
    };
    const rel = (userId: string, kind: RelationKind, op: "SADD" | "SREM", member: string): void => {
      const key = k.rel(userId, kind);
      cmd(op, key, member);
      relTouched.add(key);
    };
    const seen = (userId: string, videoId: string, ts: number): void => {
      cmd("ZADD", k.seen(userId), "GT", ts, videoId);
      seenNewest.set(userId, Math.max(seenNewest.get(userId) ?? ts, ts));
      let ids = watchedIds.get(userId);
      if (!ids) watchedIds.set(userId, (ids = new Set()));
      ids.add(videoId);
    };

    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const videoId = "videoId" in e ? e.videoId : undefined;
      const video = videoId !== undefined ? videoOf(videoId) : undefined;
      if (videoId !== undefined && videoSide(i)) {
        videos.set(videoId, applyVideoEvent(videos.get(videoId)!, e, video));
        if (e.type === "watch") {
          const w = forwardDecayWeight(e.ts, lm, trendingHalfLifeMs);
          bump(k.board(undefined), e.videoId, w);
          if (e.country) bump(k.board(e.country), e.videoId, w);
        }
      }
      if (!userSide(i)) continue;
      users.set(e.userId, applyUserEvent(users.get(e.userId)!, e, video));
      switch (e.type) {
        case "watch":
        case "start":
        case "click":
          seen(e.userId, e.videoId, e.ts);
          break;
        case "not_interested":
          rel(e.userId, "ni", "SADD", e.videoId);
          break;
        case "report":
          rel(e.userId, "reported", "SADD", e.videoId);
          break;
        case "block_creator":
          rel(e.userId, "blocked", "SADD", e.creatorId);
          break;
        case "subscribe":
          rel(e.userId, "subs", "SADD", e.creatorId);
          break;
        case "unsubscribe":
          rel(e.userId, "subs", "SREM", e.creatorId);
          break;
        case "follow":
          rel(e.userId, "follows", "SADD", e.followeeId);
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
    for (const [id, agg] of users) cmd("SET", k.userAgg(id), JSON.stringify(agg), "EX", userTtlSec);
    for (const [id, agg] of videos) cmd("SET", k.videoAgg(id), JSON.stringify(agg), "EX", videoTtlSec);
    for (const key of relTouched) cmd("EXPIRE", key, relationsTtlSec);
    for (const [userId, newest] of seenNewest) {
      const key = k.seen(userId);
      cmd("ZREMRANGEBYRANK", key, 0, -(seenCap + 1));
      cmd("ZREMRANGEBYSCORE", key, "-inf", `(${newest - seenTtlMs}`);
      cmd("PEXPIRE", key, seenTtlMs);
    }
    for (const [userId, ids] of watchedIds) {
      // Lua's unpack has a bounded stack (8,000 values): at most BLOOM_IDS_PER_CALL ids (2 hashes each) per call.
      const all = [...ids];
      for (let i = 0; i < all.length; i += BLOOM_IDS_PER_CALL) cmd("BLOOMADD", k.watched(userId), ...seenBloomAddArgs(bloom, watchedTtlMs, all.slice(i, i + BLOOM_IDS_PER_CALL)));
    }
    for (const [board, hits] of trend) {
      for (const [videoId, w] of hits) cmd("ZINCRBY", board, w, videoId);
      cmd("ZREMRANGEBYRANK", board, 0, -(trendingCap + 1));
      cmd("SADD", k.boards, board);
    }
    return out;
  }

  /** The share's partition checkpoints as a map. */
  const shareOf = (owner: string, flat: readonly string[]): ConsumerShare => {
    const partitions = new Map<number, string | undefined>();
    for (let i = 0; i + 1 < flat.length; i += 2) partitions.set(Number(flat[i]), flat[i + 1] === "" ? undefined : flat[i + 1]);
    return { owner, partitions };
  };

  async function syncShare(owner: string, leave: boolean): Promise<ConsumerShare> {
    const reply = (await syncScript(0, keyPrefix, owner, Date.now(), leaseMs, partitionCount, leave ? "leave" : "join")) as string[];
    if (reply[0] === "PARTS") {
      throw new ReelfeedError(
        "BAD_CONFIG",
        `redis state under ${keyPrefix}: consumers are partitioned ${reply[1]} ways there, this one was configured with ${partitionCount}; ` +
          `use the same partition count on every instance of a key prefix (or a new prefix)`,
        { key: "partitions", stored: Number(reply[1]), configured: partitionCount },
      );
    }
    return shareOf(owner, reply.slice(1));
  }

  async function applyShare(
    records: readonly LogRecord[],
    videoOf: (id: string) => Video | undefined,
    share: ConsumerShare,
    through?: string,
  ): Promise<{ share: ConsumerShare; applied: number } | undefined> {
    const last = through ?? records[records.length - 1]?.cursor;
    if (last === undefined || share.partitions.size === 0) return { share, applied: 0 };
    // Records come in log order: per held partition, the index of the first record after its checkpoint (a few
    // cursor comparisons per partition, not per record).
    const firstAfter = new Map<number, number>();
    for (const [partition, cp] of share.partitions) {
      let i = 0;
      if (cp !== undefined) while (i < records.length && compareCursors(records[i].cursor, cp) <= 0) i++;
      firstAfter.set(partition, i);
    }
    const mine = (partition: number, i: number): boolean => {
      const from = firstAfter.get(partition);
      return from !== undefined && i >= from;
    };
    const user: boolean[] = [];
    const video: boolean[] = [];
    let applied = 0;
    records.forEach((r, i) => {
      const e = r.event;
      user[i] = mine(partitionOf(e.userId, partitionCount), i);
      video[i] = "videoId" in e && mine(partitionOf(e.videoId, partitionCount), i);
      if (user[i] || video[i]) applied++;
    });
    const checks: CheckpointMove[] = [];
    const next = new Map(share.partitions);
    for (const [partition, cp] of share.partitions) {
      if (cp !== undefined && compareCursors(cp, last) >= 0) continue;
      checks.push({ partition, expected: cp, next: last });
      next.set(partition, last);
    }
    if (checks.length === 0) return { share, applied: 0 };
    const ok = await applyBatch(
      records.map((r) => r.event),
      videoOf,
      { scope: { user: (i) => user[i], video: (i) => video[i] }, checks },
    );
    return ok ? { share: { owner: share.owner, partitions: next }, applied } : undefined;
  }

  async function checkpoint(): Promise<string | undefined> {
    const cps = await redis.hgetall(k.checkpoints);
    const values = Object.values(cps);
    if (values.length === 0) return (await redis.get(k.cursor)) ?? undefined;
    // Applied everywhere only up to the slowest partition; one never applied means nothing is yet.
    if (values.length < partitionCount) return undefined;
    return values.reduce((a, b) => (compareCursors(a, b) <= 0 ? a : b));
  }

  return {
    kind: "redis",
    partitionCount,
    apply: (events, videoOf) => guard("apply", async () => void (events.length > 0 ? await applyBatch(events, videoOf) : undefined)),
    applyAt: (events, videoOf, cursor) => guard("apply", async () => void (await applyBatch(events, videoOf, { cursor }))),
    checkpoint: () => guard("checkpoint", checkpoint),
    joinShare: (owner) => guard("joinShare", () => syncShare(owner, false)),
    leaveShare: (owner) => guard("leaveShare", async () => void (await syncShare(owner, true))),
    applyShare: (records, videoOf, share, through) => guard("applyShare", () => applyShare(records, videoOf, share, through)),
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
