import { performance } from "node:perf_hooks";
import type { StageTrace } from "../feed-page";
import type { FunnelEnv, RequestRun } from "../request-run";
import { countReasons } from "../trace";
import type { CandidateFilter, FeedQuery, MergedCandidate } from "../types";
import { resolveVideos, type MergedScore } from "./merge";

/**
 * Step 4, filters: the hard rules in the definition's order (the built-ins cheapest first, then plugins'). They
 * run before the ranker so it never spends time on a video that cannot be served. `label` names them in the trace
 * ("filter", or "fill" when the popularity fill runs them).
 */
export function runFilters(
  filters: ReadonlyArray<{ filter: CandidateFilter }>,
  query: FeedQuery,
  candidates: MergedCandidate[],
  env: FunnelEnv,
  run: RequestRun,
  label = "filter",
): MergedCandidate[] {
  let current = candidates;
  for (const { filter } of filters) {
    const t0 = performance.now();
    const { kept, removed } = filter.apply(query, current, env.runtime);
    if (run.tracer.enabled) {
      run.tracer.removed(`${label}:${filter.name}`, removed);
      run.tracer.stage({ stage: `${label}:${filter.name}`, latencyMs: performance.now() - t0, input: current.length, output: kept.length, removed: countReasons(removed) });
    }
    current = kept;
  }
  return current;
}

export interface FilterBestResult {
  /** Candidates that passed every filter, best source score first: at least `want` unless fewer exist. */
  kept: MergedCandidate[];
  /** The candidates past the last slice: neither read from the catalog nor filtered (below the ranking cut). */
  unexamined: readonly MergedScore[];
  /** Ids of the examined slices the catalog does not know (dropped), and the time spent reading the catalog. */
  unknown: number;
  resolveMs: number;
}

/**
 * Step 4 for a ranked session: the filters over the merged candidates in source-score order, a slice at a time,
 * until `want` (the candidates the ranker takes) have passed. The rank step keeps the best `want` by source score of
 * what passed, so the candidates past that point never mattered: a request merges ~950 and ranks 500, and reading
 * each one's video from the catalog (a cache miss in a 100k-entry map) and filtering it was a tenth of its CPU.
 * Filters decide per candidate (the CandidateFilter contract), so slicing changes no decision. The trace gets one
 * stage per filter with the slices' totals; the unexamined are the rank step's ("beyond_candidates_to_rank").
 */
export function filterBest(filters: ReadonlyArray<{ filter: CandidateFilter }>, query: FeedQuery, merged: readonly MergedScore[], want: number, env: FunnelEnv, run: RequestRun): FilterBestResult {
  const kept: MergedCandidate[] = [];
  const traces: StageTrace[] = filters.map(({ filter }) => ({ stage: `filter:${filter.name}`, latencyMs: 0, input: 0, output: 0 }));
  let unknown = 0;
  let resolveMs = 0;
  let next = 0;
  while (next < merged.length && kept.length < want) {
    // A quarter over what is still wanted (filters remove a few percent), so one slice nearly always does.
    const end = Math.min(merged.length, next + Math.max(64, Math.ceil((want - kept.length) * 1.25)));
    const t0 = performance.now();
    const slice = resolveVideos(merged.slice(next, end), env.runtime.catalog, run.tracer.enabled ? (candidate) => run.tracer.removed("Merge", [{ candidate, reason: "unknown_video" }]) : undefined);
    resolveMs += performance.now() - t0;
    unknown += slice.unknown;
    next = end;
    let current = slice.merged;
    filters.forEach(({ filter }, i) => {
      const t1 = performance.now();
      const { kept: passed, removed } = filter.apply(query, current, env.runtime);
      if (run.tracer.enabled) {
        run.tracer.removed(traces[i].stage, removed);
        const trace = traces[i];
        trace.latencyMs += performance.now() - t1;
        trace.input += current.length;
        trace.output += passed.length;
        for (const [reason, n] of Object.entries(countReasons(removed) ?? {})) (trace.removed ??= {})[reason] = (trace.removed[reason] ?? 0) + n;
      }
      current = passed;
    });
    for (const c of current) kept.push(c);
  }
  if (run.tracer.enabled) for (const trace of traces) run.tracer.stage(trace);
  return { kept, unexamined: merged.slice(next), unknown, resolveMs };
}
