/**
 * Peak resident memory of this process over a benchmark: sampled on a timer (so a peak inside the measured window
 * is attributed to it) and, at stop, also the kernel's lifetime high-water mark (which catches spikes between
 * samples but also counts anything before `start`).
 */
export interface PeakRssSamplerOptions {
  /** Sampling period, ms. @default 100 */
  intervalMs?: number;
}

export interface PeakRssReport {
  /** Highest RSS seen by the sampler while it ran, bytes. */
  sampledPeakBytes: number;
  /** The process' lifetime max RSS (getrusage), bytes. */
  processMaxBytes: number;
}

export interface PeakRssSampler {
  /** Highest RSS sampled so far, bytes. */
  peak(): number;
  /** Stops sampling (idempotent) and reports. */
  stop(): PeakRssReport;
}

export function createPeakRssSampler(options: PeakRssSamplerOptions = {}): PeakRssSampler {
  const { intervalMs = 100 } = options;
  let peak = process.memoryUsage.rss();
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  let timer: NodeJS.Timeout | undefined = setInterval(sample, intervalMs);
  // Never keep a finished benchmark alive just to sample it.
  timer.unref();
  return {
    peak: () => peak,
    stop() {
      if (timer) {
        clearInterval(timer);
        timer = undefined;
        sample();
      }
      return { sampledPeakBytes: peak, processMaxBytes: process.resourceUsage().maxRSS * 1024 };
    },
  };
}
