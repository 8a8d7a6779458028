/**
 * The build thread's side of vector-build-worker.ts: builds IVF lists (vector-ivf-lists.ts `buildIvfLayoutSteps`:
 * quantiser training on a sample, every row assigned, the rows laid out list by list) for the rows it is sent, one
 * build at a time, in arrival order.
 *
 * The thread runs at a lower priority (`nice`, Linux): a rebuild is background work, and on a machine whose cores are
 * all busy it should take the CPU the requests leave, not a share of theirs.
 *
 * Protocol (thread → main): { type: "ready" } once; per build { type: "built", id, layout } (its buffers
 * transferred), { type: "cancelled", id } or { type: "failed", id, error }. Main → thread: { type: "build", id, dim,
 * nlist, seed, rows, cancel } (`rows` transferred; `cancel` a one-element Int32Array over a SharedArrayBuffer that
 * the main thread sets to 1 to stop the build: checked between steps, every few milliseconds of work).
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { buildIvfLayoutSteps, type IvfLayout } from "./vector-ivf-lists";

export interface BuildRequest {
  type: "build";
  id: number;
  dim: number;
  nlist: number;
  seed: number;
  /** Live rows, `stride` floats each (dim rounded up to 4, zero-padded), as the index's kernel holds them. */
  rows: Float32Array;
  cancel: Int32Array;
}

export type BuildReply =
  | { type: "ready" }
  | { type: "built"; id: number; layout: IvfLayout }
  | { type: "cancelled"; id: number }
  | { type: "failed"; id: number; error: string };

/** The buffers of a layout, to transfer rather than copy. */
export function layoutBuffers(layout: IvfLayout): ArrayBuffer[] {
  return [layout.rows.buffer, layout.dest.buffer, layout.listStart.buffer, layout.quantiser.centroids.buffer, layout.quantiser.childStart.buffer] as ArrayBuffer[];
}

/** What the thread is started with (`workerData`). */
export interface BuildThreadData {
  /** Nice value for this thread (Linux; 0 leaves it as it is). */
  nice: number;
}

/**
 * Lowers this thread's scheduling priority, on Linux only, where a nice value is per thread: setpriority with this
 * thread's id (from /proc/thread-self) changes it and not the serving thread's. Elsewhere (a nice value per process,
 * or no /proc) nothing is changed. Returns whether it was.
 */
export function niceThisThread(nice: number): boolean {
  if (nice === 0 || process.platform !== "linux") return false;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isInteger(tid) || tid <= 0 || tid === process.pid) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  niceThisThread((workerData as BuildThreadData | undefined)?.nice ?? 0);
  const post = (reply: BuildReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
  port.on("message", (request: BuildRequest) => {
    // A build cancelled while it waited in the queue (its index closed or rebuilt at once) costs nothing.
    if (Atomics.load(request.cancel, 0) !== 0) return post({ type: "cancelled", id: request.id });
    try {
      const steps = buildIvfLayoutSteps(request.rows, request.dim, { nlist: request.nlist, seed: request.seed });
      for (;;) {
        if (Atomics.load(request.cancel, 0) !== 0) {
          steps.return(undefined as never);
          return post({ type: "cancelled", id: request.id });
        }
        const next = steps.next();
        if (next.done) return post({ type: "built", id: request.id, layout: next.value }, layoutBuffers(next.value));
      }
    } catch (err) {
      post({ type: "failed", id: request.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  post({ type: "ready" });
}
