import type { VideoAggregates } from "../features/aggregates";
import type { StageContext } from "../pipeline/types";

/**
 * What the feed pipeline adds to the StageContext contract for the built-in stages. Optional, so a stage works in
 * the testkit or another host that does not provide them.
 */
export interface PipelineStageContext extends StageContext {
  /** The ranked session's id: the seed of every random choice a stage makes, so a session is reproducible. */
  sessionId?: string;
  /** Real-time aggregates of the ranked videos (likes, dislikes, reports), fetched once per request. */
  videoStats?: ReadonlyMap<string, VideoAggregates>;
}

export function sessionIdOf(ctx: StageContext): string | undefined {
  return (ctx as PipelineStageContext).sessionId;
}

export function videoStatsOf(ctx: StageContext): ReadonlyMap<string, VideoAggregates> | undefined {
  return (ctx as PipelineStageContext).videoStats;
}
