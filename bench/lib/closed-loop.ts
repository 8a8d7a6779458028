import { performance } from "node:perf_hooks";

/**
 * Closed-loop load: `concurrency` workers each run one task at a time and start the next as soon as it settles,
 * like that many clients sending request after request. Measures throughput at saturation and the latency of each
 * task (from its call to its settlement).
 */
export interface ClosedLoopOptions {
  /** Tasks to run in all, numbered 0..tasks−1 (each number runs once, in increasing order of start). */
  tasks: number;
  /** Tasks in flight at once. @default 1 */
  concurrency?: number;
  /** Stop starting tasks after this long, ms (tasks in flight still finish). @default Infinity */
  maxDurationMs?: number;
  /** Stop starting tasks after the first failure. @default true */
  stopOnError?: boolean;
  run: (index: number) => Promise<void>;
}

export interface LoadResult {
  /** Tasks that settled successfully. */
  completed: number;
  /** Tasks that threw. */
  failed: number;
  /** First failure, if any. */
  firstError?: Error;
  /** From the first start to the last settlement, ms. */
  wallMs: number;
  /** Latency of each successful task, ms, in completion order. */
  latenciesMs: number[];
}

export async function runClosedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const { tasks, concurrency = 1, maxDurationMs = Number.POSITIVE_INFINITY, stopOnError = true, run } = options;
  const latenciesMs: number[] = [];
  let next = 0;
  let failed = 0;
  let firstError: Error | undefined;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < tasks && performance.now() - started < maxDurationMs && !(stopOnError && firstError)) {
      const index = next++;
      const t0 = performance.now();
      try {
        await run(index);
        latenciesMs.push(performance.now() - t0);
      } catch (err) {
        failed++;
        firstError ??= err as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, tasks)) }, worker));
  return { completed: latenciesMs.length, failed, firstError, wallMs: performance.now() - started, latenciesMs };
}
