/** Thrown when a budgeted call passes its time budget. */
export class TimeoutError extends Error {
  constructor(readonly what: string, readonly ms: number) {
    super(`${what} passed its ${ms}ms budget`);
    this.name = "TimeoutError";
  }
}

/**
 * Runs `fn` with an AbortSignal that aborts after `ms`, and stops waiting at that moment even when `fn` ignores
 * the signal (a hung backend must not hold the request). The abandoned promise's late rejection is swallowed by
 * the race, never unhandled.
 */
export async function withTimeout<T>(what: string, ms: number, fn: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TimeoutError(what, ms);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    // Promise.resolve().then: a synchronous throw in fn becomes a rejection like any other failure.
    return await Promise.race([Promise.resolve().then(() => fn(controller.signal)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
