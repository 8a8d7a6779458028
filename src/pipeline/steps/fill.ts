import { performance } from "node:perf_hooks";
import { fetchPopular } from "../../sources/popular";
import { withSeen } from "../../stores/seen-set";
import type { FunnelEnv, RequestRun } from "../request-run";
import type { Session } from "../sessions";
import { withTimeout } from "../timeout";
import { toScored, type Candidate, type FeedRuntime, type MergedCandidate } from "../types";
import { runFilters } from "./filters";
import { mergeCandidates } from "./merge";
import { runStages } from "./stages";

/**
 * Step 7, popularity fill: when the session holds fewer items than the page needs (and one page ahead), popular
 * videos top it up. They pass the same filters and stages (a popular video is not exempt from "not interested"),
 * score below every ranked item, and the caps' windows run on across the seam (`servedEarlier`). With the state
 * store down, the catalog's newest stand in for trending.
 */
export async function fill(session: Session, want: number, env: FunnelEnv, run: RequestRun): Promise<void> {
  const { runtime, definition } = env;
  const t0 = performance.now();
  const query = session.query;
  const exclude = withSeen(query.seen, Array.from(session.items.videos, (v) => v.id));
  let limit = want * 4 + 50;
  let kept: MergedCandidate[] = [];
  const raw = new Map<string, number>();
  for (let attempt = 0; attempt < 2; attempt++) {
    let popular: Candidate[];
    try {
      popular = await withTimeout("popularity", definition.fill.timeoutMs, () => fetchPopular(runtime, { country: query.context.country, limit, now: query.context.now, exclude }));
    } catch (err) {
      // The store is down: the catalog alone still answers.
      run.fallback("STATE_UNAVAILABLE", "state", `trending unavailable, popularity from the catalog: ${err instanceof Error ? err.message : String(err)}`);
      popular = catalogPopular(runtime, limit, query.context.now, exclude);
    }
    for (const c of popular) raw.set(c.videoId, c.score);
    const { merged } = mergeCandidates([{ source: "Popularity", weight: 1, candidates: popular }], runtime.catalog, { rrfK: definition.merge.rrfK });
    run.tracer.candidates(merged);
    kept = runFilters(definition.filters, query, merged, env, run, "fill");
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
  const staged = runStages(query, scored, { runtime, servedEarlier, sessionId: `${session.id}:${session.items.length}` }, env, run, "fill");
  const added = staged.slice(0, want);
  session.items.append(added);
  run.tracer.stage({ stage: "PopularityFill", latencyMs: performance.now() - t0, input: kept.length, output: added.length });
  if (added.length) run.fallback("POPULARITY", "Popularity", `${added.length} popular videos filled a short candidate list`);
}

/** The catalog's newest as popularity when the state store cannot say what is trending. */
function catalogPopular(runtime: FeedRuntime, limit: number, now: number, exclude: { has(videoId: string): boolean }): Candidate[] {
  const out: Candidate[] = [];
  for (const v of runtime.catalog.newest()) {
    if (out.length >= limit) break;
    if (v.uploadedAt <= now && !exclude.has(v.id)) out.push({ videoId: v.id, score: 1 / (1 + out.length), reason: { code: "POPULAR", params: {} } });
  }
  return out;
}
