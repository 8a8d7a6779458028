import type { Worker } from "node:worker_threads";
import { ReelfeedError, type ReelfeedErrorCode } from "../errors";
import { startTsWorker } from "../util/ts-worker";
import type { FeatureBatch, FeatureSpec } from "../features/spec";
import type { OnnxRuntimeSession, OnnxRuntimeSessionOptions } from "./onnx-session";
import type { SerializedError, WorkerReply, WorkerRequest, WorkerSessionData } from "./onnx-worker-thread";

/**
 * An ONNX Runtime session that runs on its own thread. onnxruntime-node's `run` executes synchronously on the
 * calling thread (it only defers the call to the next tick), so on the main thread every ranker call blocks the
 * event loop: HTTP parsing, GraphQL and the next request's sources all wait for it. On its own thread the model
 * runs on another core while the main thread goes on with other requests — the same session, the same provider
 * fallback (CUDA, then CPU), the same OnnxRuntimeSession contract.
 *
 * A crashed thread fails the runs in flight (the pipeline falls back and says so) and is started again on the next
 * run, so one bad batch does not take the model away for good.
 */
export interface InferenceThreadSpawner {
  /** Starts the thread (tests wrap it to keep a handle on the real Worker). @default spawnInferenceThread */
  spawn?: (data: WorkerSessionData) => Worker;
}

export async function createOnnxWorkerSession(options: OnnxRuntimeSessionOptions, { spawn = spawnInferenceThread }: InferenceThreadSpawner = {}): Promise<OnnxRuntimeSession> {
  const { log = (message: string) => console.warn(message), ...rest } = options;
  const name = rest.name ?? (typeof rest.model === "string" ? rest.model : "model");
  const data: WorkerSessionData = { ...rest, name };

  interface Pending {
    resolve: (out: Record<string, Float32Array>) => void;
    reject: (err: unknown) => void;
  }
  let worker: Worker | undefined;
  let starting: Promise<Worker> | undefined;
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let released = false;
  let info: Extract<WorkerReply, { type: "ready" }> | undefined;

  const start = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = spawn(data);
      let ready = false;
      w.on("message", (reply: WorkerReply) => {
        switch (reply.type) {
          case "log":
            log(reply.message);
            return;
          case "ready":
            ready = true;
            info = reply;
            // An idle inference thread must not keep the process alive; it is ref'd while runs are in flight.
            if (pending.size === 0) w.unref();
            resolve(w);
            return;
          case "failed":
            reject(toError(reply.error));
            return;
          case "result":
          case "runFailed": {
            const p = pending.get(reply.id);
            pending.delete(reply.id);
            if (pending.size === 0) w.unref();
            if (reply.type === "result") p?.resolve(reply.outputs);
            else p?.reject(toError(reply.error));
            return;
          }
        }
      });
      // A thread that dies takes its runs with it; the next run starts a new one.
      const lost = (why: string) => {
        if (worker === w) worker = undefined;
        const err = new ReelfeedError("UNAVAILABLE", `${name}: inference thread ${why}`, { model: name });
        for (const p of pending.values()) p.reject(err);
        pending.clear();
        if (!ready) reject(err);
      };
      w.on("error", (err) => lost(`failed: ${err.message}`));
      w.on("exit", (code) => lost(`exited (code ${code})`));
    });

  worker = await start();
  const opened = info!.session;

  const ensureWorker = async (): Promise<Worker> => {
    if (worker) return worker;
    starting ??= start().then(
      (w) => {
        starting = undefined;
        return (worker = w);
      },
      (err: unknown) => {
        starting = undefined;
        throw err;
      },
    );
    return starting;
  };

  return {
    name,
    // Everything the thread's session is (provider, serving graph...): the ranker reads `sharedInputs` to decide
    // whether merging concurrent requests pays (ranker-model.ts).
    ...opened,
    async run(spec: FeatureSpec, batch: FeatureBatch) {
      if (released) throw new ReelfeedError("UNAVAILABLE", `${name}: session released`, { model: name });
      const w = await ensureWorker();
      const id = nextId++;
      return new Promise<Record<string, Float32Array>>((resolve, reject) => {
        // Copied, not transferred: the caller's arrays may be views into buffers it still uses.
        const request: WorkerRequest = { type: "run", id, spec, batch };
        try {
          w.postMessage(request);
        } catch (err) {
          // Not cloneable (a caller's bug): this run fails, nothing is left waiting for an answer.
          reject(err);
          return;
        }
        pending.set(id, { resolve, reject });
        if (pending.size === 1) w.ref();
      });
    },
    async release() {
      if (released) return;
      released = true;
      const w = worker;
      worker = undefined;
      if (!w) return;
      const exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
      w.ref();
      w.postMessage({ type: "release" } satisfies WorkerRequest);
      // A thread stuck in a run must not hold shutdown hostage.
      const timer = setTimeout(() => void w.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function toError(error: SerializedError): Error {
  return error.code ? new ReelfeedError(error.code as ReelfeedErrorCode, error.message, error.details ?? {}) : new Error(error.message);
}

/** Starts onnx-worker-thread.ts. */
export function spawnInferenceThread(data: WorkerSessionData): Worker {
  return startTsWorker(new URL("./onnx-worker-thread.ts", import.meta.url), data);
}
