import { performance } from "node:perf_hooks";
import { isServableReason } from "../components";
import type { FunnelEnv, RequestRun } from "../request-run";
import { countReasons } from "../trace";
import type { FeedQuery, ScoredCandidate, StageContext } from "../types";

/**
 * Step 6, re-rank stages, in the definition's order (score → arrange → explore): business rules on the ranked list,
 * after ranking because caps and exploration need the final scores to know what they displace. A stage that throws
 * is skipped for the request (its error in the trace and `onError`): a broken business rule must not take the feed
 * down. A plugin stage that hands back a reason the schema cannot serve counts as a throwing one.
 */
export function runStages(query: FeedQuery, ranked: ScoredCandidate[], ctx: StageContext, env: FunnelEnv, run: RequestRun, label = "rerank"): ScoredCandidate[] {
  let current = ranked;
  for (const step of env.definition.stages) {
    if (!step.enabled) continue;
    const t0 = performance.now();
    try {
      const { kept, removed } = step.stage.apply(query, current, ctx);
      if (step.origin !== "builtin") checkReasons(kept, env);
      if (run.tracer.enabled) {
        run.tracer.removed(`${label}:${step.name}`, removed);
        run.tracer.stage({ stage: `${label}:${step.name}`, latencyMs: performance.now() - t0, input: current.length, output: kept.length, removed: countReasons(removed) });
      }
      current = kept;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      run.tracer.stage({ stage: `${label}:${step.name}`, latencyMs: performance.now() - t0, input: current.length, output: current.length, error: message });
      env.onError(err, `stage ${step.name}`);
    }
  }
  return current;
}

function checkReasons(kept: readonly ScoredCandidate[], env: FunnelEnv): void {
  for (const c of kept) {
    if (!isServableReason(c.reason, env.definition.reasons)) {
      throw new Error(`returned ${c.videoId} with reason ${JSON.stringify(c.reason)}: neither built-in nor declared by a plugin (defineReason)`);
    }
  }
}
