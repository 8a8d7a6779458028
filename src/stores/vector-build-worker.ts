import type { Worker } from "node:worker_threads";
import { ReelfeedError } from "../errors";
import { startTsWorker } from "../util/ts-worker";
import type { BuildReply, BuildRequest, BuildThreadData } from "./vector-build-worker-thread";
import type { IvfLayout } from "./vector-ivf-lists";

/**
 * A thread that builds the embedded index's IVF lists (vector-build-worker-thread.ts), so a rebuild's heavy part —
 * k-means on a sample, assigning every row to its list, laying the rows out list by list — runs on another core
 * instead of in time slices on the thread that serves requests (issue 11: a catalogue load rebuilds a 100k index
 * every ~10 s, seconds of CPU each). The index hands it a copy of its live rows and gets them back laid out, with
 * the lists and where each row went; it keeps serving and writing meanwhile, and swaps the result in on its own
 * thread (vector-index-embedded.ts).
 *
 * Builds run one at a time in request order (one thread for every index of the process: two rebuilds at once would
 * only take a second core from the requests). A build whose signal aborts stops at its next step and resolves to
 * undefined. A thread that dies (or fails to start) fails the builds in flight; the next build starts a new one.
 * While no build is in flight the thread does not keep the process alive.
 */
export interface IvfBuildWorker {
  /**
   * Builds lists for `rows` (`rows.length / stride` live rows of `dim` floats, zero-padded to `stride`, the next
   * multiple of 4). `rows` is transferred to the thread: the caller must not use it afterwards. The layout is the
   * one `buildIvfLayoutSteps` gives on this thread (same seed, same rows: same lists).
   */
  build(request: { dim: number; nlist: number; seed: number; rows: Float32Array; signal?: AbortSignal }): Promise<IvfLayout | undefined>;
  /** Stops the thread; builds in flight resolve to undefined. The worker can be used again (a new thread starts). */
  close(): Promise<void>;
}

export interface IvfBuildWorkerOptions {
  /**
   * The thread's nice value on Linux (0: the process's priority). A rebuild is background work: on a machine whose
   * cores are all busy (the 2-core benchmark box beside a catalogue load) a thread at the serving thread's priority
   * takes its share of a core from the requests; at 10 it gets what they leave (about a tenth of a core against
   * each busy thread at 0), and a core with nothing else to do runs it at full speed all the same. @default 10
   */
  nice?: number;
  /** Starts the thread (tests wrap it to keep a handle on the real Worker). @default spawnIvfBuildThread */
  spawn?: (data: BuildThreadData) => Worker;
}

export function createIvfBuildWorker({ nice = 10, spawn = spawnIvfBuildThread }: IvfBuildWorkerOptions = {}): IvfBuildWorker {
  if (!(Number.isInteger(nice) && nice >= 0 && nice <= 19)) throw new RangeError(`IVF build thread: nice must be an integer in [0, 19], got ${nice}`);
  interface Pending {
    resolve: (layout: IvfLayout | undefined) => void;
    reject: (err: unknown) => void;
  }
  let worker: Promise<Worker> | undefined;
  const pending = new Map<number, Pending>();
  let nextId = 0;

  const start = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = spawn({ nice });
      let ready = false;
      w.on("message", (reply: BuildReply) => {
        if (reply.type === "ready") {
          ready = true;
          resolve(w);
          return;
        }
        const p = pending.get(reply.id);
        pending.delete(reply.id);
        // An idle build thread must not keep the process alive; it is ref'd while builds are in flight.
        if (pending.size === 0) w.unref();
        if (reply.type === "built") p?.resolve(reply.layout);
        else if (reply.type === "cancelled") p?.resolve(undefined);
        else p?.reject(new ReelfeedError("INTERNAL", `vector index build thread: ${reply.error}`));
      });
      const lost = (why: string) => {
        if (current === w) {
          current = undefined;
          worker = undefined;
        }
        const err = new ReelfeedError("UNAVAILABLE", `vector index build thread ${why}`);
        for (const p of pending.values()) p.reject(err);
        pending.clear();
        if (!ready) reject(err);
      };
      w.on("error", (err) => lost(`failed: ${err.message}`));
      w.on("exit", (code) => lost(`exited (code ${code})`));
      current = w;
    });
  let current: Worker | undefined;

  return {
    async build({ dim, nlist, seed, rows, signal }) {
      if (signal?.aborted) return undefined;
      // A thread that could not start is forgotten (lost() does so for one that started), so the next build tries again.
      worker ??= start().catch((err: unknown) => {
        worker = undefined;
        throw err;
      });
      const w = await worker;
      if (signal?.aborted) return undefined;
      const id = nextId++;
      const cancel = new Int32Array(new SharedArrayBuffer(4));
      return new Promise<IvfLayout | undefined>((resolve, reject) => {
        const request: BuildRequest = { type: "build", id, dim, nlist, seed, rows, cancel };
        pending.set(id, { resolve, reject });
        if (pending.size === 1) w.ref();
        // The thread checks the flag between steps; the answer ("cancelled") comes back as for any build.
        signal?.addEventListener("abort", () => Atomics.store(cancel, 0, 1), { once: true });
        w.postMessage(request, [rows.buffer as ArrayBuffer]);
      });
    },

    async close() {
      const w = current;
      current = undefined;
      worker = undefined;
      for (const p of pending.values()) p.resolve(undefined);
      pending.clear();
      if (w) await w.terminate();
    },
  };
}

let shared: IvfBuildWorker | undefined;

/** The process's build thread, started at its first build: every embedded index uses it unless given another. */
export function sharedIvfBuildWorker(): IvfBuildWorker {
  return (shared ??= createIvfBuildWorker());
}

/** Starts vector-build-worker-thread.ts. */
export function spawnIvfBuildThread(data: BuildThreadData): Worker {
  return startTsWorker(new URL("./vector-build-worker-thread.ts", import.meta.url), data);
}
