import { performance } from "node:perf_hooks";
import { ReelfeedError } from "../../errors";
import { isServableReason } from "../components";
import type { SourceStep } from "../pipeline-definition";
import type { FunnelEnv, RequestRun } from "../request-run";
import { TimeoutError, withTimeout } from "../timeout";
import type { Candidate, FeedQuery } from "../types";
import type { SourceOutput } from "./merge";

/**
 * Step 2, sources: every enabled source at once, each under its own AbortController timeout and quota. Parallel
 * because the slowest source, not the sum, sets the latency. A source that throws or hangs is dropped for this
 * request (SOURCE_FAILED / SOURCE_TIMEOUT, counted) unless it is fail-closed, which fails the request.
 */
export async function runSources(query: FeedQuery, env: FunnelEnv, run: RequestRun): Promise<SourceOutput[]> {
  const sources = env.definition.sources;
  const pending: Array<Promise<SourceOutput | undefined>> = [];
  for (const step of sources) if (step.enabled) pending.push(runSource(step, query, env, run));
  const outputs = await Promise.all(pending);
  return outputs.filter((o): o is SourceOutput => !!o);
}

/** One source within its budget; undefined when it failed open. */
export async function runSource(step: SourceStep, query: FeedQuery, env: FunnelEnv, run: RequestRun): Promise<SourceOutput | undefined> {
  const { runtime, definition, stats } = env;
  const t0 = performance.now();
  try {
    const out = await withTimeout(`source ${step.name}`, step.timeoutMs, (signal) => step.source.fetch(query, { runtime, signal, limit: step.quota }));
    if (!Array.isArray(out)) throw new Error("fetch did not return an array");
    // A plugin's malformed candidate is dropped, not allowed to poison the merge with NaN, and its reason must be
    // one the schema can serve (built-in, or declared by a plugin). Built-ins are typed and build their reasons from
    // constants: only cut to the quota (checking ~1,300 candidates a request showed in the profile).
    const candidates =
      step.origin === "builtin"
        ? (out as Candidate[]).length > step.quota
          ? (out as Candidate[]).slice(0, step.quota)
          : (out as Candidate[])
        : (out as Candidate[])
            .filter((c) => typeof c?.videoId === "string" && Number.isFinite(c.score) && isServableReason(c.reason, definition.reasons))
            .slice(0, step.quota);
    run.tracer.stage({ stage: `source:${step.name}`, latencyMs: performance.now() - t0, input: out.length, output: candidates.length });
    return { source: step.name, weight: step.weight, candidates };
  } catch (err) {
    const timedOut = err instanceof TimeoutError;
    const message = err instanceof Error ? err.message : String(err);
    run.tracer.stage({ stage: `source:${step.name}`, latencyMs: performance.now() - t0, input: 0, output: 0, error: message });
    if (!step.failOpen) throw new ReelfeedError("UNAVAILABLE", `source ${step.name} is fail-closed and failed: ${message}`, { source: step.name });
    stats.sources[step.name][timedOut ? "timedOut" : "failed"]++;
    run.fallback(timedOut ? "SOURCE_TIMEOUT" : "SOURCE_FAILED", step.name, message);
    return undefined;
  }
}
