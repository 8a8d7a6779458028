import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ReelfeedError } from "../errors";
import { writeFileAtomic } from "../util/fs";

/**
 * A model bundle: everything the server needs to serve one trained version, in one folder.
 *
 *   manifest.json          this manifest (version, data fingerprint, config, metrics, file names)
 *   features.json          feature artifacts: vocabularies, normaliser statistics, bucket edges
 *   user-tower.onnx        the two-tower user tower
 *   video-tower.onnx       the two-tower video tower: embeds a video uploaded after training (the live catalogue)
 *   ranker.onnx            the multi-task ranker
 *   video-ids.json         catalog order of the two embedding matrices below
 *   video-embeddings.f32   two-tower video vectors, float32 little-endian, videos × dim
 *   content-model.json     TF-IDF + SVD model that embeds a new upload's text at serving time
 *   content-embeddings.f32 content vectors, float32 little-endian, videos × contentDim
 *   data/                  the catalog and history in the generic layout (serving bootstraps from it)
 *   report.json, report.md the evaluation on the time split
 */
export const BUNDLE_FORMAT = "reelfeed-bundle/1";

export const BUNDLE_FILES = {
  manifest: "manifest.json",
  features: "features.json",
  userTower: "user-tower.onnx",
  videoTower: "video-tower.onnx",
  ranker: "ranker.onnx",
  videoIds: "video-ids.json",
  videoEmbeddings: "video-embeddings.f32",
  contentModel: "content-model.json",
  contentEmbeddings: "content-embeddings.f32",
  /** Optional: bundles before it serve the Content source by searching. */
  contentNeighbours: "content-neighbours.bin",
  data: "data",
  report: "report.json",
  reportMd: "report.md",
} as const;

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  /** e.g. "20261121-2215-ml-3f2a9c": time, source and data fingerprint. */
  version: string;
  createdAt: string;
  /** Where the data came from, e.g. "movielens:/path" or "synthetic:users=1000,videos=2000,days=30,seed=7". */
  source: string;
  /** SHA-256 over the imported dataset (ids, timestamps, event types): same data → same fingerprint. */
  dataFingerprint: string;
  /** Whether the shipped models were refit on all data after evaluation. */
  refit: boolean;
  /** The training configuration used. */
  config: Record<string, unknown>;
  /** Headline metrics (from report.json). */
  metrics: Record<string, number>;
  models: {
    userTower: { file: string; dim: number; inputs: string[]; parityMaxAbsDiff: number };
    ranker: { file: string; heads: string[]; inputs: string[]; parityMaxAbsDiff: number };
    /**
     * Absent in bundles written before the live catalogue: a video added at serving time then gets no two-tower
     * vector (Fresh, Subscriptions, Trending and Content still find it).
     */
    videoTower?: { file: string; dim: number; inputs: string[]; parityMaxAbsDiff: number };
  };
  embeddings: { videoIds: string; twoTower: string; twoTowerDim: number; content: string; contentDim: number };
  timings: Record<string, number>;
}

export async function writeMatrix(path: string, matrix: Float32Array): Promise<void> {
  await writeFileAtomic(path, new Uint8Array(matrix.buffer, matrix.byteOffset, matrix.byteLength));
}

export async function readMatrix(path: string, rows: number, dim: number): Promise<Float32Array> {
  const buf = await readFile(path);
  if (buf.byteLength !== rows * dim * 4) {
    throw new ReelfeedError("BAD_BUNDLE", `${path}: expected ${rows}×${dim} float32 (${rows * dim * 4} bytes), found ${buf.byteLength} bytes`, { path });
  }
  // Copy into an aligned buffer: Buffer slices from the pool may be unaligned for Float32Array.
  const out = new Float32Array(rows * dim);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export async function readManifest(dir: string): Promise<BundleManifest> {
  const path = join(dir, BUNDLE_FILES.manifest);
  if (!existsSync(path)) throw new ReelfeedError("BAD_BUNDLE", `${resolve(dir)}: not a model bundle (no ${BUNDLE_FILES.manifest})`, { path });
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await readFile(path, "utf8")) as BundleManifest;
  } catch (err) {
    throw new ReelfeedError("BAD_BUNDLE", `${path}: invalid JSON (${(err as Error).message})`, { path });
  }
  if (manifest.format !== BUNDLE_FORMAT) {
    throw new ReelfeedError("BAD_BUNDLE", `${path}: unsupported bundle format ${JSON.stringify(manifest.format)} (expected ${BUNDLE_FORMAT})`, { path });
  }
  for (const file of [manifest.models.userTower.file, manifest.models.ranker.file, manifest.embeddings.videoIds, BUNDLE_FILES.features]) {
    if (!existsSync(join(dir, file))) throw new ReelfeedError("BAD_BUNDLE", `${resolve(dir)}: missing ${file}`, { path: join(dir, file) });
  }
  return manifest;
}
