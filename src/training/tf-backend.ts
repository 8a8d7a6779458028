/**
 * The one place that picks and prepares the tfjs backend. tfjs-node cannot be installed here, so training runs on
 * the WebAssembly backend (XNNPACK + SIMD), which works in Node without native builds.
 *
 * The wasm backend lacks the `UnsortedSegmentSum` kernel, which is what the gradient of `tf.gather` (embedding
 * lookups) is made of. We register it here, written in plain JS over the backend's heap: it is a scatter-add of
 * `batch × dim` values, cheap next to the dense layers, and keeps embedding lookups as real gathers (one-hot
 * matmuls would cost `batch × vocab × dim`).
 */
import * as tf from "@tensorflow/tfjs";
import { setThreadsCount, type BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { availableParallelism } from "node:os";

export { tf };

/** Options for {@link initTf}. Only the first call's options take effect: the backend is process-wide. */
export interface TfInitOptions {
  /**
   * XNNPACK thread-pool size. Only used where the threaded wasm binary loads (Node usually gets the single-threaded
   * SIMD binary, so this is a ceiling, not a promise).
   * @default min(2, availableParallelism())
   */
  threads?: number;
}

let ready: Promise<void> | undefined;

/** Selects the wasm backend once per process; every training entry point awaits it. Idempotent. */
export function initTf(options: TfInitOptions = {}): Promise<void> {
  if (!ready) {
    const { threads = Math.min(2, availableParallelism()) } = options;
    ready = (async () => {
      // Must precede setBackend: the pool is created when the backend initialises.
      setThreadsCount(Math.max(1, threads));
      registerMissingKernels();
      const ok = await tf.setBackend("wasm");
      if (!ok) throw new Error("tfjs: the wasm backend failed to initialise");
      await tf.ready();
    })();
    // A failed start must not be cached forever: let a later call retry.
    ready.catch(() => {
      ready = undefined;
    });
  }
  return ready;
}

function registerMissingKernels(): void {
  const has = tf.getKernelsForBackend("wasm").some((k) => k.kernelName === tf.UnsortedSegmentSum);
  if (has) return;
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      const wasm = backend as BackendWasm;
      const values = wasm.readSync(x.dataId) as Float32Array | Int32Array;
      const ids = wasm.readSync(segmentIds.dataId) as Int32Array;
      // segmentIds' shape is a prefix of x's shape: everything after it is summed as one block.
      const inner = ids.length === 0 ? 0 : values.length / ids.length;
      const out = x.dtype === "int32" ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range ids are dropped
        const o = s * inner;
        const v = i * inner;
        for (let j = 0; j < inner; j++) out[o + j] += values[v + j];
      }
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      return wasm.makeOutput(outShape, x.dtype, undefined, out);
    },
  });
}
