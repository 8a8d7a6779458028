import type { ReelfeedConfig } from "../config";
import type { EventIngestor } from "../events/ingestor";
import { createFeedService, type FeedServiceOptions, type PipelineFeedService } from "../pipeline/feed-pipeline";
import { buildPipeline, describePipeline, type PipelineDefinition } from "../pipeline/pipeline-definition";
import type { FeedRuntime } from "../pipeline/types";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";
import { processEventLoopLag } from "../util/event-loop-lag";
import { createImpressionLogger } from "./impression-logger";

/**
 * The feed service exactly as the server runs it over a given runtime: configured plugins loaded and validated,
 * the pipeline defined from config, the blend and budgets from config, and every served page logged as impressions.
 * Separate from loadRuntime so a test (or a tool) can serve a variant runtime — one without a ranker, say — through
 * the very same wiring.
 */
export interface ServingFeedOptions {
  runtime: FeedRuntime;
  config: ReelfeedConfig;
  /** Where served impressions go; none are logged without one. @default undefined */
  ingestor?: EventIngestor;
  /** Folder of plugin folders. @default "plugins" (working directory) */
  pluginsDir?: string;
  /** Prints the pipeline's table of contents and its start-up warnings. @default silentProgress */
  progress?: Progress;
  /** Non-fatal errors (impression logging, markServed). @default a console.warn line */
  onError?: (error: unknown, where: string) => void;
  /** Feed-service settings config does not carry (state read budget, session TTL, ...). @default {} */
  service?: Partial<Omit<FeedServiceOptions, "runtime" | "definition" | "onServed" | "onError">>;
}

export interface ServingFeed {
  feed: PipelineFeedService;
  definition: PipelineDefinition;
}

export async function createServingFeed(options: ServingFeedOptions): Promise<ServingFeed> {
  const { runtime, config, ingestor, pluginsDir, progress = silentProgress, onError, service = {} } = options;
  const definition = await buildPipeline({ config, runtime, pluginsDir });
  progress.log(describePipeline(definition));
  const feed = createFeedService({
    runtime,
    definition,
    blend: config.ranking.blend,
    candidatesToRank: config.ranking.candidatesToRank,
    overload: { ...config.pipeline.overload, eventLoopLag: processEventLoopLag().lagMs },
    maxSessions: config.pipeline.sessions.max,
    sessionTtlMs: config.pipeline.sessions.ttlMs,
    rankerTimeoutMs: config.ranking.timeoutMs,
    rewatchSurfaces: config.pipeline.rewatchSurfaces,
    onServed: ingestor ? createImpressionLogger({ ingestor, onError }) : undefined,
    onError,
    ...service,
  });
  return { feed, definition };
}
