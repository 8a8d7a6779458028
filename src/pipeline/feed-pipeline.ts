import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Surface } from "../data/types";
import { badInput } from "../errors";
import type { BlendConfig } from "../ranking/blend";
import type { FeedPage, FeedRequest, FeedService, StageTrace } from "./feed-page";
import { createLookups } from "./lookups";
import { createOverloadGate } from "./overload";
import { withSettings, type PipelineDefinition } from "./pipeline-definition";
import { createStats, RequestRun, type FunnelEnv, type PipelineStats } from "./request-run";
import { SessionItems } from "./session-items";
import { createSessionStore, type Session } from "./sessions";
import { fill } from "./steps/fill";
import { filterBest } from "./steps/filters";
import { hydrate } from "./steps/hydrate";
import { mergeScores } from "./steps/merge";
import { createPageStep } from "./steps/page";
import { rank } from "./steps/rank";
import { runSources } from "./steps/sources";
import { runStages } from "./steps/stages";
import { createTracer } from "./trace";
import type { FeedQuery, FeedRuntime } from "./types";

export type { PipelineStats } from "./request-run";

/**
 * The feed pipeline: the funnel's steps in the order one request runs them. Each step is a file under steps/ (what
 * it does and why is written there); the definition (pipeline-definition.ts) holds every step's settings and
 * components; sessions.ts holds sessions and paging; lookups.ts the two anonymous queries beside the feed.
 *
 *   1. hydrate   the query: profile, real-time state, context                        steps/hydrate.ts
 *      overload  past the limits, skip to 7 (OVERLOADED)                               overload.ts
 *   2. sources   in parallel, each with quota, timeout, fail-open                      steps/sources.ts
 *   3. merge     dedupe, keep attributions, reciprocal-rank source score                steps/merge.ts
 *   4. filters   hard rules, cheapest first, until the ranker's candidates pass          steps/filters.ts
 *   5. rank      ranker heads → blended score (or source order, RANKER_UNAVAILABLE)    steps/rank.ts
 *   6. stages    re-rank by phase: score → arrange → explore                            steps/stages.ts
 *   7. fill      popular videos top up a short session, through 4 and 6                steps/fill.ts
 *   8. page      slice the session, live re-check, mark served, cursor, impressions      steps/page.ts
 *
 * Steps 1–6 run once per session (its first page); later pages go from the cached session to 7 and 8.
 */
export interface FeedServiceOptions {
  /** Sources, filters and stages with every step's settings (pipeline-definition.ts). */
  definition: PipelineDefinition;
  /** Catalog, stores and models the pipeline reads. */
  runtime: FeedRuntime;
  /**
   * Overrides of the definition's settings (each defaults to the definition's, which buildPipeline takes from
   * config): score blend (rank.blend), candidates ranked per session, ranker and state budgets, session cache,
   * cursor lifetime, merge constant, rewatch surfaces. Prefer setting them in the definition
   * (definePipeline's `settings`): then `describePipeline` prints what runs.
   */
  blend?: BlendConfig;
  candidatesToRank?: number;
  sessionTtlMs?: number;
  maxSessions?: number;
  cursorTtlMs?: number;
  rankerTimeoutMs?: number;
  stateTimeoutMs?: number;
  rrfK?: number;
  rewatchSurfaces?: readonly Surface[];
  /**
   * Load shedding (config pipeline.overload; overload.ts): limits over the definition's, and the event-loop lag probe.
   * @default the definition's limits (none without config), no lag probe
   */
  overload?: { maxConcurrentRankings?: number; maxEventLoopLagMs?: number; eventLoopLag?: () => number };
  /** Called with every served page and its query (impression logging). Not awaited; errors go to `onError`. */
  onServed?: (page: FeedPage, query: FeedQuery) => void | Promise<void>;
  /** Where non-fatal errors go (a failing onServed hook, markServed, a throwing stage). @default a console.warn line */
  onError?: (error: unknown, where: string) => void;
  /** @default Date.now */
  clock?: () => number;
}

export interface PipelineFeedService extends FeedService {
  stats(): PipelineStats;
  /** The funnel as this service runs it (settings overrides applied): `describePipeline(service.definition)`. */
  readonly definition: PipelineDefinition;
}

export function createFeedService(options: FeedServiceOptions): PipelineFeedService {
  const {
    runtime,
    overload = {},
    onServed,
    onError = (error, where) => console.warn(`reelfeed: ${where}: ${error instanceof Error ? error.message : String(error)}`),
    clock = Date.now,
  } = options;
  const definition = withSettings(options.definition, {
    hydrate: { stateTimeoutMs: options.stateTimeoutMs, rewatchSurfaces: options.rewatchSurfaces },
    merge: { rrfK: options.rrfK },
    rank: { candidatesToRank: options.candidatesToRank, timeoutMs: options.rankerTimeoutMs, blend: options.blend },
    page: { sessionTtlMs: options.sessionTtlMs, maxSessions: options.maxSessions, cursorTtlMs: options.cursorTtlMs },
    overload: { maxConcurrentRankings: overload.maxConcurrentRankings, maxEventLoopLagMs: overload.maxEventLoopLagMs },
  });
  const stats = createStats(definition);
  const env: FunnelEnv = { runtime, definition, stats, onError, clock };
  const sessions = createSessionStore({ ...definition.page, clock });
  const gate = createOverloadGate({ ...definition.overload, eventLoopLag: overload.eventLoopLag });
  const page = createPageStep(env, { onServed });
  /** A session's item list, with a column per head of the served ranker. */
  const emptyItems = (): SessionItems => new SessionItems(runtime.models.ranker?.heads ?? []);

  /** Steps 2–6 for a hydrated query: the session's ranked list. */
  async function rankSession(query: FeedQuery, id: string, base: number, run: RequestRun): Promise<Session> {
    stats.sessionsRanked++;
    const outputs = await runSources(query, env, run); // 2
    const t0 = performance.now();
    const merged = mergeScores(outputs, { rrfK: definition.merge.rrfK }); // 3
    // The merge's trace is completed once its videos are read (lazily, by the filter step).
    const mergeTrace: StageTrace = { stage: "Merge", latencyMs: performance.now() - t0, input: outputs.reduce((n, o) => n + o.candidates.length, 0), output: merged.length };
    run.tracer.stage(mergeTrace);
    run.tracer.candidates(merged);
    const filtered = filterBest(definition.filters, query, merged, definition.rank.candidatesToRank, env, run); // 4
    mergeTrace.latencyMs += filtered.resolveMs;
    if (filtered.unknown > 0) {
      mergeTrace.output -= filtered.unknown;
      mergeTrace.removed = { unknown_video: filtered.unknown };
    }
    if (run.tracer.enabled) run.tracer.removed("Rank", filtered.unexamined.map((candidate) => ({ candidate, reason: "beyond_candidates_to_rank" })));
    const { scored, videoStats } = await rank(query, filtered.kept, env, run); // 5
    const items = emptyItems();
    items.append(runStages(query, scored, { runtime, servedEarlier: [], sessionId: id, videoStats }, env, run)); // 6
    return { id, userId: query.userId, query, items, base };
  }

  /** Step 1, then 2–6 — or, past the overload limits, an empty session that the fill (7) serves, saying OVERLOADED. */
  async function newSession(request: FeedRequest, id: string, base: number, run: RequestRun): Promise<Session> {
    const overloaded = gate.reason();
    if (overloaded) {
      run.fallback("OVERLOADED", "pipeline", `${overloaded}: served popular videos instead of queueing`);
      const query = await hydrate(request, env, run);
      return { id, userId: query.userId, query, items: emptyItems(), base, overloaded: true };
    }
    return gate.hold(async () => rankSession(await hydrate(request, env, run), id, base, run));
  }

  async function feed(request: FeedRequest): Promise<FeedPage> {
    const startedAt = performance.now();
    stats.requests++;
    if (typeof request.userId !== "string" || request.userId.length === 0) throw badInput("userId", "must be a non-empty string");
    if (!Number.isInteger(request.first) || request.first < 1) throw badInput("first", "must be a positive integer");
    if (request.seedVideoId !== undefined && !runtime.catalog.video(request.seedVideoId)) throw badInput("seedVideoId", `unknown video "${request.seedVideoId}"`);
    const requestId = randomBytes(6).toString("base64url");
    const run = new RequestRun(createTracer(request.debug), stats);
    const now = clock();
    const { session, offset } = await sessions.open(request, now, (id, base) => newSession(request, id, base, run)); // 1–6, or the cached session
    // One page ahead, so hasNextPage is true only when a next page really has items.
    const want = offset - session.base + 2 * request.first - session.items.length;
    if (want > 0) await fill(session, want, env, run); // 7
    return page({ request, session, offset, requestId, now, startedAt }, run); // 8
  }

  return {
    feed,
    ...createLookups(env),
    stats: () => ({ ...stats, sessionsCached: sessions.size }),
    definition,
  };
}
