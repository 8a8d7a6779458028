import type { Video } from "../data/types";
import type { VideoAggregates } from "../features/aggregates";
import type { FeatureArtifacts } from "../features/artifacts";
import { buildRankerRows, rankerSpec, type RankerRowInput, type RowContext } from "../features/rows";
import { createBatchPool } from "../features/spec";
import type { FeedQuery, RankerModel } from "../pipeline/types";
import type { StateStore } from "../stores/state-store";
import { createMicroBatcher, type MicroBatcher } from "./micro-batcher";
import { assertModelInputs, rankerHeads } from "./model-io";
import type { ExecutionProvider, OnnxRuntimeSession } from "./onnx-session";

/**
 * The multi-task ranker served from ONNX: rows from the shared builders (src/features/rows.ts, the very code that
 * built the training rows), concurrent requests micro-batched into one ONNX call where that pays (`mergeRequests`),
 * one probability per head.
 */
export interface OnnxRankerModelOptions {
  /** The ranker model: the spec's inputs, one float32 [batch] output per head (model-io.ts). */
  session: OnnxRuntimeSession;
  /** The bundle's feature artifacts: vocabularies and normalisers the model was trained with. */
  artifacts: FeatureArtifacts;
  /** Bundle / model version, reported in pages and traces. */
  version: string;
  /** Heads to serve, a subset of the model's outputs. @default every output of the model */
  heads?: readonly string[];
  /**
   * Per-video aggregates (popularity, completion rates) for the video features; training rows had them, so
   * serving without them would be skew. @default none: video aggregates are treated as absent
   */
  state?: Pick<StateStore, "getVideos">;
  /** config ranking.microBatchWindowMs. @default 1 */
  microBatchWindowMs?: number;
  /** config ranking.maxBatchRows. @default 4096 */
  maxBatchRows?: number;
  /**
   * config ranking.mergeRankerRequests: whether concurrent requests share one ONNX call. "auto" merges on CUDA, or
   * when the session has no shared-inputs graph; on the CPU provider with one, each request runs alone, feeding its
   * user and context columns once instead of the full model over a merged batch of several users. @default "auto"
   */
  mergeRequests?: "auto" | "always" | "never";
}

export interface OnnxRankerModel extends RankerModel {
  /** The execution provider the session runs on, for /health and traces. */
  readonly executionProvider: ExecutionProvider;
  readonly batcher: MicroBatcher;
}

/** The row context of a hydrated query: exactly what training's event context carries. */
export function rowContext(query: FeedQuery): RowContext {
  return {
    now: query.context.now,
    device: query.context.device,
    country: query.context.country,
    surface: query.surface,
    language: query.context.language,
  };
}

export function createOnnxRankerModel(options: OnnxRankerModelOptions): OnnxRankerModel {
  const { session, artifacts, version, state, microBatchWindowMs = 1, maxBatchRows = 4096, mergeRequests = "auto" } = options;
  const spec = rankerSpec(artifacts);
  assertModelInputs(session, spec);
  const heads = rankerHeads(session, options.heads);
  const merge = mergeRequests === "always" || (mergeRequests === "auto" && (session.provider !== "cpu" || !session.sharedInputs?.length));
  // Not merging: each request is its own batch, run as soon as it is submitted (a batch bound of one row still
  // takes one whole request, and no window waits for company).
  const batcher = createMicroBatcher({
    spec,
    run: (batch) => session.run(spec, batch),
    windowMs: merge ? microBatchWindowMs : 0,
    maxBatchRows: merge ? maxBatchRows : 1,
  });
  // Each request's rows are written into a reused batch (spec.ts, BatchPool: why), given back once its run settles.
  const rowBatches = createBatchPool(spec);

  return {
    heads,
    version,
    executionProvider: session.provider,
    batcher,
    async score(query: FeedQuery, videos: readonly Video[], signal?: AbortSignal, videoStats?: ReadonlyMap<string, VideoAggregates>): Promise<Record<string, Float32Array>> {
      if (videos.length === 0) return Object.fromEntries(heads.map((h) => [h, new Float32Array(0)]));
      const stats: ReadonlyMap<string, VideoAggregates> = videoStats ?? (state ? await state.getVideos(videos.map((v) => v.id)) : new Map());
      signal?.throwIfAborted();
      const context = rowContext(query);
      const inputs: RankerRowInput[] = videos.map((video) => ({
        user: query.user,
        userAgg: query.userAgg,
        video,
        videoAgg: stats.get(video.id),
        context,
      }));
      // The batcher settles a request only once nothing reads its batch: a run copies or has finished with it, an
      // aborted request is taken out of the queue before its run.
      const rows = buildRankerRows(artifacts, inputs, rowBatches.take(inputs.length));
      try {
        const out = await batcher.submit(rows, signal);
        return Object.fromEntries(heads.map((h) => [h, out[h]]));
      } finally {
        rowBatches.give(rows);
      }
    },
  };
}
