import { performance } from "node:perf_hooks";
import { configSchema, type ReelfeedConfig } from "../config";
import type { EventIngestor } from "../events/ingestor";
import { ReelfeedError } from "../errors";
import { assignAll, encodeExposures, type Exposure } from "../experiments/assignment";
import type { ExperimentConfig } from "../experiments/experiment-config";
import type { ExperimentMetrics } from "../experiments/online-metrics";
import { planExperiments, type ExperimentPlan, type VariantPipeline } from "../experiments/variant-configs";
import { createFeedService, type FeedServiceOptions, type PipelineFeedService, type PipelineStats } from "../pipeline/feed-pipeline";
import type { FeedPage, FeedRequest, FeedTrace } from "../pipeline/feed-page";
import { buildPipeline, describePipeline, type PipelineDefinition } from "../pipeline/pipeline-definition";
import type { FeedQuery, FeedRuntime } from "../pipeline/types";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";
import { processEventLoopLag } from "../util/event-loop-lag";
import { createImpressionLogger } from "./impression-logger";

/**
 * The feed service exactly as the server runs it over a given runtime: configured plugins loaded and validated,
 * the pipeline defined from config, the blend and budgets from config, and every served page logged as impressions.
 * Separate from loadRuntime so a test (or a tool) can serve a variant runtime — one without a ranker, say — through
 * the very same wiring.
 *
 * Experiments sit here, above the pipeline: one feed service per combination of overriding variants is built at load
 * (src/experiments/variant-configs.ts), and each request is routed to the one its user's variants pick. The pipeline
 * itself knows nothing of experiments. A request's exposures are returned with its page (and its trace), recorded in
 * the per-variant request metrics, and logged with every impression.
 *
 * Everything a request needs is one "generation" (the experiments, their feed services, the runtime) read once at
 * its start: reloading experiments or hot-swapping the model builds a new generation and swaps the pointer, so a
 * request in flight finishes on the generation it started on, and `retired` tells when the old one has drained.
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
  /**
   * Experiments served. The server passes config's (or the experiments file's); offline tools (recommend) serve the
   * base pipeline. @default none
   */
  experiments?: readonly ExperimentConfig[];
  /**
   * The runtime a variant's `bundle` override serves (a canary): the base runtime's stores with that bundle's models.
   * @default variants with a bundle are refused (BAD_CONFIG)
   */
  runtimeForBundle?: (bundleDir: string, base: FeedRuntime) => Promise<FeedRuntime>;
  /** Per-variant request metrics (latency, fallbacks). @default none recorded */
  experimentMetrics?: ExperimentMetrics;
  /** Sees every served page with its query, off the request path (the drift monitor). Must not throw. @default none */
  observeServed?: (page: FeedPage, query: FeedQuery) => void;
}

/** A served page with the experiments its request was in. */
export interface ExperimentFeedPage extends FeedPage {
  experiments: Exposure[];
  trace?: FeedTrace & { experiments: Exposure[] };
}

export interface ExperimentFeedService extends PipelineFeedService {
  feed(request: FeedRequest): Promise<ExperimentFeedPage>;
}

export interface ServingFeed {
  /** Routes each request to its variants' pipeline. */
  feed: ExperimentFeedService;
  /** The base pipeline (users in no overriding variant). */
  readonly definition: PipelineDefinition;
  /** The base runtime served now. */
  readonly runtime: FeedRuntime;
  experiments(): readonly ExperimentConfig[];
  /** Every pipeline served now, keyed `exp=variant;...` ("" is the base). */
  pipelines(): ReadonlyMap<string, PipelineDefinition>;
  /** The user's exposures at `now` under the current experiments. Pure. */
  assign(userId: string, now: number): Exposure[];
  /**
   * Serves these experiments from now on: validated and every pipeline built first; a bad definition throws
   * BAD_CONFIG (its key under `keyPrefix`) and the running experiments keep serving.
   */
  reloadExperiments(definitions: readonly ExperimentConfig[], keyPrefix?: string): Promise<{ drained: Promise<void> }>;
  /**
   * Serves another base runtime (a hot model swap): every pipeline is built over it first, then swapped in. Resolves
   * with a promise that settles when the requests that started on the old runtime have finished.
   */
  swapRuntime(runtime: FeedRuntime): Promise<{ drained: Promise<void> }>;
}

interface Generation {
  plan: ExperimentPlan;
  runtime: FeedRuntime;
  services: Map<string, { signature: string; service: PipelineFeedService; definition: PipelineDefinition }>;
  inFlight: number;
  retired?: () => void;
}

const signatureOf = (p: VariantPipeline): string => JSON.stringify([p.config.pipeline, p.config.ranking, p.bundle ?? null]);

export async function createServingFeed(options: ServingFeedOptions): Promise<ServingFeed> {
  const { config, ingestor, pluginsDir, progress = silentProgress, onError, service = {}, runtimeForBundle, experimentMetrics, observeServed } = options;
  let current: Generation | undefined;
  const served =
    (log: ((page: FeedPage, query: FeedQuery) => Promise<void>) | undefined) =>
    (page: FeedPage, query: FeedQuery): Promise<void> | undefined => {
      observeServed?.(page, query);
      return log?.(page, query);
    };

  const build = async (pipelineConfig: ReelfeedConfig, runtime: FeedRuntime, label: string): Promise<{ service: PipelineFeedService; definition: PipelineDefinition }> => {
    const definition = await buildPipeline({ config: pipelineConfig, runtime, pluginsDir });
    progress.log(label ? `pipeline for ${label}:\n${describePipeline(definition)}` : describePipeline(definition));
    const feedService = createFeedService({
      runtime,
      definition,
      blend: pipelineConfig.ranking.blend,
      candidatesToRank: pipelineConfig.ranking.candidatesToRank,
      overload: { ...config.pipeline.overload, eventLoopLag: processEventLoopLag().lagMs },
      maxSessions: config.pipeline.sessions.max,
      sessionTtlMs: config.pipeline.sessions.ttlMs,
      rankerTimeoutMs: config.ranking.timeoutMs,
      rewatchSurfaces: config.pipeline.rewatchSurfaces,
      // Assignment is pure: the logger recomputes the exposures from the served query's user and time under the
      // experiments of the generation serving now.
      onServed: served(
        ingestor
          ? createImpressionLogger({ ingestor, onError, experimentOf: (query) => (current ? encodeExposures(assignAll(current.plan.experiments, query.userId, query.context.now)) : undefined) })
          : undefined,
      ),
      onError,
      ...service,
    });
    return { service: feedService, definition };
  };

  /** Builds a generation, reusing the previous one's services whose pipeline and runtime are unchanged. */
  const generation = async (plan: ExperimentPlan, runtime: FeedRuntime, previous?: Generation): Promise<Generation> => {
    const services: Generation["services"] = new Map();
    const bundleRuntimes = new Map<string, FeedRuntime>();
    for (const p of plan.pipelines) {
      const signature = signatureOf(p);
      const reuse = previous && previous.runtime === runtime ? previous.services.get(p.key) : undefined;
      if (reuse && reuse.signature === signature) {
        services.set(p.key, reuse);
        continue;
      }
      let pipelineRuntime = runtime;
      if (p.bundle !== undefined) {
        if (!runtimeForBundle) throw new ReelfeedError("BAD_CONFIG", `config experiments: variant ${p.key} serves bundle ${p.bundle}, which this server cannot load`, { key: "experiments" });
        let r = bundleRuntimes.get(p.bundle);
        if (!r) bundleRuntimes.set(p.bundle, (r = await runtimeForBundle(p.bundle, runtime)));
        pipelineRuntime = r;
      }
      services.set(p.key, { signature, ...(await build(p.config, pipelineRuntime, p.key)) });
    }
    return { plan, runtime, services, inFlight: 0 };
  };

  const retire = (old: Generation | undefined): Promise<void> =>
    new Promise((resolve) => {
      if (!old || old.inFlight === 0) return resolve();
      old.retired = resolve;
    });

  const plan = (definitions: readonly ExperimentConfig[], keyPrefix?: string): ExperimentPlan =>
    planExperiments({ base: config, experiments: definitions, schema: configSchema, keyPrefix, maxPipelines: config.experiments.maxPipelines });

  current = await generation(plan(options.experiments ?? []), options.runtime);
  // Reloads and swaps one at a time: each builds on the generation the previous one installed.
  let changes: Promise<unknown> = Promise.resolve();
  const serially = <T>(change: () => Promise<T>): Promise<T> => {
    const run = changes.then(change);
    changes = run.catch(() => undefined);
    return run;
  };

  const base = (): PipelineFeedService => current!.services.get("")!.service;

  const feed: ExperimentFeedService = {
    async feed(request) {
      const gen = current!;
      gen.inFlight++;
      try {
        const now = request.context.now ?? Date.now();
        const exposures = assignAll(gen.plan.experiments, request.userId, now);
        const chosen = gen.services.get(gen.plan.pipelineKey(exposures)) ?? gen.services.get("")!;
        const started = performance.now();
        // The request's time is fixed here so the pipeline, its impressions and this assignment agree on it.
        const page = await chosen.service.feed({ ...request, context: { ...request.context, now }, variant: encodeExposures(exposures) });
        if (!request.preview) experimentMetrics?.recordRequest(exposures, performance.now() - started, page.fallbacks.length > 0);
        return { ...page, experiments: exposures, trace: page.trace && { ...page.trace, experiments: exposures } };
      } finally {
        gen.inFlight--;
        if (gen.inFlight === 0 && gen.retired) gen.retired();
      }
    },
    get definition() {
      return current!.services.get("")!.definition;
    },
    similarVideos: (videoId, first) => base().similarVideos(videoId, first),
    trending: (country, first) => base().trending(country, first),
    stats(): PipelineStats {
      const all = [...new Set([...current!.services.values()].map((s) => s.service))].map((s) => s.stats());
      const out = structuredClone(all[0]);
      for (const s of all.slice(1)) {
        out.requests += s.requests;
        out.sessionsRanked += s.sessionsRanked;
        out.sessionsCached += s.sessionsCached;
        for (const [k, v] of Object.entries(s.fallbacks)) out.fallbacks[k as keyof PipelineStats["fallbacks"]] += v;
        for (const [k, v] of Object.entries(s.sources)) {
          const t = (out.sources[k] ??= { failed: 0, timedOut: 0 });
          t.failed += v.failed;
          t.timedOut += v.timedOut;
        }
      }
      return out;
    },
  };

  return {
    feed,
    get definition() {
      return current!.services.get("")!.definition;
    },
    get runtime() {
      return current!.runtime;
    },
    experiments: () => current!.plan.experiments,
    pipelines: () => new Map([...current!.services].map(([k, v]) => [k, v.definition])),
    assign: (userId, now) => assignAll(current!.plan.experiments, userId, now),
    reloadExperiments: (definitions, keyPrefix) =>
      serially(async () => {
        const old = current!;
        const next = await generation(plan(definitions, keyPrefix), old.runtime, old);
        current = next;
        return { drained: retire(old) };
      }),
    swapRuntime: (runtime) =>
      serially(async () => {
        const old = current!;
        const next = await generation(old.plan, runtime);
        current = next;
        return { drained: retire(old) };
      }),
  };
}
