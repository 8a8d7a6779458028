import { performance } from "node:perf_hooks";
import type { VideoAggregates } from "../../features/aggregates";
import { userAffinity, writeAffinityFeatures } from "../../features/item-neighbours";
import { blendScore } from "../../ranking/blend";
import type { FunnelEnv, RequestRun } from "../request-run";
import { withTimeout } from "../timeout";
import { toScored, type FeedQuery, type MergedCandidate, type ScoredCandidate } from "../types";
import { byCodeUnits } from "./merge";

export interface RankResult {
  /** Best first. */
  scored: ScoredCandidate[];
  /** The ranked videos' real-time aggregates, read once here and shared with the stages (guardrails). */
  videoStats?: Map<string, VideoAggregates>;
}

/**
 * Step 5, rank: the best `candidatesToRank` by source score go through the ranker model (its heads), whose heads are
 * blended into one score (ranking/blend.ts); the rest are cut. No ranker, or a failing one: RANKER_UNAVAILABLE, and
 * the list is ordered by source score. Video aggregates are read once, for both the ranker's features and the
 * guardrails; without them the ranker still scores (as for videos nobody has watched yet).
 */
export async function rank(query: FeedQuery, candidates: MergedCandidate[], env: FunnelEnv, run: RequestRun): Promise<RankResult> {
  const { runtime, definition } = env;
  const { candidatesToRank, timeoutMs, blend } = definition.rank;
  const stateTimeoutMs = definition.hydrate.stateTimeoutMs;
  const top = candidates.slice(0, candidatesToRank);
  // Trace work only when traced: the removal list is as long as the candidate list.
  if (run.tracer.enabled) run.tracer.removed("Rank", candidates.slice(candidatesToRank).map((candidate) => ({ candidate, reason: "beyond_candidates_to_rank" })));
  if (top.length === 0) return { scored: [] };
  const ids = top.map((c) => c.videoId);
  const t0 = performance.now();
  const ranker = runtime.models.ranker;
  const videoStats = await withTimeout("state.getVideos", stateTimeoutMs, () => runtime.state.getVideos(ids)).catch((err: unknown) => {
    run.fallback("STATE_UNAVAILABLE", "state", `video aggregates unavailable to the ranker and guardrails: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  });
  const heads = ranker
    ? await withTimeout("ranker", timeoutMs, (signal) => ranker.score(query, top.map((c) => c.video), signal, videoStats ?? new Map()))
        .then((out) => {
          // The contract says "in input order, same length": a ranker breaking it is a failing ranker.
          for (const head of ranker.heads) {
            if (!(out?.[head] instanceof Float32Array) || out[head].length !== top.length) throw new Error(`ranker head "${head}" missing or of the wrong length`);
          }
          return out;
        })
        .catch((err: unknown) => {
          run.fallback("RANKER_UNAVAILABLE", "ranker", `ordered by source score: ${err instanceof Error ? err.message : String(err)}`);
          return undefined;
        })
    : (run.fallback("RANKER_UNAVAILABLE", "ranker", "no ranker model in the bundle: ordered by source score"), undefined);
  const headNames = heads && ranker ? ranker.heads : [];
  const neighbours = runtime.models.neighbours;
  const recent = query.userAgg?.recent;
  // The user's affinity is computed once per request (memoised) and shared with the Neighbours source and the rows.
  const affinity = heads && neighbours ? userAffinity(neighbours, recent) : undefined;
  const features = [0, 1, 0];
  const scored = new Array<ScoredCandidate>(top.length);
  for (let i = 0; i < top.length; i++) {
    const c = top[i];
    const h: Record<string, number> = {};
    for (const head of headNames) h[head] = heads![head][i];
    if (affinity) writeAffinityFeatures(neighbours, affinity, recent?.length ?? 0, c.videoId, features, 0);
    scored[i] = toScored(c, h, heads ? blendScore(h, blend, affinity ? features[0] : 0) : c.sourceScore, c.sources[0].reason);
  }
  scored.sort((a, b) => b.score - a.score || b.sourceScore - a.sourceScore || byCodeUnits(a.videoId, b.videoId));
  if (run.tracer.enabled) scored.forEach((c, i) => run.tracer.scored(c.videoId, c.heads, c.score, i));
  const model = heads && ranker ? `${ranker.version}, ${blend.version}` : "source score";
  run.tracer.stage({ stage: `Rank (${model})`, latencyMs: performance.now() - t0, input: candidates.length, output: scored.length });
  return { scored, videoStats };
}
