import type { ReelEvent, Video } from "../data/types";
import { assertNever } from "../data/types";
import { evictOldest } from "../util/evict-oldest";
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
import { SeenBloom, seenBloomGeometry, type SeenBloomOptions } from "./seen-bloom";
import { createSeenSet } from "./seen-set";
import type { TrendingHit, UserRelations } from "./state-store";

/**
 * In-process real-time state (embedded mode). Every aggregate changes only through applyUserEvent/applyVideoEvent,
 * the functions training replays, so serving features equal training features.
 *
 * Memory is bounded: users and videos are kept least-recently-updated-first-out up to their caps; each user's seen
 * and served sets keep at most a cap of entries within a TTL counted back from that user's newest entry (so a
 * replayed historical log keeps its history); relation sets are capped; each trending board keeps its top entries.
 * Past the seen set's cap and TTL, every watched video stays in the user's Bloom filter (seen-bloom.ts): 1,443 bytes
 * (~1.7 KB of heap measured) for the first ~1,000 watches at the defaults, at most 137 KB, docs/events.md.
 * State is rebuilt by replaying the event log from the start (the consumer does that at start-up).
 */
export interface MemoryStateStoreOptions {
  /**
   * Users kept at most (aggregates, relations, seen sets), the least recently written forgotten first, 1 % at a time
   * once there are more. @default 200_000
   */
  maxUsers?: number;
  /** Videos kept at most, as maxUsers. @default 500_000 */
  maxVideos?: number;
  /** Seen (watched/started/clicked) videos kept per user. @default 1000 */
  seenCap?: number;
  /** Seen entries older than this before the user's newest are dropped, ms. @default 30 days */
  seenTtlMs?: number;
  /** The per-user Bloom filter of every watched/started/clicked video. @default seenBloomGeometry defaults */
  watchedBloom?: SeenBloomOptions;
  /** Served videos kept per user. @default 500 */
  servedCap?: number;
  /** Served entries older than this before the user's newest are dropped, ms. @default 1 day */
  servedTtlMs?: number;
  /** Entries per relation set (not-interested, blocked, reported, subscriptions, follows). @default 10_000 */
  relationsCap?: number;
  /** Trending half-life, ms. @default TREND_HALF_LIFE_MS (1 day, as VideoAggregates.trend) */
  trendingHalfLifeMs?: number;
  /** Entries kept per trending board (global and per country). @default 10_000 */
  trendingCap?: number;
  /**
   * A board's sorted order is kept between reads and redone only after the board changed. With a value above 0 a
   * changed board may also be served in its previous order for up to this long (ms, wall clock), so a stream of
   * watch events does not cost one sort of the whole board per feed request; 0 keeps reads exact. @default 0
   */
  trendingStaleMs?: number;
}

interface UserState {
  agg?: UserAggregates;
  notInterested: Set<string>;
  blockedCreators: Set<string>;
  reported: Set<string>;
  subscriptions: Set<string>;
  follows: Set<string>;
  /** videoId → ts, insertion order = recency of the last touch. */
  seen: Map<string, number>;
  served: Map<string, number>;
  /** Every video watched, started or clicked, kept past the seen cap and TTL; created on the first. */
  watched?: SeenBloom;
}

const GLOBAL = "";

export function createMemoryStateStore(options: MemoryStateStoreOptions = {}): CheckpointedStateStore {
  const {
    maxUsers = 200_000,
    maxVideos = 500_000,
    seenCap = 1000,
    seenTtlMs = 30 * DAY_MS,
    servedCap = 500,
    servedTtlMs = DAY_MS,
    relationsCap = 10_000,
    trendingHalfLifeMs = TREND_HALF_LIFE_MS,
    trendingCap = 10_000,
    trendingStaleMs = 0,
  } = options;
  const bloomGeometry = seenBloomGeometry(options.watchedBloom);
  // Insertion order = recency of the last write (a write deletes and sets again); reads do not refresh it. The least
  // recently written go first, a batch at a time (util/evict-oldest.ts).
  const users = new Map<string, UserState>();
  const videos = new Map<string, VideoAggregates>();
  const boards = new Map<string, Map<string, number>>();
  /** Per board: its entries by descending score (ties by id), when sorted, and whether it changed since. */
  const sortedBoards = new Map<string, { entries: Array<[string, number]>; at: number; dirty: boolean }>();
  const markDirty = (board: string): void => {
    const sorted = sortedBoards.get(board);
    if (sorted) sorted.dirty = true;
  };
  let landmark: number | undefined;
  let cursor: string | undefined;

  /** Gets or creates, and marks most recently used. */
  const touchUser = (userId: string): UserState => {
    let u = users.get(userId);
    if (u) {
      users.delete(userId);
    } else {
      u = {
        notInterested: new Set(),
        blockedCreators: new Set(),
        reported: new Set(),
        subscriptions: new Set(),
        follows: new Set(),
        seen: new Map(),
        served: new Map(),
      };
    }
    users.set(userId, u);
    evictOldest(users, maxUsers);
    return u;
  };

  const putVideo = (agg: VideoAggregates): void => {
    videos.delete(agg.videoId);
    videos.set(agg.videoId, agg);
    evictOldest(videos, maxVideos);
  };

  const addCapped = (set: Set<string>, value: string): void => {
    set.delete(value);
    set.add(value);
    if (set.size > relationsCap) set.delete(set.values().next().value as string);
  };

  const touchTimed = (map: Map<string, number>, videoId: string, ts: number, cap: number, ttlMs: number): void => {
    const prev = map.get(videoId);
    map.delete(videoId);
    map.set(videoId, Math.max(prev ?? ts, ts));
    // Capped on every write; the TTL is applied on overflow and on read (an O(n) pass, not one per event).
    if (map.size > cap) {
      map.delete(map.keys().next().value as string);
      prune(map, ttlMs);
    }
  };

  const bumpTrending = (board: string, videoId: string, ts: number): void => {
    if (landmark === undefined) landmark = ts;
    if ((ts - landmark) / trendingHalfLifeMs > LANDMARK_REBASE_HALF_LIVES) {
      const next = ts;
      const scale = forwardDecayWeight(landmark, next, trendingHalfLifeMs);
      for (const b of boards.values()) for (const [k, v] of b) b.set(k, v * scale);
      landmark = next;
      // Every stored score changed scale: a cached order would pair old scores with the new landmark.
      sortedBoards.clear();
    }
    let scores = boards.get(board);
    if (!scores) boards.set(board, (scores = new Map()));
    scores.set(videoId, (scores.get(videoId) ?? 0) + forwardDecayWeight(ts, landmark, trendingHalfLifeMs));
    markDirty(board);
    // Trim in bulk (amortized): keep the top `trendingCap` once the board is 25% over.
    if (scores.size > trendingCap * 1.25) {
      const keep = [...scores].sort((a, b) => b[1] - a[1]).slice(0, trendingCap);
      boards.set(board, new Map(keep));
    }
  };

  const markSeen = (u: UserState, videoId: string, ts: number): void => {
    touchTimed(u.seen, videoId, ts, seenCap, seenTtlMs);
    (u.watched ??= new SeenBloom(bloomGeometry)).add(videoId);
  };

  function applyOne(e: ReelEvent, videoOf: (id: string) => Video | undefined): void {
    const videoId = "videoId" in e ? e.videoId : undefined;
    const video = videoId !== undefined ? videoOf(videoId) : undefined;
    const u = touchUser(e.userId);
    u.agg = applyUserEvent(u.agg ?? emptyUserAggregates(e.userId), e, video);
    if (videoId !== undefined) putVideo(applyVideoEvent(videos.get(videoId) ?? emptyVideoAggregates(videoId), e, video));
    switch (e.type) {
      case "watch":
        markSeen(u, e.videoId, e.ts);
        bumpTrending(GLOBAL, e.videoId, e.ts);
        if (e.country) bumpTrending(e.country, e.videoId, e.ts);
        break;
      case "start":
      case "click":
        markSeen(u, e.videoId, e.ts);
        break;
      case "not_interested":
        addCapped(u.notInterested, e.videoId);
        break;
      case "report":
        addCapped(u.reported, e.videoId);
        break;
      case "block_creator":
        addCapped(u.blockedCreators, e.creatorId);
        break;
      case "subscribe":
        addCapped(u.subscriptions, e.creatorId);
        break;
      case "unsubscribe":
        u.subscriptions.delete(e.creatorId);
        break;
      case "follow":
        addCapped(u.follows, e.followeeId);
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

  const store: CheckpointedStateStore = {
    kind: "memory",
    async apply(events, videoOf) {
      for (const e of events) applyOne(e, videoOf);
    },
    async applyAt(events, videoOf, at) {
      for (const e of events) applyOne(e, videoOf);
      cursor = at;
    },
    async checkpoint() {
      return cursor;
    },
    async getUser(userId) {
      return users.get(userId)?.agg;
    },
    async getVideos(videoIds) {
      const out = new Map<string, VideoAggregates>();
      for (const id of videoIds) {
        const v = videos.get(id);
        if (v) out.set(id, v);
      }
      return out;
    },
    async getRelations(userId): Promise<UserRelations> {
      const u = users.get(userId);
      return {
        notInterested: u ? [...u.notInterested] : [],
        blockedCreators: u ? [...u.blockedCreators] : [],
        reported: u ? [...u.reported] : [],
        subscriptions: u ? [...u.subscriptions] : [],
        follows: u ? [...u.follows] : [],
      };
    },
    async getSeen(userId) {
      const u = users.get(userId);
      if (!u) return createSeenSet({});
      prune(u.seen, seenTtlMs);
      prune(u.served, servedTtlMs);
      // The live filter, not a copy (1.4 KB a request): a watch after this read only makes it answer "seen" for more.
      const watched = u.watched;
      return createSeenSet({ watched: u.seen.keys(), served: u.served.keys(), everWatched: watched && ((id) => watched.has(id)) });
    },
    async markServed(userId, videoIds, ts) {
      const u = touchUser(userId);
      for (const id of videoIds) touchTimed(u.served, id, ts, servedCap, servedTtlMs);
    },
    async trending(country, limit, now): Promise<TrendingHit[]> {
      const board = country === undefined ? GLOBAL : country.toUpperCase();
      const scores = boards.get(board);
      if (!scores || landmark === undefined || limit <= 0) return [];
      const scale = 1 / forwardDecayWeight(now, landmark, trendingHalfLifeMs);
      // Sorting a 10k-entry board was a fixed cost of every feed request (Trending reads two boards); the order
      // only changes when the board does.
      let sorted = sortedBoards.get(board);
      if (!sorted || (sorted.dirty && (trendingStaleMs <= 0 || Date.now() - sorted.at >= trendingStaleMs))) {
        sorted = { entries: [...scores].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)), at: Date.now(), dirty: false };
        sortedBoards.set(board, sorted);
      }
      const n = Math.min(limit, sorted.entries.length);
      const out: TrendingHit[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = { videoId: sorted.entries[i][0], score: sorted.entries[i][1] * scale };
      return out;
    },
    async close() {
      users.clear();
      videos.clear();
      boards.clear();
      sortedBoards.clear();
    },
  };
  return store;
}

/** Drops entries older than `ttlMs` before the newest one. */
function prune(map: Map<string, number>, ttlMs: number): void {
  let newest = -Infinity;
  for (const ts of map.values()) if (ts > newest) newest = ts;
  const cutoff = newest - ttlMs;
  for (const [k, ts] of map) if (ts < cutoff) map.delete(k);
}
