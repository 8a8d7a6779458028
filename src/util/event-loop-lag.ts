/**
 * How late the event loop runs: a timer is due every `intervalMs`; how much later than that it fires is the time it
 * waited behind other work. One event loop runs every request, so when it keeps running this late, requests queue
 * (in front of the pipeline too, where no in-flight count sees them) and a new one should not start expensive work.
 *
 * The reading is the median of the last `window` ticks: a lasting backlog moves it, one long pause (a major GC, a
 * synchronous start-up step) does not.
 */
export interface EventLoopLagMonitor {
  /** Median lag of the recent ticks, ms (0 when idle). */
  lagMs(): number;
  stop(): void;
}

export function createEventLoopLagMonitor(options: { intervalMs?: number; window?: number } = {}): EventLoopLagMonitor {
  const { intervalMs = 20, window = 5 } = options;
  const recent = new Float64Array(window);
  const sorted = new Float64Array(window);
  let next = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    recent[next] = Math.max(0, now - last - intervalMs);
    next = (next + 1) % window;
    last = now;
  }, intervalMs);
  // A monitor must never keep a process (or a test run) alive.
  timer.unref();
  return {
    lagMs() {
      sorted.set(recent);
      sorted.sort();
      return sorted[window >> 1];
    },
    stop: () => clearInterval(timer),
  };
}

let processMonitor: EventLoopLagMonitor | undefined;

/** The process's monitor, started on first use: the feed's load shedding and /metrics read the one event loop. */
export function processEventLoopLag(): EventLoopLagMonitor {
  return (processMonitor ??= createEventLoopLagMonitor());
}
