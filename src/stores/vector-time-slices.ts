/**
 * Long index work (k-means training, assigning every row to its list, laying rows out) written once as a generator
 * that `yield`s between small steps, and run either at once (`runToEnd`: a start-up load, an explicit build) or in
 * time slices on the event loop (`runSliced`: a rebuild while the index serves searches). A step must leave nothing
 * of its own in a kernel's shared slots (query, row list, scores) across a `yield`: searches run between slices.
 */
export type Steps<T> = Generator<void, T, void>;

/** Runs the steps without yielding to the event loop. */
export function runToEnd<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

export interface RunSlicedOptions {
  /** Milliseconds of work per slice before the event loop gets a turn. @default 4 */
  sliceMs?: number;
  /** Checked before each slice: true stops the run (the steps are closed) and it resolves to undefined. */
  cancelled?: () => boolean;
}

/**
 * Runs the steps in slices of about `sliceMs`, each followed by a turn of the event loop (`setImmediate`: timers
 * and I/O queued meanwhile run first), so nothing waits on them longer than one slice plus one step.
 */
export async function runSliced<T>(steps: Steps<T>, options: RunSlicedOptions = {}): Promise<T | undefined> {
  const { sliceMs = 4, cancelled = () => false } = options;
  for (;;) {
    if (cancelled()) {
      steps.return(undefined as T);
      return undefined;
    }
    const until = performance.now() + sliceMs;
    do {
      const next = steps.next();
      if (next.done) return next.value;
    } while (performance.now() < until);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
