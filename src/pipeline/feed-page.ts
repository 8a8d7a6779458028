import type { Device, Surface, Video } from "../data/types";
import type { Reason } from "./types";

/**
 * What the GraphQL layer hands the pipeline and gets back. The schema maps arguments to a FeedRequest and a
 * FeedPage back to types; no ranking logic lives in the schema.
 */
export interface FeedRequest {
  userId: string;
  surface: Surface;
  context: {
    device?: Device;
    country?: string;
    language?: string;
    /** Request time, epoch ms; defaults to the server clock. */
    now?: number;
    sessionVideoIds?: string[];
  };
  /** Seed video for WATCH_NEXT / similarVideos. */
  seedVideoId?: string;
  /** Page size, already bounded by the schema. */
  first: number;
  /** Opaque cursor from a previous page: continue that ranked session without repeating an item. */
  after?: string;
  /** Collect the per-request trace. */
  debug: boolean;
  /**
   * Look without recording (dashboards, QA tools): the page is not marked served, no impression is logged, and
   * experiment request metrics do not count it, so looking at a user's feed changes neither their next feed nor the
   * training data. @default false
   */
  preview?: boolean;
  /** Experiment variant the request was bucketed into, if any. */
  variant?: string;
}

export interface FeedItem {
  video: Video;
  score: number;
  /** Probability per ranker head (empty when the ranker was not used). */
  heads: Record<string, number>;
  /** Every candidate source that proposed it. */
  sources: string[];
  reason: Reason;
  /** Joins the client's impression/click/watch events to what was served. */
  trackingId: string;
  /** 0-based position in the whole ranked session (not the page). */
  position: number;
}

/** Degraded paths a feed answer can report (the schema's FallbackKind enum). */
export const FALLBACK_KINDS = [
  "SOURCE_FAILED", // a source threw
  "SOURCE_TIMEOUT", // a source passed its time budget
  "RANKER_UNAVAILABLE", // no ranker model, or it failed: ordered by source scores
  "POPULARITY", // too few candidates: filled with popular videos
  "STATE_UNAVAILABLE", // the real-time store was down: served from in-process state
  "OVERLOADED", // too many sessions were being ranked at once: served popular videos instead of queueing
] as const;

export type FallbackKind = (typeof FALLBACK_KINDS)[number];

export interface Fallback {
  kind: FallbackKind;
  /** The source, model or store concerned. */
  component: string;
  message: string;
}

export interface StageTrace {
  stage: string;
  latencyMs: number;
  /** Candidates in and out of the stage. */
  input: number;
  output: number;
  /** Removed candidates per reason. */
  removed?: Record<string, number>;
  error?: string;
}

export interface CandidateTrace {
  videoId: string;
  sources: Array<{ source: string; score: number }>;
  /** Why it was filtered or removed by a re-rank stage (absent when served or cut by page size). */
  removedBy?: { stage: string; reason: string };
  heads: Record<string, number>;
  score?: number;
  /** Position before and after re-ranking. */
  rankedPosition?: number;
  finalPosition?: number;
}

export interface FeedTrace {
  requestId: string;
  modelVersion: string;
  totalMs: number;
  stages: StageTrace[];
  candidates: CandidateTrace[];
}

export interface FeedPage {
  items: FeedItem[];
  /** Cursor for the next page; undefined when the session has no more items. */
  endCursor?: string;
  hasNextPage: boolean;
  modelVersion: string;
  /** Every fallback used to answer this request; empty when everything worked. */
  fallbacks: Fallback[];
  /** Present when the request asked for it. */
  trace?: FeedTrace;
}

/** The feed service the schema calls. */
export interface FeedService {
  feed(request: FeedRequest): Promise<FeedPage>;
  /** Videos similar to one video (content and two-tower neighbours), for watch-next. */
  similarVideos(videoId: string, first: number): Promise<Array<{ video: Video; score: number }>>;
  /** Trending, globally or for a country. */
  trending(country: string | undefined, first: number): Promise<Array<{ video: Video; score: number }>>;
}
