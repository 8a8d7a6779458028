import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { LoadResult } from "./closed-loop";

/**
 * Open-loop load: tasks start on a fixed schedule (`ratePerSec`) whether or not earlier ones have finished, like
 * independent users. Unlike a closed loop it does not slow down when the system does, so queueing shows up in the
 * latencies instead of hiding in a lower request rate.
 */
export interface OpenLoopOptions {
  /** Task starts per second. */
  ratePerSec: number;
  /** Tasks to start in all, numbered 0..tasks−1. */
  tasks: number;
  run: (index: number) => Promise<void>;
}

export interface OpenLoopResult extends LoadResult {
  /** Achieved start rate, tasks per second (below ratePerSec when this process could not keep the schedule). */
  startRatePerSec: number;
  /** Largest delay of a start behind its schedule, ms. */
  maxStartSlipMs: number;
}

export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { ratePerSec, tasks, run } = options;
  if (!(ratePerSec > 0)) throw new RangeError(`runOpenLoop: ratePerSec must be > 0, got ${ratePerSec}`);
  const intervalMs = 1000 / ratePerSec;
  const latenciesMs: number[] = [];
  const inFlight: Promise<void>[] = [];
  let failed = 0;
  let firstError: Error | undefined;
  let maxStartSlipMs = 0;
  let lastStart = 0;
  const started = performance.now();
  const launch = (index: number): void => {
    const t0 = performance.now();
    lastStart = t0;
    maxStartSlipMs = Math.max(maxStartSlipMs, t0 - (started + index * intervalMs));
    inFlight.push(
      run(index).then(
        () => void latenciesMs.push(performance.now() - t0),
        (err: Error) => {
          failed++;
          firstError ??= err;
        },
      ),
    );
  };
  let next = 0;
  while (next < tasks) {
    // Timers fire late by a millisecond or more: start every task that is due, then sleep until the next one.
    const now = performance.now();
    while (next < tasks && started + next * intervalMs <= now) launch(next++);
    if (next < tasks) await sleep(Math.max(0, started + next * intervalMs - performance.now()));
  }
  await Promise.all(inFlight);
  const startSpan = (lastStart - started) / 1000;
  return {
    completed: latenciesMs.length,
    failed,
    firstError,
    wallMs: performance.now() - started,
    latenciesMs,
    startRatePerSec: tasks > 1 && startSpan > 0 ? (tasks - 1) / startSpan : ratePerSec,
    maxStartSlipMs,
  };
}
