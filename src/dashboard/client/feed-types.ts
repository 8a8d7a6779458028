import type { Reason } from "./format";

/**
 * The feed query the dashboard sends, and its answer's shape (schema.graphql: FeedConnection with debug: true). A
 * preview: looking at a user's feed records nothing (no impressions, no served marks, no experiment counts).
 */
export const FEED_QUERY = `query DashboardFeed($userId: ID!, $surface: Surface, $context: FeedContextInput, $first: Int, $after: String) {
  feed(userId: $userId, surface: $surface, context: $context, first: $first, after: $after, debug: true, preview: true) {
    modelVersion
    pageInfo { endCursor hasNextPage }
    fallbacks { kind component message }
    experiments { name variant }
    edges { node {
      position score trackingId sources
      heads { head probability }
      reason { code qualifiedCode params { key value } }
      video { id title category durationSec creator { id name } }
    } }
    trace {
      requestId modelVersion totalMs
      stages { stage latencyMs input output removed { reason count } error }
      candidates { videoId sources { source score } removedBy { stage reason } heads { head probability } score rankedPosition finalPosition }
    }
  }
}`;

export interface HeadScore {
  head: string;
  probability: number;
}

export interface FeedNode {
  position: number;
  score: number;
  trackingId: string;
  sources: string[];
  heads: HeadScore[];
  reason: Reason;
  video: { id: string; title: string; category: string; durationSec: number; creator: { id: string; name: string | null } };
}

export interface StageTrace {
  stage: string;
  latencyMs: number;
  input: number;
  output: number;
  removed: Array<{ reason: string; count: number }>;
  error: string | null;
}

export interface CandidateTrace {
  videoId: string;
  sources: Array<{ source: string; score: number }>;
  removedBy: { stage: string; reason: string } | null;
  heads: HeadScore[];
  score: number | null;
  rankedPosition: number | null;
  finalPosition: number | null;
}

export interface FeedTrace {
  requestId: string;
  modelVersion: string;
  totalMs: number;
  stages: StageTrace[];
  candidates: CandidateTrace[];
}

export interface FeedPage {
  modelVersion: string;
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
  fallbacks: Array<{ kind: string; component: string; message: string }>;
  experiments: Array<{ name: string; variant: string }>;
  edges: Array<{ node: FeedNode }>;
  trace: FeedTrace | null;
}

export const SURFACES = ["HOME", "WATCH_NEXT", "SEARCH", "SUBSCRIPTIONS", "TRENDING", "SHORTS"] as const;
export const DEVICES = ["MOBILE", "DESKTOP", "TV", "TABLET", "UNKNOWN"] as const;
