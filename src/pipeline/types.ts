import type { ItemNeighbours } from "../features/item-neighbours";
import type { Catalog } from "../data/catalog";
import type { Device, Surface, User, Video } from "../data/types";
import type { UserAggregates, VideoAggregates } from "../features/aggregates";
import type { FeatureBatch } from "../features/spec";
import type { GraphStore } from "../stores/graph-store";
import type { SeenSet, StateStore, UserRelations } from "../stores/state-store";
import type { VectorIndex } from "../stores/vector-index";

/**
 * The contracts of the feed pipeline: what a request looks like once hydrated, and what candidate sources, filters
 * and re-rank stages receive and return. Plugin authors import them from the public module, src/plugin (which
 * re-exports every one a plugin needs, with how to define a plugin around them); this file is where they live.
 */

export interface FeedContext {
  device: Device;
  country?: string;
  language?: string;
  /** Request time (epoch ms): "now" for every time-dependent feature. */
  now: number;
  /** Videos watched earlier in this session, most recent last. */
  sessionVideoIds: string[];
}

/** A feed request after hydration: profile, real-time state and context are all here. */
export interface FeedQuery {
  userId: string;
  /** The profile, undefined for an unknown user (cold start). */
  user?: User;
  surface: Surface;
  context: FeedContext;
  /** Watch-next / similar-videos seed. */
  seedVideoId?: string;
  /** Real-time aggregates (recent history, affinities), undefined for a user with no events. */
  userAgg?: UserAggregates;
  relations: UserRelations;
  /**
   * Watched (ever: a Bloom filter, small stated false-positive rate) or recently served: never served again. On a
   * rewatch surface (pipeline.rewatchSurfaces) only the recently served. `has` is the full check; `seen.recent` is
   * the exact part, for exclusion lists that must be enumerated (vector searches).
   */
  seen: SeenSet;
  /** Items requested for this page. */
  pageSize: number;
}

export const REASON_CODES = [
  "PERSONALIZED",
  "SUBSCRIBED_CREATOR",
  "SIMILAR_TO",
  "TRENDING_IN",
  "POPULAR",
  "FRIENDS_ENGAGED",
  "FRESH",
  "CATEGORY_INTEREST",
  "EXPLORATION",
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

/**
 * Why a video was proposed, machine-readable: { code: "SIMILAR_TO", params: { videoId: "42" } }. A plugin's own
 * reason (declared with `defineReason`, namespaced by the plugin: "more-from-creators/FINISHED_CREATOR") carries
 * it in `qualifiedCode` and a built-in `code` it falls back to, so a client that does not know the plugin still
 * renders something sensible (the schema's `Reason.code` enum stays closed; `Reason.qualifiedCode` is the string).
 */
export interface Reason {
  code: ReasonCode;
  params: Record<string, string>;
  /** A plugin reason's namespaced code; absent on built-in reasons (their qualified code is `code`). */
  qualifiedCode?: string;
}

/** One source's proposal. */
export interface Candidate {
  videoId: string;
  /** The source's own relevance score; higher is better, scale is the source's. */
  score: number;
  reason: Reason;
}

export interface Attribution {
  source: string;
  score: number;
  reason: Reason;
}

/** A candidate after merging: deduplicated, every proposing source kept. */
export interface MergedCandidate {
  videoId: string;
  video: Video;
  /** Every source that proposed it, best weighted score first. */
  sources: Attribution[];
  /** Weighted source score: the fallback ordering when the ranker is unavailable. */
  sourceScore: number;
}

export interface ScoredCandidate extends MergedCandidate {
  /** Final score, after the blend and any re-rank boosts. */
  score: number;
  /** Probability per ranker head; empty when the ranker was not used. */
  heads: Record<string, number>;
  /** The reason shown to the client: the best attribution's, or a stage's (EXPLORATION). */
  reason: Reason;
}

/**
 * A merged candidate with its score, heads and reason: the one place a ScoredCandidate is built. Field by field: an
 * object spread here cost ~1.5 µs per candidate in CPU profiles (V8's generic clone path); without it a
 * popularity-fill request takes half the time (feed-micro).
 */
export function toScored(c: MergedCandidate, heads: Record<string, number>, score: number, reason: Reason): ScoredCandidate {
  return { videoId: c.videoId, video: c.video, sources: c.sources, sourceScore: c.sourceScore, heads, score, reason };
}

/** A copy of a scored candidate with a new score (and optionally a new reason): what a re-rank stage returns. */
export function withScore(c: ScoredCandidate, score: number, reason: Reason = c.reason): ScoredCandidate {
  return toScored(c, c.heads, score, reason);
}

/** Everything a source, filter or stage may read. Read-only by contract. */
export interface FeedRuntime {
  catalog: Catalog;
  state: StateStore;
  graph: GraphStore;
  /** Two-tower video embeddings and content (text) embeddings; absent when the bundle lacks them. */
  vectors: { twoTower?: VectorIndex; content?: VectorIndex };
  /**
   * Models of the bundle. `neighbours`: collaborative item-to-item neighbours (features/item-neighbours.ts), read
   * by the Neighbours source and, through the feature artifacts, by the ranker.
   */
  models: { userTower?: UserTowerModel; ranker?: RankerModel; neighbours?: ItemNeighbours };
  /** Version of the model bundle being served. */
  modelVersion: string;
}

export interface UserTowerModel {
  readonly dim: number;
  /** Builds the user-tower rows for a query with the shared feature code and returns one embedding. */
  embed(query: FeedQuery, signal?: AbortSignal): Promise<Float32Array>;
}

export interface RankerModel {
  readonly heads: readonly string[];
  readonly version: string;
  /**
   * Probabilities per head for each candidate, in input order, same length. `videoStats`: the candidates' real-time
   * aggregates when the caller has read them already (the pipeline has, for its guardrails), so the store is read
   * once per request; without it the model reads them itself.
   */
  score(query: FeedQuery, videos: readonly Video[], signal?: AbortSignal, videoStats?: ReadonlyMap<string, VideoAggregates>): Promise<Record<string, Float32Array>>;
}

/** Names of runtime parts a source can require; checked at start-up, not per request. */
export type StoreName = "twoTower" | "content" | "userTower" | "ranker" | "neighbours" | "graph" | "state";

export interface SourceContext {
  runtime: FeedRuntime;
  /** Aborts when the source's timeout passes or the request is cancelled. */
  signal: AbortSignal;
  /** Most candidates to return (the source's quota). */
  limit: number;
}

/** A source proposes candidates. It must not throw for an unknown user: return [] instead. */
export interface CandidateSource {
  /** Stable PascalCase identity: logs, metrics, config, traces. */
  readonly name: string;
  readonly requires?: readonly StoreName[];
  fetch(query: FeedQuery, ctx: SourceContext): Promise<readonly Candidate[]>;
}

export interface Removal<T> {
  candidate: T;
  reason: string;
}

export interface FilterResult {
  kept: MergedCandidate[];
  removed: Removal<MergedCandidate>[];
}

/**
 * A hard rule on merged candidates. Never mutates its input. Decides each candidate alone: a ranked session filters
 * its candidates a slice at a time, best source score first, until enough for the ranker have passed
 * (steps/filters.ts, filterBest), so one call may see only some of them.
 */
export interface CandidateFilter {
  readonly name: string;
  apply(query: FeedQuery, candidates: readonly MergedCandidate[], runtime: FeedRuntime): FilterResult;
}

/**
 * What a re-rank stage gets besides the query and the ranked list. A stage's options are not here: they were
 * validated at start-up and handed to its factory (`defineStage`'s `create`).
 */
export interface StageContext {
  runtime: FeedRuntime;
  /**
   * What this session was already served before this list, in order: empty when a session is first ranked; the
   * ranked items when the popularity fill tops the session up (caps whose windows span the seam read it).
   */
  servedEarlier: readonly Video[];
  /**
   * The ranked session's id (for a fill, `<id>:<items so far>`): the seed of every random choice a stage makes,
   * so a session is reproducible and a continuation does not replay the first page's choices.
   */
  sessionId: string;
  /**
   * Real-time aggregates of the ranked videos (likes, dislikes, reports), read once per request for the ranker
   * and shared with the stages. Undefined when the state store did not answer, and for the popularity fill.
   */
  videoStats?: ReadonlyMap<string, VideoAggregates>;
}

export interface StageResult {
  kept: ScoredCandidate[];
  removed: Removal<ScoredCandidate>[];
}

/** A re-rank stage returns what it kept (in its new order) and why it removed the rest; it never mutates its input. */
export interface RerankStage {
  readonly name: string;
  apply(query: FeedQuery, ranked: readonly ScoredCandidate[], ctx: StageContext): StageResult;
}

/** Rows for models: the feature code turns a query and videos into batches. Re-exported for plugin authors. */
export type { FeatureBatch };
