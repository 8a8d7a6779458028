import type { ReelEvent, Video } from "../data/types";
import type { UserAggregates, VideoAggregates } from "../features/aggregates";

/**
 * Real-time state the feed reads on every request: the same aggregates training replays (features/aggregates.ts),
 * plus the per-user hard-filter sets. Implementations: in-process (embedded mode) and Redis. Memory is bounded by
 * caps and TTLs in both.
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
  /** Videos watched or served to the user recently (the seen filter). */
  getSeen(userId: string): Promise<Set<string>>;
  /** Records a served page so later pages and requests do not repeat it. */
  markServed(userId: string, videoIds: readonly string[], ts: number): Promise<void>;
  /** Time-decayed trending, globally (country undefined) or per country. */
  trending(country: string | undefined, limit: number, now: number): Promise<TrendingHit[]>;
  close(): Promise<void>;
}
