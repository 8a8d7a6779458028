/**
 * The social graph: who follows whom, and which videos users engaged with. Powers the social candidate source
 * ("what the people you follow engaged with recently"). Implementations: embedded (default) and Neo4j.
 */
export type EngagementKind = "watch" | "like" | "share" | "save" | "comment";

export interface SocialHit {
  videoId: string;
  /** Sum over followees of their engagement weights, time-decayed. */
  score: number;
  /** Followees who engaged, most recent first. */
  userIds: string[];
}

export interface GraphStore {
  readonly kind: "embedded" | "neo4j";
  follow(followerId: string, followeeId: string, ts: number): Promise<void>;
  unfollow(followerId: string, followeeId: string): Promise<void>;
  following(userId: string): Promise<string[]>;
  recordEngagement(userId: string, videoId: string, kind: EngagementKind, ts: number): Promise<void>;
  /**
   * Videos the user's followees engaged with at or after `since`, best first, at most `limit`.
   * An unknown user gets [] (never an error).
   */
  followeesEngaged(userId: string, options: { since: number; now: number; limit: number; signal?: AbortSignal }): Promise<SocialHit[]>;
  close(): Promise<void>;
}
