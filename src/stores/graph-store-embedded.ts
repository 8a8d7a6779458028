import { badInput, ReelfeedError } from "../errors";
import type { EngagementKind, GraphStore, SocialHit } from "./graph-store";

export const ENGAGEMENT_KINDS: readonly EngagementKind[] = ["watch", "like", "share", "save", "comment"];

/** How much one engagement says about a video: sharing or commenting costs the user more than watching. */
export const DEFAULT_ENGAGEMENT_WEIGHTS: Readonly<Record<EngagementKind, number>> = {
  watch: 1,
  like: 2,
  save: 2.5,
  comment: 3,
  share: 4,
};

export const DEFAULT_ENGAGEMENT_HALF_LIFE_MS = 3 * 24 * 60 * 60 * 1000;

/**
 * Scoring shared by every GraphStore implementation (the Neo4j Cypher computes the same on the server):
 * score(video) = Σ over followees, over kinds they engaged with, of weight(kind) · 2^(-age / halfLife), where
 * age = max(0, now - ts) and ts is the latest engagement of that (followee, video, kind).
 */
export interface EngagementScoring {
  /** Weight per engagement kind. @default DEFAULT_ENGAGEMENT_WEIGHTS */
  kindWeights?: Partial<Record<EngagementKind, number>>;
  /** Half-life of an engagement's weight, in ms. @default 3 days */
  halfLifeMs?: number;
}

/** Options for the in-process social graph: the default, no server needed. */
export interface EmbeddedGraphStoreOptions extends EngagementScoring {
  /** Engagements remembered per user, most recently recorded kept; one per (video, kind). @default 200 */
  maxEngagementsPerUser?: number;
}

/** Validated weights and half-life: the one place both implementations get their scoring constants from. */
export function resolveScoring(scoring: EngagementScoring): { weights: Record<EngagementKind, number>; halfLifeMs: number } {
  const { kindWeights = {}, halfLifeMs = DEFAULT_ENGAGEMENT_HALF_LIFE_MS } = scoring;
  if (!(halfLifeMs > 0) || !Number.isFinite(halfLifeMs)) throw badInput("halfLifeMs", `expected a positive number, got ${halfLifeMs}`);
  const weights = { ...DEFAULT_ENGAGEMENT_WEIGHTS, ...kindWeights };
  for (const kind of ENGAGEMENT_KINDS) {
    if (!Number.isFinite(weights[kind]) || weights[kind] < 0) {
      throw badInput(`kindWeights.${kind}`, `expected a non-negative number, got ${weights[kind]}`);
    }
  }
  return { weights, halfLifeMs };
}

/** Argument checks shared by both implementations, so both reject the same calls with the same errors. */
export const checkGraphArgs = {
  id(argument: string, value: unknown): void {
    if (typeof value !== "string" || value === "") throw badInput(argument, "expected a non-empty string");
  },
  ts(argument: string, value: unknown): void {
    if (typeof value !== "number" || !Number.isFinite(value)) throw badInput(argument, `expected epoch milliseconds, got ${value}`);
  },
  kind(value: unknown): void {
    if (!ENGAGEMENT_KINDS.includes(value as EngagementKind)) {
      throw badInput("kind", `expected one of ${ENGAGEMENT_KINDS.join(", ")}, got ${String(value)}`);
    }
  },
  follow(followerId: string, followeeId: string): void {
    checkGraphArgs.id("followerId", followerId);
    checkGraphArgs.id("followeeId", followeeId);
    if (followerId === followeeId) throw badInput("followeeId", "a user cannot follow themselves");
  },
  query(options: { since: number; now: number; limit: number }): void {
    checkGraphArgs.ts("since", options?.since);
    checkGraphArgs.ts("now", options?.now);
    if (!Number.isInteger(options.limit) || options.limit < 0) {
      throw badInput("limit", `expected a non-negative integer, got ${options.limit}`);
    }
  },
};

/** Orders hits best first; equal scores by video id so results are reproducible across runs and backends. */
export function compareSocialHits(a: SocialHit, b: SocialHit): number {
  return b.score - a.score || (a.videoId < b.videoId ? -1 : a.videoId > b.videoId ? 1 : 0);
}

interface Engagement {
  videoId: string;
  kind: EngagementKind;
  /** Latest time this user engaged with this video in this way. */
  ts: number;
  count: number;
}

export function createEmbeddedGraphStore(options: EmbeddedGraphStoreOptions = {}): GraphStore {
  const { maxEngagementsPerUser = 200 } = options;
  const { weights, halfLifeMs } = resolveScoring(options);
  if (!Number.isInteger(maxEngagementsPerUser) || maxEngagementsPerUser <= 0) {
    throw badInput("maxEngagementsPerUser", `expected a positive integer, got ${maxEngagementsPerUser}`);
  }
  /** follower → (followee → follow ts). */
  const follows = new Map<string, Map<string, number>>();
  /** user → engagements keyed by video and kind; Map order is recording order, oldest first (evicted first). */
  const engagements = new Map<string, Map<string, Engagement>>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new ReelfeedError("UNAVAILABLE", "embedded graph store is closed");
  };

  return {
    kind: "embedded",

    async follow(followerId, followeeId, ts) {
      assertOpen();
      checkGraphArgs.follow(followerId, followeeId);
      checkGraphArgs.ts("ts", ts);
      let out = follows.get(followerId);
      if (!out) follows.set(followerId, (out = new Map()));
      // Following again keeps the original time, as MERGE ... ON CREATE does in Neo4j.
      if (!out.has(followeeId)) out.set(followeeId, ts);
    },

    async unfollow(followerId, followeeId) {
      assertOpen();
      checkGraphArgs.id("followerId", followerId);
      checkGraphArgs.id("followeeId", followeeId);
      const out = follows.get(followerId);
      if (!out) return;
      out.delete(followeeId);
      if (out.size === 0) follows.delete(followerId);
    },

    async following(userId) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      const out = follows.get(userId);
      if (!out) return [];
      // Most recent follow first, ties by id: the same order the Neo4j query returns.
      return [...out.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([id]) => id);
    },

    async recordEngagement(userId, videoId, kind, ts) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      checkGraphArgs.id("videoId", videoId);
      checkGraphArgs.kind(kind);
      checkGraphArgs.ts("ts", ts);
      let mine = engagements.get(userId);
      if (!mine) engagements.set(userId, (mine = new Map()));
      const key = `${kind}\u0000${videoId}`;
      const prev = mine.get(key);
      if (prev) {
        prev.count++;
        if (ts <= prev.ts) return;
        prev.ts = ts;
        // Re-insert so the entry moves to the recent end and is evicted last.
        mine.delete(key);
        mine.set(key, prev);
        return;
      }
      mine.set(key, { videoId, kind, ts, count: 1 });
      if (mine.size > maxEngagementsPerUser) mine.delete(mine.keys().next().value as string);
    },

    async followeesEngaged(userId, query) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      checkGraphArgs.query(query);
      const { since, now, limit, signal } = query;
      signal?.throwIfAborted();
      const out = follows.get(userId);
      if (!out || limit === 0) return [];
      const byVideo = new Map<string, { score: number; lastTs: Map<string, number> }>();
      for (const followee of out.keys()) {
        const theirs = engagements.get(followee);
        if (!theirs) continue;
        for (const e of theirs.values()) {
          if (e.ts < since) continue;
          const decay = Math.exp((-Math.LN2 * Math.max(0, now - e.ts)) / halfLifeMs);
          let acc = byVideo.get(e.videoId);
          if (!acc) byVideo.set(e.videoId, (acc = { score: 0, lastTs: new Map() }));
          acc.score += weights[e.kind] * decay;
          const seen = acc.lastTs.get(followee);
          if (seen === undefined || e.ts > seen) acc.lastTs.set(followee, e.ts);
        }
      }
      signal?.throwIfAborted();
      const hits: SocialHit[] = [];
      for (const [videoId, acc] of byVideo) {
        const userIds = [...acc.lastTs.entries()]
          .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          .map(([id]) => id);
        hits.push({ videoId, score: acc.score, userIds });
      }
      return hits.sort(compareSocialHits).slice(0, limit);
    },

    async close() {
      closed = true;
      follows.clear();
      engagements.clear();
    },
  };
}
