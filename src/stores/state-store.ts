import type { ReelEvent, Video } from "../data/types";
import type { UserAggregates, VideoAggregates } from "../features/aggregates";

/**
 * Real-time state the feed reads on every request: the same aggregates training replays (features/aggregates.ts),
 * plus the per-user hard-filter sets. Implementations: in-process (embedded mode) and Redis. Memory is bounded by
 * caps and TTLs in both; the per-user watched Bloom filter by its geometry (seen-bloom.ts).
 */
export interface UserRelations {
  /** Videos the user said "not interested" to: never shown again. */
  notInterested: string[];
  /** Creators the user blocked: none of their videos is shown again. */
  blockedCreators: string[];
  /** Videos the user reported. */
  reported: string[];
  /** Creators the user subscribes to. */
  subscriptions: string[];
  /** Users this user follows. */
  follows: string[];
}

/**
 * What the feed must not serve again: every video the user ever watched, started or clicked (a Bloom filter:
 * never a false "no", a false "yes" at most the store's stated rate, docs/events.md) plus, exactly, the recent
 * watches and recently served videos. Not a Set: `has` answers for more ids than `recent` lists.
 */
export interface SeenSet {
  /** Watched ever (Bloom), or recently watched or served (exact). */
  has(videoId: string): boolean;
  /** Exactly known: recent watches and recently served videos, within the store's caps and TTLs. Each one `has`.
   *  What a vector search can take as its exclusion list. */
  readonly recent: ReadonlySet<string>;
  /** Recently served (exact), a subset of `recent`: all a rewatch surface leaves out (pipeline.rewatchSurfaces). */
  readonly served: ReadonlySet<string>;
  /** `recent.size`: a lower bound of the ids `has` accepts, for sizing an over-fetch. */
  readonly size: number;
}

export interface TrendingHit {
  videoId: string;
  score: number;
}

export interface StateStore {
  readonly kind: "memory" | "redis";
  /** Applies events in order (aggregates, relations, seen sets, trending). `videoOf` resolves catalog entries. */
  apply(events: readonly ReelEvent[], videoOf: (id: string) => Video | undefined): Promise<void>;
  getUser(userId: string): Promise<UserAggregates | undefined>;
  getVideos(videoIds: readonly string[]): Promise<Map<string, VideoAggregates>>;
  getRelations(userId: string): Promise<UserRelations>;
  /** Videos the user ever watched (Bloom) or recently watched or was served (exact): the seen filter. One read. */
  getSeen(userId: string): Promise<SeenSet>;
  /** Records a served page so later pages and requests do not repeat it. */
  markServed(userId: string, videoIds: readonly string[], ts: number): Promise<void>;
  /** Time-decayed trending, globally (country undefined) or per country. */
  trending(country: string | undefined, limit: number, now: number): Promise<TrendingHit[]>;
  close(): Promise<void>;
}
