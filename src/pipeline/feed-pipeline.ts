import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Surface, Video } from "../data/types";
import { badInput, ReelfeedError } from "../errors";
import type { VideoAggregates } from "../features/aggregates";
import { safetyFilters } from "../filters";
import { blendScore, DEFAULT_BLEND, validateBlend, type BlendConfig } from "../ranking/blend";
import { affinityFeatures } from "../features/item-neighbours";
import type { PipelineStageContext } from "../rerank/stage-context";
import { fetchPopular } from "../sources/popular";
import { EMPTY_SEEN, servedOnly, withSeen } from "../stores/seen-set";
import type { UserRelations } from "../stores/state-store";
import type { VectorIndex } from "../stores/vector-index";
import { fnv1a } from "../util/random";
import { decodeCursor, encodeCursor } from "./cursor";
import { FALLBACK_KINDS, type Fallback, type FallbackKind, type FeedItem, type FeedPage, type FeedRequest, type FeedService } from "./feed-page";
import { byCodeUnits, mergeCandidates, type SourceOutput } from "./merge";
import type { PipelineDefinition, SourceStep } from "./pipeline-definition";
import { createSessionCache } from "./session-cache";
import { SessionItems, type SessionItem } from "./session-items";
import { TimeoutError, withTimeout } from "./timeout";
import { countReasons, createTracer, type Tracer } from "./trace";
import { toScored, type Candidate, type CandidateFilter, type FeedQuery, type FeedRuntime, type MergedCandidate, type ScoredCandidate } from "./types";

/**
 * The feed pipeline. One request runs, in this order:
 *
 * 1. Hydrate the query: profile from the catalog; aggregates, relations and the seen set from the state store, in
 *    parallel (three independent reads). A state store that fails or passes its budget does not fail the feed:
 *    it is served with empty state and says STATE_UNAVAILABLE.
 *    Overload: when `maxConcurrentRankings` sessions are already being ranked (steps 2–6), or the event loop runs
 *    late, the request skips to step 7 and is answered with popular videos, saying OVERLOADED; such a session is
 *    not cached, so its next page is ranked (without repeats) once there is room. Past saturation, queueing would
 *    make every request slower.
 * 2. Candidate sources, all in parallel, each under its own AbortController timeout and quota. A source that
 *    throws or hangs is dropped for this request (SOURCE_FAILED / SOURCE_TIMEOUT, counted) unless it is
 *    fail-closed. Parallel because the slowest source, not the sum, sets the latency.
 * 3. Merge: dedupe across sources, keep every attribution, weighted reciprocal-rank source score (merge.ts).
 * 4. Filters, cheapest first (filters/index.ts): hard rules run before the ranker so it never spends time on a
 *    video that cannot be served.
 * 5. Rank the best `candidatesToRank` by source score with the ranker model (its heads), then blend the heads
 *    into one score (ranking/blend.ts). No ranker, or a failing one: RANKER_UNAVAILABLE, ordered by source score.
 * 6. Re-rank stages in the definition's order (score → arrange → explore): business rules on the ranked list,
 *    after ranking because caps and exploration need the final scores to know what they displace.
 * 7. Popularity fill: when fewer remain than the page needs, popular videos top it up. They pass the same filters
 *    and stages (a popular video is not exempt from "not interested").
 * 8. Page: the first request ranks a whole session, kept in an in-process LRU; later pages (cursor) slice it, so
 *    they never repeat an item and the diversity windows run across page boundaries. Every served page is
 *    recorded (state.markServed), gets per-item tracking ids `<sessionId>.<position>`, and goes to `onServed`.
 */
export interface FeedServiceOptions {
  /** Catalog, stores and models the pipeline reads. */
  runtime: FeedRuntime;
  /** Sources, filters and stages with their settings (pipeline-definition.ts). */
  definition: PipelineDefinition;
  /** Score blend (config.ranking.blend). @default DEFAULT_BLEND (blend-v2) */
  blend?: BlendConfig;
  /** Candidates scored by the ranker per session (the rest are cut by source score). @default 500 */
  candidatesToRank?: number;
  /** A ranked session is kept this long after its last page request. @default 900000 (15 min) */
  sessionTtlMs?: number;
  /** Most sessions kept in memory (least recently used evicted). @default 10000 */
  maxSessions?: number;
  /** A cursor older than this is rejected as expired (BAD_USER_INPUT "after"). @default 86400000 (24 h) */
  cursorTtlMs?: number;
  /**
   * Load shedding (config pipeline.overload). A request that would start ranking a session while
   * `maxConcurrentRankings` are in flight, or while the event loop runs `maxEventLoopLagMs` late (`eventLoopLag`),
   * is served the popularity page at once (fallback OVERLOADED) instead of joining the queue: past saturation every
   * extra ranking only makes all of them slower (seconds, then source and ranker timeouts that still cost the CPU).
   * @default no limit
   */
  overload?: { maxConcurrentRankings?: number; maxEventLoopLagMs?: number; eventLoopLag?: () => number };
  /** Ranker time budget per request (config ranking.timeoutMs). @default 100 */
  rankerTimeoutMs?: number;
  /** State-store time budget per read. @default 50 */
  stateTimeoutMs?: number;
  /** Reciprocal-rank fusion constant of the merge. @default 60 */
  rrfK?: number;
  /**
   * Surfaces where a past watch may come back (config pipeline.rewatchSurfaces): their query's seen set is only the
   * recently served videos, so sources propose and the seen filter passes what the user watched before. Elsewhere
   * nothing watched is served again, however long ago. @default [] (none)
   */
  rewatchSurfaces?: readonly Surface[];
  /** Called with every served page and its query (impression logging). Not awaited; errors go to `onError`. */
  onServed?: (page: FeedPage, query: FeedQuery) => void | Promise<void>;
  /** Where non-fatal errors go (a failing onServed hook, markServed). @default a console.warn line */
  onError?: (error: unknown, where: string) => void;
  /** @default Date.now */
  clock?: () => number;
}

export interface PipelineStats {
  requests: number;
  sessionsRanked: number;
  sessionsCached: number;
  /** Per source: requests where it threw / passed its budget. */
  sources: Record<string, { failed: number; timedOut: number }>;
  fallbacks: Record<FallbackKind, number>;
}

export interface PipelineFeedService extends FeedService {
  stats(): PipelineStats;
}

interface Session {
  id: string;
  userId: string;
  /** The query the session was ranked for; continuation fills reuse it. */
  query: FeedQuery;
  /** Ranked list; items[i] sits at absolute position base + i. */
  items: SessionItems;
  base: number;
  /** Served by the overload path (popular videos): not cached, so its next page is ranked once load allows. */
  overloaded?: boolean;
}

/** Filters a catalogue edit or takedown can change the verdict of (filters/index.ts names). */
const VIDEO_RULES: ReadonlySet<string> = new Set(["Removed", "PolicyFlagged", "AgeRestricted", "RegionBlocked"]);

const EMPTY_RELATIONS: UserRelations = { notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] };

/** A short, stable tag of the user a cursor was issued to: a cursor is not transferable between users. */
function userTag(userId: string): string {
  return fnv1a(userId).toString(36);
}

export function createFeedService(options: FeedServiceOptions): PipelineFeedService {
  const {
    runtime,
    definition,
    blend = DEFAULT_BLEND,
    candidatesToRank = 500,
    sessionTtlMs = 15 * 60_000,
    maxSessions = 10_000,
    cursorTtlMs = 24 * 3_600_000,
    overload = {},
    rankerTimeoutMs = 100,
    stateTimeoutMs = 50,
    rrfK = 60,
    rewatchSurfaces = [],
    onServed,
    onError = (error, where) => console.warn(`reelfeed: ${where}: ${error instanceof Error ? error.message : String(error)}`),
    clock = Date.now,
  } = options;
  validateBlend(blend);
  if (!Number.isInteger(candidatesToRank) || candidatesToRank < 1) {
    throw new ReelfeedError("BAD_CONFIG", "config ranking.candidatesToRank: expected a positive integer", { key: "ranking.candidatesToRank" });
  }
  const rewatch = new Set<Surface>(rewatchSurfaces);
  const sessions = createSessionCache<Session>({ ttlMs: sessionTtlMs, maxEntries: maxSessions, clock });
  const enabledSources = definition.sources.filter((s) => s.enabled);
  const enabledStages = definition.stages.filter((s) => s.enabled);
  const stats: PipelineStats = {
    requests: 0,
    sessionsRanked: 0,
    sessionsCached: 0,
    sources: Object.fromEntries(definition.sources.map((s) => [s.name, { failed: 0, timedOut: 0 }])),
    fallbacks: Object.fromEntries(FALLBACK_KINDS.map((kind) => [kind, 0])) as Record<FallbackKind, number>,
  };
  const { maxConcurrentRankings = Infinity, maxEventLoopLagMs = Infinity, eventLoopLag } = overload;
  if (!(maxConcurrentRankings >= 1)) {
    throw new ReelfeedError("BAD_CONFIG", "config pipeline.overload.maxConcurrentRankings: expected a positive integer", { key: "pipeline.overload.maxConcurrentRankings" });
  }
  if (!(maxEventLoopLagMs > 0)) {
    throw new ReelfeedError("BAD_CONFIG", "config pipeline.overload.maxEventLoopLagMs: expected a positive number", { key: "pipeline.overload.maxEventLoopLagMs" });
  }
  /** A session's item list, with a column per head of the served ranker. */
  const emptyItems = (): SessionItems => new SessionItems(runtime.models.ranker?.heads ?? []);
  /** Sessions being ranked right now (steps 1–6 in flight). */
  let ranking = 0;
  /** Why a new ranking should not start now, or undefined. */
  const overloadReason = (): string | undefined => {
    if (ranking >= maxConcurrentRankings) return `${ranking} sessions were being ranked (limit ${maxConcurrentRankings})`;
    const lag = eventLoopLag?.() ?? 0;
    if (lag > maxEventLoopLagMs) return `the event loop ran ${Math.round(lag)} ms late (limit ${maxEventLoopLagMs} ms)`;
    return undefined;
  };

  /** Per-request state threaded through the steps. */
  interface Run {
    fallbacks: Fallback[];
    tracer: Tracer;
  }
  const fallback = (run: Run, kind: FallbackKind, component: string, message: string): void => {
    run.fallbacks.push({ kind, component, message });
    stats.fallbacks[kind]++;
  };
  const timed = async <T>(run: Run, stage: string, fn: () => Promise<T> | T, counts?: (r: T) => Omit<Parameters<Tracer["stage"]>[0], "stage" | "latencyMs">): Promise<T> => {
    const t0 = performance.now();
    const result = await fn();
    if (run.tracer.enabled) run.tracer.stage({ stage, latencyMs: performance.now() - t0, ...(counts ? counts(result) : { input: 0, output: 0 }) });
    return result;
  };

  // 1. Hydrate ---------------------------------------------------------------------------------------------------
  async function hydrate(request: FeedRequest, run: Run): Promise<FeedQuery> {
    const { userId } = request;
    const user = runtime.catalog.user(userId);
    const reads = await timed(run, "Hydrate", () =>
      Promise.allSettled([
        withTimeout("state.getUser", stateTimeoutMs, () => runtime.state.getUser(userId)),
        withTimeout("state.getRelations", stateTimeoutMs, () => runtime.state.getRelations(userId)),
        withTimeout("state.getSeen", stateTimeoutMs, () => runtime.state.getSeen(userId)),
      ]),
    );
    const [agg, relations, seen] = reads;
    const failed = reads.flatMap((r) => (r.status === "rejected" ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    if (failed.length) fallback(run, "STATE_UNAVAILABLE", "state", `served with empty real-time state: ${failed.join("; ")}`);
    const ctx = request.context;
    return {
      userId,
      user,
      surface: request.surface,
      context: {
        device: ctx.device ?? user?.device ?? "unknown",
        country: (ctx.country ?? user?.country)?.toUpperCase(),
        language: (ctx.language ?? user?.language)?.toLowerCase(),
        now: ctx.now ?? clock(),
        sessionVideoIds: ctx.sessionVideoIds ?? [],
      },
      seedVideoId: request.seedVideoId,
      userAgg: agg.status === "fulfilled" ? agg.value : undefined,
      relations: relations.status === "fulfilled" ? relations.value : EMPTY_RELATIONS,
      seen: seen.status !== "fulfilled" ? EMPTY_SEEN : rewatch.has(request.surface) ? servedOnly(seen.value) : seen.value,
      pageSize: request.first,
    };
  }

  // 2. Sources ---------------------------------------------------------------------------------------------------
  async function runSource(step: SourceStep, query: FeedQuery, run: Run): Promise<SourceOutput | undefined> {
    const t0 = performance.now();
    try {
      const out = await withTimeout(`source ${step.name}`, step.timeoutMs, (signal) =>
        step.source.fetch(query, { runtime, signal, limit: step.quota, options: step.options }),
      );
      if (!Array.isArray(out)) throw new Error("fetch did not return an array");
      // A plugin's malformed candidate is dropped, not allowed to poison the merge with NaN.
      const candidates = (out as Candidate[]).filter((c) => typeof c?.videoId === "string" && Number.isFinite(c.score)).slice(0, step.quota);
      run.tracer.stage({ stage: `source:${step.name}`, latencyMs: performance.now() - t0, input: out.length, output: candidates.length });
      return { source: step.name, weight: step.weight, candidates };
    } catch (err) {
      const timedOut = err instanceof TimeoutError;
      const message = err instanceof Error ? err.message : String(err);
      run.tracer.stage({ stage: `source:${step.name}`, latencyMs: performance.now() - t0, input: 0, output: 0, error: message });
      if (!step.failOpen) throw new ReelfeedError("UNAVAILABLE", `source ${step.name} is fail-closed and failed: ${message}`, { source: step.name });
      stats.sources[step.name][timedOut ? "timedOut" : "failed"]++;
      fallback(run, timedOut ? "SOURCE_TIMEOUT" : "SOURCE_FAILED", step.name, message);
      return undefined;
    }
  }

  // 4. Filters ---------------------------------------------------------------------------------------------------
  function runFilters(filters: readonly CandidateFilter[], query: FeedQuery, candidates: MergedCandidate[], run: Run, label = "filter"): MergedCandidate[] {
    let current = candidates;
    for (const filter of filters) {
      const t0 = performance.now();
      const { kept, removed } = filter.apply(query, current, runtime);
      if (run.tracer.enabled) {
        run.tracer.removed(`${label}:${filter.name}`, removed);
        run.tracer.stage({ stage: `${label}:${filter.name}`, latencyMs: performance.now() - t0, input: current.length, output: kept.length, removed: countReasons(removed) });
      }
      current = kept;
    }
    return current;
  }

  // 5. Rank + blend ----------------------------------------------------------------------------------------------
  async function rank(query: FeedQuery, candidates: MergedCandidate[], run: Run): Promise<{ scored: ScoredCandidate[]; videoStats?: Map<string, VideoAggregates> }> {
    const top = candidates.slice(0, candidatesToRank);
    // Trace work only when traced: the removal list is as long as the candidate list.
    if (run.tracer.enabled) run.tracer.removed("Rank", candidates.slice(candidatesToRank).map((candidate) => ({ candidate, reason: "beyond_candidates_to_rank" })));
    if (top.length === 0) return { scored: [] };
    const ids = top.map((c) => c.videoId);
    const t0 = performance.now();
    const ranker = runtime.models.ranker;
    // Video aggregates are read once, for both the ranker's features and the guardrails. Without them the ranker
    // still scores (as for videos nobody has watched yet) rather than falling back to source order.
    const videoStats = await withTimeout("state.getVideos", stateTimeoutMs, () => runtime.state.getVideos(ids)).catch((err: unknown) => {
      fallback(run, "STATE_UNAVAILABLE", "state", `video aggregates unavailable to the ranker and guardrails: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    });
    const heads = ranker
      ? await withTimeout("ranker", rankerTimeoutMs, (signal) => ranker.score(query, top.map((c) => c.video), signal, videoStats ?? new Map()))
          .then((out) => {
            // The contract says "in input order, same length": a ranker breaking it is a failing ranker.
            for (const head of ranker.heads) {
              if (!(out?.[head] instanceof Float32Array) || out[head].length !== top.length) throw new Error(`ranker head "${head}" missing or of the wrong length`);
            }
            return out;
          })
          .catch((err: unknown) => {
            fallback(run, "RANKER_UNAVAILABLE", "ranker", `ordered by source score: ${err instanceof Error ? err.message : String(err)}`);
            return undefined;
          })
      : (fallback(run, "RANKER_UNAVAILABLE", "ranker", "no ranker model in the bundle: ordered by source score"), undefined);
    const headNames = heads && ranker ? ranker.heads : [];
    const neighbours = runtime.models.neighbours;
    const recent = query.userAgg?.recent;
    const scored = new Array<ScoredCandidate>(top.length);
    for (let i = 0; i < top.length; i++) {
      const c = top[i];
      const h: Record<string, number> = {};
      for (const head of headNames) h[head] = heads![head][i];
      // The user's affinity is computed once per request (memoised) and shared with the Neighbours source.
      const affinity = heads && neighbours ? affinityFeatures(neighbours, recent, c.videoId)[0] : 0;
      scored[i] = toScored(c, h, heads ? blendScore(h, blend, affinity) : c.sourceScore, c.sources[0].reason);
    }
    scored.sort((a, b) => b.score - a.score || b.sourceScore - a.sourceScore || byCodeUnits(a.videoId, b.videoId));
    if (run.tracer.enabled) scored.forEach((c, i) => run.tracer.scored(c.videoId, c.heads, c.score, i));
    const model = heads && ranker ? `${ranker.version}, ${blend.version}` : "source score";
    run.tracer.stage({ stage: `Rank (${model})`, latencyMs: performance.now() - t0, input: candidates.length, output: scored.length });
    return { scored, videoStats };
  }

  // 6. Re-rank stages --------------------------------------------------------------------------------------------
  function runStages(query: FeedQuery, ranked: ScoredCandidate[], ctx: Omit<PipelineStageContext, "options">, run: Run, label = "rerank"): ScoredCandidate[] {
    let current = ranked;
    for (const step of enabledStages) {
      const t0 = performance.now();
      try {
        const { kept, removed } = step.stage.apply(query, current, { ...ctx, options: step.options });
        if (run.tracer.enabled) {
          run.tracer.removed(`${label}:${step.name}`, removed);
          run.tracer.stage({ stage: `${label}:${step.name}`, latencyMs: performance.now() - t0, input: current.length, output: kept.length, removed: countReasons(removed) });
        }
        current = kept;
      } catch (err) {
        // A broken business rule must not take the feed down: the stage is skipped for this request and says why.
        const message = err instanceof Error ? err.message : String(err);
        run.tracer.stage({ stage: `${label}:${step.name}`, latencyMs: performance.now() - t0, input: current.length, output: current.length, error: message });
        onError(err, `stage ${step.name}`);
      }
    }
    return current;
  }

  /**
   * Steps 1–6 for a new (or expired) session — or, past the overload limits, an empty session that the popularity
   * fill (step 7) serves, saying OVERLOADED.
   */
  async function newSession(request: FeedRequest, id: string, base: number, run: Run): Promise<Session> {
    const overloaded = overloadReason();
    if (overloaded) {
      fallback(run, "OVERLOADED", "pipeline", `${overloaded}: served popular videos instead of queueing`);
      const query = await hydrate(request, run);
      return { id, userId: query.userId, query, items: emptyItems(), base, overloaded: true };
    }
    // The slot is taken before the first await, so concurrent requests see it at once.
    ranking++;
    try {
      return await rankSession(await hydrate(request, run), id, base, run);
    } finally {
      ranking--;
    }
  }

  async function rankSession(query: FeedQuery, id: string, base: number, run: Run): Promise<Session> {
    stats.sessionsRanked++;
    const outputs = (await Promise.all(enabledSources.map((step) => runSource(step, query, run)))).filter((o): o is SourceOutput => !!o);
    const { merged } = await timed(
      run,
      "Merge",
      () => mergeCandidates(outputs, runtime.catalog, { rrfK }),
      (r) => ({ input: outputs.reduce((n, o) => n + o.candidates.length, 0), output: r.merged.length, removed: r.unknown ? { unknown_video: r.unknown } : undefined }),
    );
    run.tracer.candidates(merged);
    const filtered = runFilters(definition.filters, query, merged, run);
    const { scored, videoStats } = await rank(query, filtered, run);
    const items = emptyItems();
    items.append(runStages(query, scored, { runtime, servedEarlier: [], sessionId: id, videoStats }, run));
    return { id, userId: query.userId, query, items, base };
  }

  // 7. Popularity fill -------------------------------------------------------------------------------------------
  async function fill(session: Session, want: number, run: Run): Promise<void> {
    const t0 = performance.now();
    const query = session.query;
    const exclude = withSeen(query.seen, Array.from(session.items.videos, (v) => v.id));
    let limit = want * 4 + 50;
    let kept: MergedCandidate[] = [];
    const raw = new Map<string, number>();
    for (let attempt = 0; attempt < 2; attempt++) {
      let popular: Candidate[];
      try {
        popular = await withTimeout("popularity", stateTimeoutMs * 2, () => fetchPopular(runtime, { country: query.context.country, limit, now: query.context.now, exclude }));
      } catch (err) {
        // The store is down: the catalog alone still answers.
        fallback(run, "STATE_UNAVAILABLE", "state", `trending unavailable, popularity from the catalog: ${err instanceof Error ? err.message : String(err)}`);
        popular = catalogPopular(limit, query.context.now, exclude);
      }
      for (const c of popular) raw.set(c.videoId, c.score);
      const { merged } = mergeCandidates([{ source: "Popularity", weight: 1, candidates: popular }], runtime.catalog, { rrfK });
      run.tracer.candidates(merged);
      kept = runFilters(definition.filters, query, merged, run, "fill");
      if (kept.length >= want || popular.length < limit) break;
      limit *= 8;
    }
    // Below every ranked item, so the fill never jumps ahead of what the ranker chose; proportional to the
    // popularity itself (not its rank), so a video watched twice as much stays ahead of a freshness nudge.
    const floor = session.items.minScore();
    const maxRaw = Math.max(...kept.map((c) => raw.get(c.videoId) ?? 0), Number.MIN_VALUE);
    const scored = kept.map((c) => toScored(c, {}, (floor * (raw.get(c.videoId) ?? 0)) / maxRaw / 2, c.sources[0].reason));
    // Everything before the fill was served or will be, first: the caps' windows run on across the seam.
    const servedEarlier = session.items.videos;
    const staged = runStages(query, scored, { runtime, servedEarlier, sessionId: `${session.id}:${session.items.length}` }, run, "fill");
    const added = staged.slice(0, want);
    session.items.append(added);
    run.tracer.stage({ stage: "PopularityFill", latencyMs: performance.now() - t0, input: kept.length, output: added.length });
    if (added.length) fallback(run, "POPULARITY", "Popularity", `${added.length} popular videos filled a short candidate list`);
  }

  function catalogPopular(limit: number, now: number, exclude: { has(videoId: string): boolean }): Candidate[] {
    const out: Candidate[] = [];
    for (const v of runtime.catalog.newest()) {
      if (out.length >= limit) break;
      if (v.uploadedAt <= now && !exclude.has(v.id)) out.push({ videoId: v.id, score: 1 / (1 + out.length), reason: { code: "POPULAR", params: {} } });
    }
    return out;
  }

  // 8. Page ------------------------------------------------------------------------------------------------------
  /** The hard rules on the video alone (not on the user's history): what a catalogue edit can change. */
  const videoRules = definition.filters.filter((f) => VIDEO_RULES.has(f.name));
  /** The video as it is now when it may still be served from a ranked session, or undefined. */
  function stillServable(c: SessionItem, query: FeedQuery): Video | undefined {
    const current = runtime.catalog.video(c.video.id);
    if (!current || current === c.video) return current;
    const now: MergedCandidate = { videoId: current.id, video: current, sources: [], sourceScore: 0 };
    return videoRules.every((f) => f.apply(query, [now], runtime).kept.length === 1) ? current : undefined;
  }

  async function feed(request: FeedRequest): Promise<FeedPage> {
    const t0 = performance.now();
    stats.requests++;
    if (typeof request.userId !== "string" || request.userId.length === 0) throw badInput("userId", "must be a non-empty string");
    if (!Number.isInteger(request.first) || request.first < 1) throw badInput("first", "must be a positive integer");
    if (request.seedVideoId !== undefined && !runtime.catalog.video(request.seedVideoId)) throw badInput("seedVideoId", `unknown video "${request.seedVideoId}"`);
    const requestId = randomBytes(6).toString("base64url");
    const run: Run = { fallbacks: [], tracer: createTracer(request.debug) };
    const now = clock();

    let session: Session | undefined;
    let offset = 0;
    if (request.after !== undefined) {
      const cursor = decodeCursor(request.after, now, cursorTtlMs);
      if (cursor.userTag !== userTag(request.userId)) throw badInput("after", "cursor was issued for another user");
      offset = cursor.offset;
      session = sessions.get(cursor.sessionId);
      if (session) {
        if (offset < session.base || offset > session.base + session.items.length) throw badInput("after", "cursor offset lies outside its session");
      } else {
        // Evicted or idle past its TTL: rank again from where the user got to. What was served is in the state
        // store's seen set (markServed), so the new ranking cannot repeat it.
        session = await newSession(request, cursor.sessionId, offset, run);
        if (!session.overloaded) sessions.set(session.id, session);
      }
    } else {
      session = await newSession(request, randomBytes(9).toString("base64url"), 0, run);
      if (!session.overloaded) sessions.set(session.id, session);
    }

    const start = offset - session.base;
    // One page ahead, so hasNextPage is true only when a next page really has items.
    const want = start + 2 * request.first - session.items.length;
    if (want > 0) await fill(session, want, run);
    const ranked = session.items.slice(start, start + request.first);
    // Catalogue changes since the session was ranked (the live catalogue): a video taken down, or edited into a
    // policy flag, an age or a region restriction, is checked again by the same video rules before a cached page
    // serves it, and an edit is served as it is now. Positions stay those of the session, so the cursor and
    // tracking ids do not shift.
    const live = ranked.flatMap((c, i) => {
      const current = stillServable(c, session.query);
      return current ? [{ c: current === c.video ? c : { ...c, video: current }, position: offset + i }] : [];
    });
    const items: FeedItem[] = live.map(({ c, position }) => ({ ...c, trackingId: `${session.id}.${position}`, position }));
    live.forEach(({ c, position }) => run.tracer.final(c.video.id, position, c.score));
    const next = offset + ranked.length;
    const hasNextPage = session.items.length > start + ranked.length;

    const query = session.query;
    try {
      await withTimeout("state.markServed", stateTimeoutMs, () => runtime.state.markServed(request.userId, items.map((it) => it.video.id), query.context.now));
    } catch (err) {
      fallback(run, "STATE_UNAVAILABLE", "state", `served items not recorded: ${err instanceof Error ? err.message : String(err)}`);
      onError(err, "markServed");
    }
    const page: FeedPage = {
      items,
      endCursor: hasNextPage ? encodeCursor({ sessionId: session.id, offset: next, issuedAt: now, userTag: userTag(request.userId) }) : undefined,
      hasNextPage,
      modelVersion: runtime.modelVersion,
      fallbacks: run.fallbacks,
    };
    run.tracer.stage({ stage: "Page", latencyMs: 0, input: session.items.length - start, output: items.length });
    page.trace = run.tracer.build(requestId, runtime.modelVersion, performance.now() - t0);
    if (onServed) {
      try {
        void Promise.resolve(onServed(page, query)).catch((err: unknown) => onError(err, "onServed"));
      } catch (err) {
        onError(err, "onServed");
      }
    }
    return page;
  }

  // similarVideos / trending -------------------------------------------------------------------------------------
  const anonymous = (now: number, country?: string): FeedQuery => ({
    userId: "",
    surface: "unknown",
    context: { device: "unknown", country: country?.toUpperCase(), now, sessionVideoIds: [] },
    relations: EMPTY_RELATIONS,
    seen: EMPTY_SEEN,
    pageSize: 0,
  });
  const noTrace = (): Run => ({ fallbacks: [], tracer: createTracer(false) });

  async function similarVideos(videoId: string, first: number): Promise<Array<{ video: Video; score: number }>> {
    if (!Number.isInteger(first) || first < 1) throw badInput("first", "must be a positive integer");
    const seed = runtime.catalog.video(videoId);
    // A taken-down video is gone for every caller (it stays in the catalog only so filters and sessions see the flag).
    if (!seed || seed.policyFlags?.includes("removed")) throw new ReelfeedError("NOT_FOUND", `videoId: unknown video "${videoId}"`, { argument: "videoId" });
    const exclude = new Set([videoId]);
    const neighbours = async (source: string, index: VectorIndex | undefined): Promise<SourceOutput | undefined> => {
      if (!index) return undefined;
      const vector = await index.get(videoId);
      if (!vector) return undefined;
      const hits = await index.search(vector, first * 2, { excludeIds: exclude });
      return { source, weight: 1, candidates: hits.map((h) => ({ videoId: h.id, score: h.score, reason: { code: "SIMILAR_TO", params: { videoId } } })) };
    };
    const outputs = (await Promise.all([neighbours("Content", runtime.vectors.content), neighbours("TwoTower", runtime.vectors.twoTower)])).filter(
      (o): o is SourceOutput => !!o,
    );
    if (outputs.length === 0) {
      // No embedding for this video (a fresh upload): the same creator's, then the same category's newest.
      const sameCreator = runtime.catalog.videosByCreator(seed.creatorId).filter((v) => v.id !== videoId);
      const sameCategory = runtime.catalog.newest().filter((v) => v.category === seed.category && v.id !== videoId && v.creatorId !== seed.creatorId);
      const list = [...sameCreator, ...sameCategory].slice(0, first * 2);
      outputs.push({ source: "Catalog", weight: 1, candidates: list.map((v, i) => ({ videoId: v.id, score: 1 / (1 + i), reason: { code: "SIMILAR_TO", params: { videoId } } })) });
    }
    const { merged } = mergeCandidates(outputs, runtime.catalog, { rrfK });
    const safe = runFilters(safetyFilters(), anonymous(clock()), merged, noTrace());
    return safe.slice(0, first).map((c) => ({ video: c.video, score: c.sourceScore }));
  }

  async function trending(country: string | undefined, first: number): Promise<Array<{ video: Video; score: number }>> {
    if (!Number.isInteger(first) || first < 1) throw badInput("first", "must be a positive integer");
    if (country !== undefined && !/^[A-Za-z]{2}$/.test(country)) throw badInput("country", "expected an ISO 3166-1 alpha-2 code");
    const now = clock();
    const popular = await fetchPopular(runtime, { country: country?.toUpperCase(), limit: first * 2, now });
    const merged = popular.flatMap((c): MergedCandidate[] => {
      const video = runtime.catalog.video(c.videoId);
      return video ? [{ videoId: c.videoId, video, sources: [{ source: "Trending", score: c.score, reason: c.reason }], sourceScore: c.score }] : [];
    });
    const safe = runFilters(safetyFilters(), anonymous(now, country), merged, noTrace());
    return safe.slice(0, first).map((c) => ({ video: c.video, score: c.sourceScore }));
  }

  return {
    feed,
    similarVideos,
    trending,
    stats: () => ({ ...stats, sessionsCached: sessions.size }),
  };
}
