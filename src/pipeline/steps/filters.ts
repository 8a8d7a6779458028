import { performance } from "node:perf_hooks";
import type { FunnelEnv, RequestRun } from "../request-run";
import { countReasons } from "../trace";
import type { CandidateFilter, FeedQuery, MergedCandidate } from "../types";

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
