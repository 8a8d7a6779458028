import type { Catalog } from "../data/catalog";
import type { User, Video } from "../data/types";
import type { FeedItem, FeedPage, FeedTrace } from "../pipeline/feed-page";
import type { Reason } from "../pipeline/types";
import type { CreatorType, ScoredVideoType, UserType, VideoType } from "./catalog-types";
import { AgeGroupEnum, type DeviceEnum, type FallbackKindEnum, type ReasonCodeEnum } from "./enums";
import type { FeedConnectionType, FeedItemType, FeedTraceType, HeadScoreType, ReasonParamType } from "./feed-types";

/**
 * Pure mappings from the domain and the pipeline's FeedPage to the public GraphQL shapes. Maps become sorted
 * key/value lists so responses are stable byte for byte.
 */

export function toVideoNode(video: Video, catalog: Catalog): VideoType {
  const creator = catalog.creator(video.creatorId);
  const creatorNode: CreatorType = { id: video.creatorId, name: creator?.name };
  return {
    id: video.id,
    title: video.title,
    description: video.description,
    tags: video.tags,
    category: video.category,
    language: video.language,
    durationSec: Math.round(video.durationSec),
    uploadedAt: new Date(video.uploadedAt),
    ageRestricted: video.ageRestricted ?? false,
    creator: creatorNode,
  };
}

export function ageGroup(age: number | undefined): AgeGroupEnum {
  if (age === undefined || !Number.isFinite(age) || age <= 0) return AgeGroupEnum.UNKNOWN;
  if (age < 18) return AgeGroupEnum.UNDER_18;
  if (age < 25) return AgeGroupEnum.AGE_18_24;
  if (age < 35) return AgeGroupEnum.AGE_25_34;
  if (age < 45) return AgeGroupEnum.AGE_35_44;
  if (age < 55) return AgeGroupEnum.AGE_45_54;
  return AgeGroupEnum.AGE_55_PLUS;
}

export function toUserNode(user: User): UserType {
  return {
    id: user.id,
    country: user.country,
    language: user.language,
    ageGroup: ageGroup(user.age),
    device: user.device as DeviceEnum | undefined,
    createdAt: user.createdAt === undefined ? undefined : new Date(user.createdAt),
  };
}

export function toHeadScores(heads: Record<string, number>): HeadScoreType[] {
  return Object.keys(heads)
    .sort()
    .map((head) => ({ head, probability: heads[head] }));
}

export function toReason(reason: Reason): { code: ReasonCodeEnum; params: ReasonParamType[]; qualifiedCode: string } {
  return {
    code: reason.code as ReasonCodeEnum,
    qualifiedCode: reason.qualifiedCode ?? reason.code,
    params: Object.keys(reason.params)
      .sort()
      .map((key) => ({ key, value: reason.params[key] })),
  };
}

export function toFeedItem(item: FeedItem, catalog: Catalog): FeedItemType {
  return {
    video: toVideoNode(item.video, catalog),
    score: item.score,
    heads: toHeadScores(item.heads),
    sources: item.sources,
    reason: toReason(item.reason),
    trackingId: item.trackingId,
    position: item.position,
  };
}

/** The exposures the experiment router adds to a page (src/app/serving-feed.ts); none from a bare pipeline. */
function exposuresOf(x: object): Array<{ name: string; variant: string }> {
  const list = (x as { experiments?: Array<{ experiment: string; variant: string }> }).experiments;
  return Array.isArray(list) ? list.map((e) => ({ name: e.experiment, variant: e.variant })) : [];
}

export function toFeedTrace(trace: FeedTrace): FeedTraceType {
  return {
    experiments: exposuresOf(trace),
    requestId: trace.requestId,
    modelVersion: trace.modelVersion,
    totalMs: trace.totalMs,
    stages: trace.stages.map((s) => ({
      stage: s.stage,
      latencyMs: s.latencyMs,
      input: s.input,
      output: s.output,
      removed: Object.keys(s.removed ?? {})
        .sort()
        .map((reason) => ({ reason, count: s.removed![reason] })),
      error: s.error,
    })),
    candidates: trace.candidates.map((c) => ({
      videoId: c.videoId,
      sources: c.sources.map((s) => ({ source: s.source, score: s.score })),
      removedBy: c.removedBy,
      heads: toHeadScores(c.heads),
      score: c.score,
      rankedPosition: c.rankedPosition,
      finalPosition: c.finalPosition,
    })),
  };
}

/**
 * Cursors are page-granular: the pipeline materialises a ranked session page by page and hands out one cursor per
 * page, so every edge carries the page's end cursor (resuming "after this item" mid-page would re-serve the rest of
 * the page, which the session has already marked as served).
 */
export function toFeedConnection(page: FeedPage, catalog: Catalog, debug: boolean): FeedConnectionType {
  return {
    edges: page.items.map((item) => ({ cursor: page.endCursor, node: toFeedItem(item, catalog) })),
    pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage },
    modelVersion: page.modelVersion,
    fallbacks: page.fallbacks.map((f) => ({ kind: f.kind as FallbackKindEnum, component: f.component, message: f.message })),
    trace: debug && page.trace ? toFeedTrace(page.trace) : undefined,
    experiments: exposuresOf(page),
  };
}

export function toScoredVideos(list: Array<{ video: Video; score: number }>, catalog: Catalog): ScoredVideoType[] {
  return list.map((s) => ({ video: toVideoNode(s.video, catalog), score: s.score }));
}
