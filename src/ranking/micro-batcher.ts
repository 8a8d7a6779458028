import { concatBatches, type FeatureBatch, type FeatureSpec } from "../features/spec";

/**
 * Coalesces concurrent scoring calls into one model run. Requests arriving within `windowMs` of the first pending
 * one are concatenated (up to `maxBatchRows`) into one FeatureBatch, run once, and each caller gets its own rows
 * back. Why: an ONNX call has a fixed cost (graph dispatch, thread pool wake-up) that dwarfs a few hundred rows, so
 * under load one call of 2,000 rows is far cheaper than ten of 200 — and on a GPU the difference is larger still.
 *
 * Outputs are split by width: an output of length totalRows × w gives each caller its rows × w values, so the same
 * batcher serves ranker heads (w = 1) and tower embeddings (w = dim).
 */
export interface MicroBatcherOptions {
  spec: FeatureSpec;
  /**
   * Runs one (concatenated) batch and returns every output flattened row-major, in arrays of its own: a run of one
   * request hands them to its caller as they are.
   */
  run: (batch: FeatureBatch) => Promise<Record<string, Float32Array>>;
  /** How long the first pending request waits for company; 0 = only what arrives in the same tick. @default 1 */
  windowMs?: number;
  /** Most rows in one run; a single larger request runs alone. @default 4096 */
  maxBatchRows?: number;
}

export interface MicroBatcherStats {
  /** Model runs so far. */
  runs: number;
  /** Requests submitted so far. */
  requests: number;
  rows: number;
}

export interface MicroBatcher {
  /** Scores one request's rows; resolves with its rows of every output. A request aborted before its run is dropped. */
  submit(batch: FeatureBatch, signal?: AbortSignal): Promise<Record<string, Float32Array>>;
  stats(): MicroBatcherStats;
}

interface Pending {
  batch: FeatureBatch;
  resolve: (out: Record<string, Float32Array>) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** What a call aborted by `signal` rejects with: its reason, or an AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("aborted", "AbortError");
}

export function createMicroBatcher(options: MicroBatcherOptions): MicroBatcher {
  const { spec, run, windowMs = 1, maxBatchRows = 4096 } = options;
  const stats: MicroBatcherStats = { runs: 0, requests: 0, rows: 0 };
  let queue: Pending[] = [];
  let queuedRows = 0;
  let timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;

  const clearTimer = () => {
    if (timer === undefined) return;
    if (windowMs > 0) clearTimeout(timer as ReturnType<typeof setTimeout>);
    else clearImmediate(timer as ReturnType<typeof setImmediate>);
    timer = undefined;
  };

  function flush(): void {
    clearTimer();
    while (queue.length > 0) {
      // Take requests in arrival order up to the row bound (always at least one).
      const group: Pending[] = [];
      let rows = 0;
      while (queue.length > 0 && (group.length === 0 || rows + queue[0].batch.size <= maxBatchRows)) {
        const p = queue.shift()!;
        rows += p.batch.size;
        group.push(p);
      }
      queuedRows -= rows;
      void execute(group, rows);
    }
  }

  async function execute(group: Pending[], rows: number): Promise<void> {
    for (const p of group) if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort);
    stats.runs++;
    stats.rows += rows;
    let outputs: Record<string, Float32Array>;
    try {
      outputs = await run(group.length === 1 ? group[0].batch : concatBatches(spec, group.map((p) => p.batch)));
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    // A run of one request: its outputs are its own (run returns fresh arrays), no copy needed.
    if (group.length === 1) {
      const p = group[0];
      if (p.signal?.aborted) p.reject(abortReason(p.signal));
      else p.resolve(outputs);
      return;
    }
    let offset = 0;
    for (const p of group) {
      const mine: Record<string, Float32Array> = {};
      for (const [name, values] of Object.entries(outputs)) {
        const width = rows === 0 ? 0 : values.length / rows;
        // slice (a copy), not subarray: callers keep their arrays without pinning the whole batch's buffer.
        mine[name] = values.slice(offset * width, (offset + p.batch.size) * width);
      }
      offset += p.batch.size;
      if (p.signal?.aborted) p.reject(abortReason(p.signal));
      else p.resolve(mine);
    }
  }

  return {
    submit(batch, signal) {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      stats.requests++;
      return new Promise((resolve, reject) => {
        const pending: Pending = { batch, resolve, reject, signal };
        if (signal) {
          pending.onAbort = () => {
            const i = queue.indexOf(pending);
            if (i >= 0) {
              queue.splice(i, 1);
              queuedRows -= batch.size;
              reject(abortReason(signal));
            }
          };
          signal.addEventListener("abort", pending.onAbort, { once: true });
        }
        queue.push(pending);
        queuedRows += batch.size;
        if (queuedRows >= maxBatchRows) flush();
        else if (timer === undefined) timer = windowMs > 0 ? setTimeout(flush, windowMs) : setImmediate(flush);
      });
    },
    stats: () => ({ ...stats }),
  };
}
