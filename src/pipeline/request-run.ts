import { performance } from "node:perf_hooks";
import { FALLBACK_KINDS, type Fallback, type FallbackKind } from "./feed-page";
import type { PipelineDefinition } from "./pipeline-definition";
import type { StageTrace } from "./feed-page";
import type { Tracer } from "./trace";
import type { FeedRuntime } from "./types";

/**
 * What every step of the funnel gets: the service-wide environment (runtime, definition, counters) and the
 * request's run (its fallbacks and trace). Steps are plain functions over these two, so each is tested alone.
 */
export interface FunnelEnv {
  runtime: FeedRuntime;
  definition: PipelineDefinition;
  stats: PipelineStats;
  /** Where non-fatal errors go (a throwing stage, markServed, onServed). */
  onError: (error: unknown, where: string) => void;
  clock: () => number;
}

export interface PipelineStats {
  requests: number;
  sessionsRanked: number;
  sessionsCached: number;
  /** Per source: requests where it threw / passed its budget. */
  sources: Record<string, { failed: number; timedOut: number }>;
  fallbacks: Record<FallbackKind, number>;
}

export function createStats(definition: PipelineDefinition): PipelineStats {
  return {
    requests: 0,
    sessionsRanked: 0,
    sessionsCached: 0,
    sources: Object.fromEntries(definition.sources.map((s) => [s.name, { failed: 0, timedOut: 0 }])),
    fallbacks: Object.fromEntries(FALLBACK_KINDS.map((kind) => [kind, 0])) as Record<FallbackKind, number>,
  };
}

/** One request's state threaded through the steps: the degraded paths it took and its trace. */
export class RequestRun {
  readonly fallbacks: Fallback[] = [];

  constructor(
    readonly tracer: Tracer,
    private readonly stats: PipelineStats,
  ) {}

  /** Records a degraded path: in the page's `fallbacks` and the service's counters. */
  fallback(kind: FallbackKind, component: string, message: string): void {
    this.fallbacks.push({ kind, component, message });
    this.stats.fallbacks[kind]++;
  }

  /** Runs `fn` and, when traced, records it as a stage with its latency and counts. */
  async timed<T>(stage: string, fn: () => Promise<T> | T, counts?: (r: T) => Omit<StageTrace, "stage" | "latencyMs">): Promise<T> {
    const t0 = performance.now();
    const result = await fn();
    if (this.tracer.enabled) this.tracer.stage({ stage, latencyMs: performance.now() - t0, ...(counts ? counts(result) : { input: 0, output: 0 }) });
    return result;
  }
}
