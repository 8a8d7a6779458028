import { ReelfeedError } from "../errors";
import type { FeatureArtifacts } from "../features/artifacts";
import { buildUserTowerRows, userTowerSpec } from "../features/rows";
import type { FeedQuery, UserTowerModel } from "../pipeline/types";
import { abortReason, createMicroBatcher, type MicroBatcher } from "./micro-batcher";
import { assertEmbeddingOutput, assertModelInputs, EMBEDDING_OUTPUT } from "./model-io";
import type { ExecutionProvider, OnnxRuntimeSession } from "./onnx-session";
import { rowContext } from "./ranker-model";

/**
 * The user tower served from ONNX: one row per request from the shared builder, micro-batched across concurrent
 * requests (each request is one row, so batching is where the throughput comes from), one embedding back.
 */
export interface OnnxUserTowerModelOptions {
  /** The user-tower model: the spec's inputs, output "embedding" float32 [batch, dim] (model-io.ts). */
  session: OnnxRuntimeSession;
  artifacts: FeatureArtifacts;
  /** config ranking.microBatchWindowMs. @default 1 */
  microBatchWindowMs?: number;
  /** config ranking.maxBatchRows. @default 4096 */
  maxBatchRows?: number;
}

export interface OnnxUserTowerModel extends UserTowerModel {
  readonly executionProvider: ExecutionProvider;
  readonly batcher: MicroBatcher;
}

/**
 * Opens the model for serving. Runs one cold-start row at start-up: that both learns the embedding width and
 * proves the model accepts the artifacts' rows, before the first request depends on it.
 */
export async function createOnnxUserTowerModel(options: OnnxUserTowerModelOptions): Promise<OnnxUserTowerModel> {
  const { session, artifacts, microBatchWindowMs = 1, maxBatchRows = 4096 } = options;
  const spec = userTowerSpec(artifacts);
  assertModelInputs(session, spec);
  assertEmbeddingOutput(session, "user tower");
  const probe = await session.run(spec, buildUserTowerRows(artifacts, [{ context: { now: Date.now() } }]));
  const dim = probe[EMBEDDING_OUTPUT].length;
  if (dim === 0) throw new ReelfeedError("BAD_BUNDLE", `${session.name}: user tower returned an empty embedding`, { model: session.name });
  const batcher = createMicroBatcher({ spec, run: (batch) => session.run(spec, batch), windowMs: microBatchWindowMs, maxBatchRows });
  // Several sources of one request embed the same hydrated query (TwoTower, MultiQuery): it is embedded once. Keyed
  // by the query object, so the entry goes when the request does. The shared run takes no caller's signal (one
  // source timing out must not fail another's embedding); each caller still stops waiting on its own signal.
  const embeddings = new WeakMap<FeedQuery, Promise<Float32Array>>();
  return {
    dim,
    executionProvider: session.provider,
    batcher,
    async embed(query: FeedQuery, signal?: AbortSignal): Promise<Float32Array> {
      signal?.throwIfAborted();
      let embedding = embeddings.get(query);
      if (!embedding) {
        const rows = buildUserTowerRows(artifacts, [{ user: query.user, userAgg: query.userAgg, context: rowContext(query) }]);
        embedding = batcher.submit(rows).then((out) => out[EMBEDDING_OUTPUT]);
        embeddings.set(query, embedding);
      }
      return signal ? abortable(embedding, signal) : embedding;
    },
  };
}

/** `promise`, or its signal's reason as soon as the signal aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
