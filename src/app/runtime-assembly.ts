import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { ReelfeedConfig } from "../config";
import type { Catalog } from "../data/catalog";
import { ReelfeedError } from "../errors";
import { loadFeatureArtifacts, type FeatureArtifacts } from "../features/artifacts";
import { loadContentNeighbours } from "../features/content-neighbours";
import type { FeedRuntime } from "../pipeline/types";
import { createOnnxRuntimeSession, type OnnxRuntimeSession } from "../ranking/onnx-session";
import { createOnnxWorkerSession } from "../ranking/onnx-worker-session";
import { createOnnxRankerModel, type OnnxRankerModel } from "../ranking/ranker-model";
import { createOnnxUserTowerModel, type OnnxUserTowerModel } from "../ranking/user-tower-model";
import type { GraphStore } from "../stores/graph-store";
import { activateVectorIndex, loadVectors, openVectorIndex } from "../stores/open-stores";
import type { StateStore } from "../stores/state-store";
import type { VectorIndex } from "../stores/vector-index";
import { withNeighbourLists } from "../stores/vector-neighbour-lists";
import { BUNDLE_FILES, readMatrix, type BundleManifest } from "../training/bundle";
import { silentProgress, type Progress } from "../util/progress";

/**
 * How a FeedRuntime is assembled from a model bundle, once for every runtime there is: the server's (src/app/
 * runtime.ts: live stores, events, hot swap) and the offline runs' point-in-time one (src/app/offline-recommend.ts:
 * the funnel evaluation). Both open the bundle's vector indexes and models here, over the stores they bring, so an
 * offline run serves what the server serves — content neighbour lists, ONNX sessions, micro-batching and all.
 *
 *   model files → vector indexes (bulk-loaded; content seeds from neighbour lists) → ONNX sessions and models over
 *   the given state store → the FeedRuntime over catalog, state, graph, vectors and models
 */

/** Releases what a runtime opened, newest first, reporting (not throwing) what fails to close. */
export type Closers = Array<() => Promise<unknown> | unknown>;

/** Runs closers in order, each once; a failing one is reported and the rest still run. */
export async function releaseAll(closers: Closers, onError: (e: unknown, where: string) => void): Promise<void> {
  for (const close of closers) {
    try {
      await close();
    } catch (err) {
      onError(err, "close");
    }
  }
}

/**
 * Where a bundle's model files are and what they declare. A served bundle's manifest names them
 * ({@link bundleModelFiles}); a training run's evaluation folder holds the model files alone, under their standard
 * names ({@link folderModelFiles}).
 */
export interface BundleModelFiles {
  /** Reported in pages and traces. */
  version: string;
  userTower: string;
  ranker: string;
  /** Ranker heads to serve. @default every output of the model */
  rankerHeads?: readonly string[];
  /** Bundles from before the live catalogue ship none. @default none */
  videoTower?: string;
  /** A JSON list of the video ids: the rows of the embedding matrices. */
  videoIds: string;
  /** An embedding matrix, absent when the bundle has none. `dim` undefined: read off the file size. */
  twoTower?: { file: string; dim?: number };
  content?: { file: string; dim?: number };
}

export function bundleModelFiles(manifest: BundleManifest): BundleModelFiles {
  const { models, embeddings } = manifest;
  return {
    version: manifest.version,
    userTower: models.userTower.file,
    ranker: models.ranker.file,
    rankerHeads: models.ranker.heads,
    videoTower: models.videoTower?.file,
    videoIds: embeddings.videoIds,
    // A manifest without a width declares no matrix (sources that need it are disabled).
    twoTower: embeddings.twoTower && embeddings.twoTowerDim ? { file: embeddings.twoTower, dim: embeddings.twoTowerDim } : undefined,
    content: embeddings.content && embeddings.contentDim ? { file: embeddings.content, dim: embeddings.contentDim } : undefined,
  };
}

/** The model files of a folder without a manifest (a training run's evaluation models), under `version`. */
export function folderModelFiles(bundleDir: string, version: string): BundleModelFiles {
  const videoIds = join(bundleDir, BUNDLE_FILES.videoIds);
  if (!existsSync(videoIds)) throw new ReelfeedError("BAD_BUNDLE", `${bundleDir}: missing ${BUNDLE_FILES.videoIds}`, { path: videoIds });
  return {
    version,
    userTower: BUNDLE_FILES.userTower,
    ranker: BUNDLE_FILES.ranker,
    videoTower: BUNDLE_FILES.videoTower,
    videoIds: BUNDLE_FILES.videoIds,
    twoTower: { file: BUNDLE_FILES.videoEmbeddings },
    content: { file: BUNDLE_FILES.contentEmbeddings },
  };
}

async function readVideoIds(bundleDir: string, files: BundleModelFiles): Promise<string[]> {
  const path = join(bundleDir, files.videoIds);
  const ids = JSON.parse(await readFile(path, "utf8")) as unknown;
  if (!Array.isArray(ids)) throw new ReelfeedError("BAD_BUNDLE", `${path}: expected a JSON list of ids`, { path });
  return ids as string[];
}

/**
 * One of the bundle's embedding matrices in an index of its own, or undefined when the bundle has none. On Qdrant
 * one collection per bundle version: a restart of the same version finds its vectors in place and skips the upload;
 * `activate` then moves the alias to it and removes superseded versions (the previous one stays for replicas still
 * serving it). The embedded index is always bulk-loaded (one copy + index build).
 */
async function openEmbeddings(
  config: ReelfeedConfig,
  bundleDir: string,
  spec: { key: string; name: string; matrix?: { file: string; dim?: number } },
  videoIds: readonly string[],
  options: { version: string; activate: boolean; progress: Progress },
): Promise<VectorIndex | undefined> {
  const { version, activate, progress } = options;
  const path = spec.matrix && join(bundleDir, spec.matrix.file);
  if (!path || !existsSync(path) || (spec.matrix?.dim === undefined && videoIds.length === 0)) {
    progress.log(`vectors: the bundle has no ${spec.key} embeddings; sources that need them are disabled`);
    return undefined;
  }
  const dim = spec.matrix?.dim ?? (await stat(path)).size / 4 / videoIds.length;
  if (!Number.isInteger(dim) || dim < 1) throw new ReelfeedError("BAD_BUNDLE", `${path}: size does not fit ${videoIds.length} videos`, { path });
  const step = progress.step(`vectors: ${spec.key} ${videoIds.length} × ${dim}`);
  const matrix = await readMatrix(path, videoIds.length, dim);
  const index = await openVectorIndex(config, { name: spec.name, version, dim });
  try {
    if (index.kind === "embedded" || (await index.size()) !== videoIds.length) await loadVectors(index, videoIds, matrix);
    if (activate) {
      const removed = await activateVectorIndex(index);
      if (removed.length > 0) progress.log(`vectors: removed superseded collections ${removed.join(", ")}`);
    }
  } catch (err) {
    await index.close().catch(() => undefined);
    throw err;
  }
  step.done(`${index.kind}`);
  return index;
}

/**
 * The bundle's vector indexes, each pushed onto `closers`: the two-tower index, and the content index answering
 * seeds from the bundle's precomputed neighbour lists where they can (bundles from before them search).
 */
export async function openVectors(
  config: ReelfeedConfig,
  bundleDir: string,
  files: BundleModelFiles,
  closers: Closers,
  progress: Progress = silentProgress,
): Promise<FeedRuntime["vectors"]> {
  const videoIds = await readVideoIds(bundleDir, files);
  const opts = { version: files.version, activate: true, progress };
  const out: FeedRuntime["vectors"] = {};
  const twoTower = await openEmbeddings(config, bundleDir, { key: "twoTower", name: "videos", matrix: files.twoTower }, videoIds, opts);
  if (twoTower) {
    closers.push(() => twoTower.close());
    out.twoTower = twoTower;
  }
  const content = await openEmbeddings(config, bundleDir, { key: "content", name: "content", matrix: files.content }, videoIds, opts);
  if (content) {
    // Closed through the neighbour-list wrapper once there is one (it closes its own delta index too).
    let served: VectorIndex = content;
    closers.push(() => served.close());
    const listsPath = join(bundleDir, BUNDLE_FILES.contentNeighbours);
    if (existsSync(listsPath)) served = withNeighbourLists(content, await loadContentNeighbours(listsPath));
    out.content = served;
  }
  return out;
}

/**
 * One bundle's models: feature artifacts, the ONNX user tower, ranker and video tower, and (unless given) its
 * two-tower video vectors in an index of their own. Every runtime's models are opened here — the server's active
 * bundle, a hot-swapped one, a canary variant's, an offline run's — so they are served the same way.
 */
export interface ModelSet {
  bundleDir: string;
  files: BundleModelFiles;
  artifacts: FeatureArtifacts;
  userTower: OnnxUserTowerModel;
  ranker: OnnxRankerModel;
  /** The bundle's two-tower index (the one given, or its own). */
  twoTower?: VectorIndex;
  sessions: { userTower?: OnnxRuntimeSession; ranker?: OnnxRuntimeSession; videoTower?: OnnxRuntimeSession };
  /**
   * Identifies the video tower with the feature artifacts its rows are built from (a digest of both files): vectors
   * carried in the catalogue log are reused only by processes whose tower has the same (video-embedder.ts).
   */
  videoTowerFingerprint?: string;
  /** Releases the sessions and the index this set opened. Idempotent. */
  close(): Promise<void>;
}

export interface OpenModelSetOptions {
  bundleDir: string;
  files: BundleModelFiles;
  /** Sessions (ranking.executionProviders, inferenceThread, onnxThreads), micro-batching, backends of its own index. */
  config: ReelfeedConfig;
  /** Where the ranker reads video aggregates (the runtime's state store). */
  state: Pick<StateStore, "getVideos">;
  /** Already loaded. @default loaded from bundleDir */
  artifacts?: FeatureArtifacts;
  /** Serve this two-tower index (not closed by the set). @default the bundle's vectors, bulk-loaded into a new index */
  twoTower?: VectorIndex;
  /** Open the video tower, which embeds videos added at serving time (the live catalogue). @default true */
  videoTower?: boolean;
  progress?: Progress;
  onError?: (error: unknown, where: string) => void;
}

export async function openModelSet(options: OpenModelSetOptions): Promise<ModelSet> {
  const { bundleDir, files, config, state, videoTower = true, progress = silentProgress, onError = () => {} } = options;
  const owned: Closers = [];
  try {
    const artifacts = options.artifacts ?? (await loadFeatureArtifacts(join(bundleDir, BUNDLE_FILES.features)));
    let twoTower = options.twoTower;
    if (!twoTower) {
      // Beside the serving index (a swap, a canary): the alias stays where it is until this set serves.
      const videoIds = await readVideoIds(bundleDir, files);
      twoTower = await openEmbeddings(config, bundleDir, { key: "twoTower", name: "videos", matrix: files.twoTower }, videoIds, { version: files.version, activate: false, progress });
      const own = twoTower;
      if (own) owned.push(() => own.close());
    }
    const sessions: ModelSet["sessions"] = {};
    let videoTowerFingerprint: string | undefined;
    const openSession = async (name: string, file: string) => {
      const open = config.ranking.inferenceThread === "worker" ? createOnnxWorkerSession : createOnnxRuntimeSession;
      const session = await open({
        model: join(bundleDir, file),
        executionProviders: config.ranking.executionProviders,
        intraOpNumThreads: config.ranking.onnxThreads,
        name,
        log: (m) => progress.log(m),
      });
      owned.push(() => session.release());
      return session;
    };
    sessions.userTower = await openSession("user-tower", files.userTower);
    const userTower: OnnxUserTowerModel = await createOnnxUserTowerModel({
      session: sessions.userTower,
      artifacts,
      microBatchWindowMs: config.ranking.microBatchWindowMs,
      maxBatchRows: config.ranking.maxBatchRows,
    });
    sessions.ranker = await openSession("ranker", files.ranker);
    const ranker: OnnxRankerModel = createOnnxRankerModel({
      session: sessions.ranker,
      artifacts,
      version: files.version,
      heads: files.rankerHeads,
      // Video aggregates are ranker features; when the state store is down the ranker still scores with the rest
      // (the request already reports STATE_UNAVAILABLE) instead of the whole page falling back to source order.
      state: {
        getVideos: (ids) => state.getVideos(ids).catch((err: unknown) => (onError(err, "ranker video features"), new Map())),
      },
      microBatchWindowMs: config.ranking.microBatchWindowMs,
      maxBatchRows: config.ranking.maxBatchRows,
      mergeRequests: config.ranking.mergeRankerRequests,
    });
    progress.log(`models ${files.version}: user tower dim ${userTower.dim} and ranker [${ranker.heads.join(", ")}] on ${ranker.executionProvider}`);
    // The video tower embeds videos added after training; bundles from before it ship none (no two-tower vector
    // for a new upload then: the other sources still find it).
    if (videoTower) {
      if (files.videoTower && existsSync(join(bundleDir, files.videoTower))) {
        sessions.videoTower = await openSession("video-tower", files.videoTower);
        videoTowerFingerprint = await fingerprintFiles("video-tower", [join(bundleDir, files.videoTower), join(bundleDir, BUNDLE_FILES.features)]);
      } else progress.log("! the bundle ships no video tower: videos added at serving time get no two-tower vector (retrain to ship one)");
    }
    let closing: Promise<void> | undefined;
    return {
      videoTowerFingerprint,
      bundleDir,
      files,
      artifacts,
      userTower,
      ranker,
      twoTower,
      sessions,
      close: () => (closing ??= releaseAll([...owned].reverse(), onError)),
    };
  } catch (err) {
    await releaseAll([...owned].reverse(), onError);
    throw err;
  }
}

/** `label:` and the first 32 hex digits of the SHA-256 of the files' bytes, in order. */
async function fingerprintFiles(label: string, paths: readonly string[]): Promise<string> {
  const h = createHash("sha256");
  for (const path of paths) h.update(await readFile(path));
  return `${label}:${h.digest("hex").slice(0, 32)}`;
}

/** `base` served by `set`'s models: its two-tower index, user tower, ranker, item neighbours and version. */
export function servedBy(base: Omit<FeedRuntime, "models" | "modelVersion">, set: ModelSet): FeedRuntime {
  return {
    ...base,
    vectors: { ...base.vectors, twoTower: set.twoTower },
    models: { userTower: set.userTower, ranker: set.ranker, neighbours: set.artifacts.neighbours },
    modelVersion: set.files.version,
  };
}

export interface AssembleFeedRuntimeOptions extends Omit<OpenModelSetOptions, "twoTower" | "state"> {
  catalog: Catalog;
  /**
   * The real-time state the runtime reads, the ranker's video aggregates included: the server's live store, or an
   * offline run's point-in-time one. Opened and closed by the caller, as is `graph`.
   */
  state: StateStore;
  graph: GraphStore;
  /** What is opened here (vector indexes, then the model set) is pushed onto this, for the caller to release. */
  closers: Closers;
}

export interface AssembledFeedRuntime {
  runtime: FeedRuntime;
  /** The bundle's vector indexes (also in `runtime.vectors`). */
  vectors: FeedRuntime["vectors"];
  /** The models `runtime` serves, over `vectors.twoTower`. */
  models: ModelSet;
}

/** The one FeedRuntime assembly: the bundle's vectors and models over the stores given (see the top of this file). */
export async function assembleFeedRuntime(options: AssembleFeedRuntimeOptions): Promise<AssembledFeedRuntime> {
  const { catalog, state, graph, closers, ...rest } = options;
  const vectors = await openVectors(rest.config, rest.bundleDir, rest.files, closers, rest.progress);
  const models = await openModelSet({ ...rest, state, twoTower: vectors.twoTower });
  closers.push(() => models.close());
  return { runtime: servedBy({ catalog, state, graph, vectors }, models), vectors, models };
}
