import type { Video } from "../data/types";
import { ReelfeedError } from "../errors";
import type { FeatureArtifacts } from "../features/artifacts";
import { contentModelFingerprint, embedVideoText, type ContentModel } from "../features/content-embeddings";
import { buildVideoTowerRows, videoTowerSpec } from "../features/rows";
import { assertEmbeddingOutput, assertModelInputs, EMBEDDING_OUTPUT } from "../ranking/model-io";
import type { OnnxRuntimeSession } from "../ranking/onnx-session";

/**
 * The two vectors a video needs to be retrievable, computed at serving time for a video the bundle does not have
 * (or an edit of one it has): the content vector from the bundle's content model (title, description, tags,
 * category — the same function that embedded the catalog at training) and the two-tower vector from the shipped
 * video tower (ONNX). Either is undefined when the bundle lacks its model; the content vector is undefined, too,
 * when none of the video's words is in the model's vocabulary (an all-zero vector would match nothing and only
 * add noise to the index).
 */
export interface VideoVectors {
  content?: Float32Array;
  twoTower?: Float32Array;
}

export interface VideoEmbedder {
  readonly hasContent: boolean;
  readonly hasTwoTower: boolean;
  /**
   * Fingerprints of the models (undefined: no such model, or the video tower came without one): a vector carried in
   * the catalogue log is reused only when it names the same model.
   */
  readonly models: { content?: string; twoTower?: string };
  /** One entry per video, in order; `want` leaves a side out (its vector is then undefined). */
  embed(videos: readonly Video[], want?: { content: boolean; twoTower: boolean }): Promise<VideoVectors[]>;
}

export interface VideoEmbedderOptions {
  contentModel?: ContentModel;
  /** The bundle's video-tower session (manifest models.videoTower). @default none */
  videoTower?: OnnxRuntimeSession;
  /** Needed with `videoTower`: the rows are built by the shared feature code. */
  artifacts?: FeatureArtifacts;
  /** Expected two-tower width (manifest embeddings.twoTowerDim): checked once at start-up. @default unchecked */
  twoTowerDim?: number;
  /**
   * Identifies `videoTower` with `artifacts` (a digest of both files: runtime-assembly.ts), so its vectors can be
   * carried in the catalogue log and reused by processes with the same tower. @default none (never carried)
   */
  videoTowerFingerprint?: string;
}

export function createVideoEmbedder(options: VideoEmbedderOptions): VideoEmbedder {
  const { contentModel, videoTower, artifacts, twoTowerDim, videoTowerFingerprint } = options;
  if (videoTower && !artifacts) throw new ReelfeedError("INTERNAL", "video embedder: a video tower needs the feature artifacts");
  const spec = videoTower && artifacts ? videoTowerSpec(artifacts) : undefined;
  if (videoTower && spec) {
    assertModelInputs(videoTower, spec);
    assertEmbeddingOutput(videoTower, "video tower");
  }
  let checkedDim = false;
  return {
    hasContent: contentModel !== undefined,
    hasTwoTower: videoTower !== undefined,
    models: {
      content: contentModel && contentModelFingerprint(contentModel),
      twoTower: videoTower && videoTowerFingerprint,
    },
    async embed(videos, want = { content: true, twoTower: true }) {
      const out: VideoVectors[] = videos.map(() => ({}));
      if (contentModel && want.content) {
        videos.forEach((v, i) => {
          const vec = embedVideoText(contentModel, v);
          if (vec.some((x) => x !== 0)) out[i].content = vec;
        });
      }
      if (videoTower && spec && artifacts && want.twoTower && videos.length > 0) {
        // The video as it is at upload: no engagement yet, age 0. Deterministic, so a replay of the catalogue log
        // at start-up gives every video the vector it got when it was first applied.
        const rows = buildVideoTowerRows(artifacts, videos.map((video) => ({ video, videoAgg: undefined, now: video.uploadedAt })));
        const result = (await videoTower.run(spec, rows))[EMBEDDING_OUTPUT];
        const dim = result.length / videos.length;
        if (!checkedDim) {
          if (twoTowerDim !== undefined && dim !== twoTowerDim) {
            throw new ReelfeedError("BAD_BUNDLE", `${videoTower.name}: video tower returns ${dim}-wide vectors, the index holds ${twoTowerDim}`, { model: videoTower.name });
          }
          checkedDim = true;
        }
        videos.forEach((_, i) => (out[i].twoTower = result.slice(i * dim, (i + 1) * dim)));
      }
      return out;
    },
  };
}
