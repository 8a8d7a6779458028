/**
 * The inference thread's side of onnx-worker-session.ts: opens one ONNX Runtime session (the same provider fallback
 * as on the main thread) and runs the batches it is sent, one at a time, in arrival order.
 *
 * Protocol (worker → main): { type: "log", message }, then { type: "ready", session } (its description:
 * provider, input and output names, serving graph) or { type: "failed", error }; per run { type: "result", id, outputs } or { type: "runFailed", id,
 * error }. Main → worker: { type: "run", id, spec, batch }, { type: "release" }.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { ReelfeedError } from "../errors";
import type { FeatureBatch, FeatureSpec } from "../features/spec";
import { createOnnxRuntimeSession, describeSession, type OnnxRuntimeSessionOptions, type OnnxSessionDescription } from "./onnx-session";

export type WorkerSessionData = Omit<OnnxRuntimeSessionOptions, "log">;

export interface SerializedError {
  code?: string;
  message: string;
  details?: Record<string, unknown>;
}

export type WorkerRequest = { type: "run"; id: number; spec: FeatureSpec; batch: FeatureBatch } | { type: "release" };

export type WorkerReply =
  | { type: "log"; message: string }
  | { type: "ready"; session: OnnxSessionDescription }
  | { type: "failed"; error: SerializedError }
  | { type: "result"; id: number; outputs: Record<string, Float32Array> }
  | { type: "runFailed"; id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ReelfeedError) return { code: err.code, message: err.message, details: err.details };
  return { message: err instanceof Error ? err.message : String(err) };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
  try {
    const session = await createOnnxRuntimeSession({ ...(workerData as WorkerSessionData), log: (message) => post({ type: "log", message }) });
    // Runs are serialised: ONNX Runtime's session is not re-entrant across overlapping calls on one thread, and
    // the micro-batcher upstream already merges concurrent requests into one run.
    let queue: Promise<void> = Promise.resolve();
    port.on("message", (request: WorkerRequest) => {
      if (request.type === "release") {
        queue = queue.then(() => session.release()).finally(() => port.close());
        return;
      }
      queue = queue.then(async () => {
        try {
          const outputs = await session.run(request.spec, request.batch);
          // The outputs are fresh copies (onnx-session.ts): their buffers move to the main thread without a copy.
          post({ type: "result", id: request.id, outputs }, Object.values(outputs).map((o) => o.buffer as ArrayBuffer));
        } catch (err) {
          post({ type: "runFailed", id: request.id, error: serializeError(err) });
        }
      });
    });
    post({ type: "ready", session: describeSession(session) });
  } catch (err) {
    post({ type: "failed", error: serializeError(err) });
    port.close();
  }
}
