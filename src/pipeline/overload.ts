/**
 * Load shedding. A request that would start ranking a session while `maxConcurrentRankings` are in flight, or while
 * the event loop runs `maxEventLoopLagMs` late, is served the popularity fill at once (fallback OVERLOADED) instead
 * of joining the queue: past saturation every extra ranking only makes all of them slower (seconds, then source and
 * ranker timeouts that still cost the CPU).
 */
export interface OverloadGate {
  /** Why a new ranking should not start now, or undefined. */
  reason(): string | undefined;
  /** Runs a ranking holding a slot; the slot is taken before the first await, so concurrent requests see it. */
  hold<T>(fn: () => Promise<T>): Promise<T>;
}

export function createOverloadGate(options: { maxConcurrentRankings: number; maxEventLoopLagMs: number; eventLoopLag?: () => number }): OverloadGate {
  const { maxConcurrentRankings, maxEventLoopLagMs, eventLoopLag } = options;
  let ranking = 0;
  return {
    reason() {
      if (ranking >= maxConcurrentRankings) return `${ranking} sessions were being ranked (limit ${maxConcurrentRankings})`;
      const lag = eventLoopLag?.() ?? 0;
      if (lag > maxEventLoopLagMs) return `the event loop ran ${Math.round(lag)} ms late (limit ${maxEventLoopLagMs} ms)`;
      return undefined;
    },
    async hold(fn) {
      ranking++;
      try {
        return await fn();
      } finally {
        ranking--;
      }
    },
  };
}
