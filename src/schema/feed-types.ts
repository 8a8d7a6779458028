// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { Field, Float, ID, Int, ObjectType } from "type-graphql";
import { VideoType } from "./catalog-types";
import { FallbackKindEnum, ReasonCodeEnum } from "./enums";

/** The feed connection and its trace, mirroring src/pipeline/feed-page.ts (maps become key/value lists). */

@ObjectType("HeadScore", { description: "One ranker head's predicted probability (click, completion, like, ...)." })
export class HeadScoreType {
  @Field(() => String)
  head!: string;

  @Field(() => Float)
  probability!: number;
}

@ObjectType("ReasonParam")
export class ReasonParamType {
  @Field(() => String)
  key!: string;

  @Field(() => String)
  value!: string;
}

@ObjectType("Reason", { description: "Why a video was served, machine-readable: the client renders the text." })
export class ReasonType {
  @Field(() => ReasonCodeEnum)
  code!: ReasonCodeEnum;

  @Field(() => [ReasonParamType])
  params!: ReasonParamType[];

  @Field(() => String, {
    description:
      "The most specific code: `code` itself for a built-in reason, or a plugin's namespaced code (`<plugin>/<CODE>`, e.g. `more-from-creators/FINISHED_CREATOR`), whose `code` is then the built-in code to fall back to. Clients that do not know a plugin code render `code`.",
  })
  qualifiedCode!: string;
}

@ObjectType("FeedItem")
export class FeedItemType {
  @Field(() => VideoType)
  video!: VideoType;

  @Field(() => Float, {
    description:
      "Final blended score: the page's sort key, not a probability. Comparable within one response only; blend-v2 multiplies the click probability by exp(16 × the user's relative affinity), so a warm user's closest items can score in the hundreds (see `heads` for the probabilities).",
  })
  score!: number;

  @Field(() => [HeadScoreType], { description: "Per ranker head; empty when the ranker was not used." })
  heads!: HeadScoreType[];

  @Field(() => [String], { description: "Every candidate source that proposed the video." })
  sources!: string[];

  @Field(() => ReasonType)
  reason!: ReasonType;

  @Field(() => ID, { description: "Send back on impression/click/watch events: joins outcomes to what was served." })
  trackingId!: string;

  @Field(() => Int, { description: "0-based position in the whole ranked session (not the page)." })
  position!: number;
}

@ObjectType("FeedEdge")
export class FeedEdgeType {
  @Field(() => String, {
    nullable: true,
    description: "Page-granular: the page's end cursor (pass as `after` for the next page); null on the last page.",
  })
  cursor?: string;

  @Field(() => FeedItemType)
  node!: FeedItemType;
}

@ObjectType("PageInfo")
export class PageInfoType {
  @Field(() => String, { nullable: true })
  endCursor?: string;

  @Field(() => Boolean)
  hasNextPage!: boolean;
}

@ObjectType("Fallback")
export class FallbackType {
  @Field(() => FallbackKindEnum)
  kind!: FallbackKindEnum;

  @Field(() => String, { description: "The source, model or store concerned." })
  component!: string;

  @Field(() => String)
  message!: string;
}

@ObjectType("RemovalCount")
export class RemovalCountType {
  @Field(() => String)
  reason!: string;

  @Field(() => Int)
  count!: number;
}

@ObjectType("StageTrace")
export class StageTraceType {
  @Field(() => String)
  stage!: string;

  @Field(() => Float)
  latencyMs!: number;

  @Field(() => Int, { description: "Candidates into the stage." })
  input!: number;

  @Field(() => Int, { description: "Candidates out of the stage." })
  output!: number;

  @Field(() => [RemovalCountType])
  removed!: RemovalCountType[];

  @Field(() => String, { nullable: true })
  error?: string;
}

@ObjectType("SourceScore")
export class SourceScoreType {
  @Field(() => String)
  source!: string;

  @Field(() => Float)
  score!: number;
}

@ObjectType("CandidateRemoval")
export class CandidateRemovalType {
  @Field(() => String)
  stage!: string;

  @Field(() => String)
  reason!: string;
}

@ObjectType("CandidateTrace")
export class CandidateTraceType {
  @Field(() => ID)
  videoId!: string;

  @Field(() => [SourceScoreType])
  sources!: SourceScoreType[];

  @Field(() => CandidateRemovalType, {
    nullable: true,
    description: "Why it was filtered or removed by a re-rank stage; null when served or cut by page size.",
  })
  removedBy?: CandidateRemovalType;

  @Field(() => [HeadScoreType])
  heads!: HeadScoreType[];

  @Field(() => Float, { nullable: true })
  score?: number;

  @Field(() => Int, { nullable: true, description: "Position after ranking, before re-ranking." })
  rankedPosition?: number;

  @Field(() => Int, { nullable: true, description: "Position after re-ranking." })
  finalPosition?: number;
}

@ObjectType("ExperimentExposure", { description: "An experiment the request was bucketed into, and its variant (sticky per user)." })
export class ExperimentExposureType {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  variant!: string;
}

@ObjectType("FeedTrace", { description: "Why this video, why not that one: per stage and per candidate." })
export class FeedTraceType {
  @Field(() => ID)
  requestId!: string;

  @Field(() => String)
  modelVersion!: string;

  @Field(() => Float)
  totalMs!: number;

  @Field(() => [StageTraceType])
  stages!: StageTraceType[];

  @Field(() => [CandidateTraceType])
  candidates!: CandidateTraceType[];

  @Field(() => [ExperimentExposureType], { description: "The experiments and variants that chose this request's pipeline." })
  experiments!: ExperimentExposureType[];
}

@ObjectType("FeedConnection")
export class FeedConnectionType {
  @Field(() => [FeedEdgeType])
  edges!: FeedEdgeType[];

  @Field(() => PageInfoType)
  pageInfo!: PageInfoType;

  @Field(() => String, { description: "Model bundle that ranked this page." })
  modelVersion!: string;

  @Field(() => [FallbackType], { description: "Every degraded path taken; empty when everything worked." })
  fallbacks!: FallbackType[];

  @Field(() => FeedTraceType, { nullable: true, description: "Present only when `debug: true`." })
  trace?: FeedTraceType;

  @Field(() => [ExperimentExposureType], { description: "The experiments this request was bucketed into (empty when none): log them with client events." })
  experiments!: ExperimentExposureType[];
}
