/**
 * Bundles for the feed benchmark (bench/feed-bench.ts): one small bundle really trained on the synthetic platform,
 * and, per catalog size N, a scaled variant of it whose catalog and embedding matrices hold N videos, so the real
 * serving code (loadRuntime → vector indexes → pipeline → GraphQL) serves a large catalog without training on one.
 *
 * The extra videos are drawn like the synthetic generator's (creators with heavy-tailed output, per-topic tags,
 * three duration formats, half back catalogue and half recent uploads, a few policy flags / age limits / region
 * blocks), each derived from a "parent" video of the trained catalog: same category, language and tag pool, and its
 * vectors are the parent's plus small Gaussian noise, rescaled to the parent's norm. So the ANN index sees realistic
 * clustered vectors, not model outputs — the serving cost is the same, the recommendations are not meaningful.
 *
 * Everything is deterministic from the seed: the parent process writes the matrices, the server child rebuilds the
 * same videos (extendCatalog) for `catalogOverride`, and both agree row for row.
 */
import { existsSync } from "node:fs";
import { copyFile, link, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { configSchema } from "../src/config";
import { createCatalog, type Catalog } from "../src/data/catalog";
import { loadDataset } from "../src/data/load-dataset";
import type { Creator, Dataset, PolicyFlag, Video } from "../src/data/types";
import { NEIGHBOURS_FILE } from "../src/features/artifacts";
import { fitContentNeighbours, saveContentNeighbours } from "../src/features/content-neighbours";
import { BUNDLE_FILES, readManifest, readMatrix, writeMatrix, type BundleManifest } from "../src/training/bundle";
import { writeDirAtomic } from "../src/util/fs";
import type { Progress } from "../src/util/progress";
import { seededRandom } from "../src/util/random";

/** The trained base: small on purpose (the benchmark measures serving, not model quality). */
export const BASE_PLATFORM = { users: 1000, videos: 2000, days: 14, seed: 7 } as const;

/** The default funnel's sources and quotas (config.ts), as `npm start` serves it: what the feed benchmarks run. */
export const DEFAULT_SOURCES: ReadonlyArray<{ name: string; quota: number }> = configSchema.parse({}).pipeline.sources.map(({ name, quota }) => ({ name, quota }));

const DAY_MS = 86_400_000;
const POLICY: readonly PolicyFlag[] = ["violence", "adult", "spam", "copyright", "misinformation"];
const COUNTRIES = ["US", "IN", "GB", "BR", "DE", "FR", "JP", "ES", "MX", "CA"];
/** Bump when extendCatalog or the vector derivation changes: cached scaled bundles are then rebuilt. */
const SCALE_FORMAT = "feed-bench-scale/4";

/** Trains the base bundle into `dir` unless a bundle is already there (reruns skip training). */
export async function ensureBaseBundle(dir: string, progress: Progress): Promise<BundleManifest> {
  if (existsSync(join(dir, BUNDLE_FILES.manifest))) return readManifest(dir);
  const { trainBundle } = await import("../src/training/train-pipeline");
  const { users, videos, days, seed } = BASE_PLATFORM;
  progress.log(`training the base bundle once (${users} users, ${videos} videos, ${days} days; 1 epoch, no refit) → ${dir}`);
  const { manifest } = await trainBundle({
    synthetic: { users, videos, days, seed },
    out: dir,
    refit: false,
    twoTower: { epochs: 1 },
    ranker: { epochs: 1, maxExamples: 50_000 },
    ks: [20, 100],
    progress,
  });
  return manifest;
}

export interface ExtendedCatalog {
  /** The base videos followed by the new ones (ids `x<i>`), N in all. */
  videos: Video[];
  /** The base creators followed by new ones (ids `xc<j>`). */
  creators: Creator[];
  /** parents[i − base] = index in the base catalog of the video new video i was derived from. */
  parents: Int32Array;
}

/**
 * The catalogue a scaled bundle serves: the bundle's own data extended to `size` videos. The bench server
 * (feed-server.ts) and the in-process benchmarks (feed-micro and its kin) load it here, so both serve the same one
 * for the same seed (feed-bench passes 1).
 */
export async function loadScaledCatalog(bundleDir: string, size: number, seed = 1): Promise<{ dataset: Dataset } & ExtendedCatalog & { catalog: Catalog }> {
  const { dataset } = await loadDataset(join(bundleDir, BUNDLE_FILES.data), { format: "generic" });
  const extended = extendCatalog(dataset, size, seed);
  return { dataset, ...extended, catalog: createCatalog({ videos: extended.videos, users: dataset.users, creators: extended.creators }) };
}

/** The base dataset's videos extended to `total` videos (see the file comment). Deterministic for (dataset, total, seed). */
export function extendCatalog(dataset: Pick<Dataset, "videos" | "creators" | "events">, total: number, seed = 1): ExtendedCatalog {
  const base = dataset.videos;
  if (!Number.isInteger(total) || total < base.length) throw new RangeError(`extendCatalog: total must be an integer ≥ ${base.length}, got ${total}`);
  const extra = total - base.length;
  const rng = seededRandom(`feed-bench:${seed}:${total}`);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  let startTs = Infinity;
  let endTs = -Infinity;
  for (const e of dataset.events) {
    if (e.ts < startTs) startTs = e.ts;
    if (e.ts > endTs) endTs = e.ts;
  }
  if (!Number.isFinite(startTs)) startTs = endTs = Date.UTC(2025, 0, 1);

  // Creators per category: the base ones (by their videos) plus new ones, about one per 25 videos like the
  // generator, each specialised in one category. Earlier creators in a list upload more (heavy tail).
  const categories = [...new Set(base.map((v) => v.category))].sort();
  const byCategory = new Map<string, string[]>(categories.map((c) => [c, []]));
  for (const v of base) {
    const list = byCategory.get(v.category)!;
    if (!list.includes(v.creatorId)) list.push(v.creatorId);
  }
  const creators: Creator[] = [...dataset.creators];
  const newCreators = Math.round(extra / 25);
  for (let j = 0; j < newCreators; j++) {
    const category = categories[Math.floor(rng() * categories.length)];
    const country = COUNTRIES[Math.floor(rng() * COUNTRIES.length)];
    creators.push({ id: `xc${j}`, name: `${category} creator ${j}`, country, createdAt: startTs - (400 + Math.floor(rng() * 1500)) * DAY_MS });
    byCategory.get(category)!.push(`xc${j}`);
  }

  const videos: Video[] = base.slice();
  const parents = new Int32Array(extra);
  const span = Math.max(DAY_MS, endTs - startTs);
  for (let i = 0; i < extra; i++) {
    const p = Math.floor(rng() * base.length);
    parents[i] = p;
    const parent = base[p];
    const pool = byCategory.get(parent.category)!;
    const creatorId = pool[Math.floor(pool.length * rng() * rng())];
    const kind = rng();
    const format = kind < 0.35 ? 35 : kind < 0.8 ? 420 : 1800;
    const tags = parent.tags.filter(() => rng() < 0.8);
    const video: Video = {
      id: `x${base.length + i}`,
      creatorId,
      title: `${parent.title} ${i}`,
      tags: tags.length ? tags : parent.tags.slice(0, 1),
      category: parent.category,
      language: parent.language,
      durationSec: Math.max(5, Math.round(format * Math.exp(0.4 * normal()))),
      // Half back catalogue (the year before the data), half uploaded while it was recorded.
      uploadedAt: rng() < 0.5 ? startTs - 1 - Math.floor(rng() * 365 * DAY_MS) : startTs + Math.floor(rng() * span),
    };
    if (rng() < 0.03) video.ageRestricted = true;
    if (rng() < 0.02) video.policyFlags = [POLICY[Math.floor(rng() * POLICY.length)]];
    if (rng() < 0.02) video.blockedRegions = [COUNTRIES[Math.floor(rng() * COUNTRIES.length)]];
    videos.push(video);
  }
  return { videos, creators, parents };
}

/** The parent's row plus Gaussian noise (σ = `noise`·‖parent‖/√dim per component), rescaled to the parent's norm. */
function deriveMatrix(baseMatrix: Float32Array, dim: number, baseCount: number, parents: Int32Array, seed: string, noise: number): Float32Array {
  const rng = seededRandom(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const out = new Float32Array((baseCount + parents.length) * dim);
  out.set(baseMatrix.subarray(0, baseCount * dim));
  const row = new Float64Array(dim);
  for (let i = 0; i < parents.length; i++) {
    const po = parents[i] * dim;
    let pn = 0;
    for (let d = 0; d < dim; d++) pn += baseMatrix[po + d] ** 2;
    pn = Math.sqrt(pn);
    const sigma = (noise * pn) / Math.sqrt(dim);
    let n = 0;
    for (let d = 0; d < dim; d++) {
      row[d] = baseMatrix[po + d] + sigma * normal();
      n += row[d] ** 2;
    }
    const scale = n > 0 ? pn / Math.sqrt(n) : 0;
    const o = (baseCount + i) * dim;
    for (let d = 0; d < dim; d++) out[o + d] = row[d] * scale;
  }
  return out;
}

/** Hard link when possible (same file system, no copy), else a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

export interface ScaledBundleOptions {
  baseDir: string;
  /** Folder of the scaled bundle. */
  dir: string;
  /** Videos in the scaled catalog (≥ the base catalog). */
  total: number;
  /** The base dataset (the bundle's data/). */
  dataset: Dataset;
  /** @default 1 */
  seed?: number;
  /** Relative noise of derived vectors. @default 0.35 */
  noise?: number;
  progress: Progress;
}

/**
 * Writes (or finds, cached) the scaled bundle: the base bundle's models (video tower included), features and data/ linked in, video-ids.json,
 * both embedding matrices with `total` rows and the content neighbour lists over them. The manifest is the base one (same version: same models).
 */
export async function ensureScaledBundle(options: ScaledBundleOptions): Promise<void> {
  const { baseDir, dir, total, dataset, seed = 1, noise = 0.35, progress } = options;
  const manifest = await readManifest(baseDir);
  const marker = { format: SCALE_FORMAT, base: manifest.version, total, seed, noise };
  const markerPath = join(dir, "scaled.json");
  if (existsSync(markerPath) && JSON.stringify(JSON.parse(await readFile(markerPath, "utf8"))) === JSON.stringify(marker)) return;
  const step = progress.step(`scaled bundle: ${total.toLocaleString("en-US")} videos → ${dir}`);
  const baseIds = JSON.parse(await readFile(join(baseDir, manifest.embeddings.videoIds), "utf8")) as string[];
  const { videos, parents } = extendCatalog(dataset, total, seed);
  // The matrices follow the bundle's id order; the derived rows need their parent's row in it.
  const baseRow = new Map(baseIds.map((id, i) => [id, i]));
  const parentRows = Int32Array.from(parents, (p) => {
    const row = baseRow.get(dataset.videos[p].id);
    if (row === undefined) throw new Error(`base video ${dataset.videos[p].id} has no embedding row`);
    return row;
  });
  const ids = [...baseIds, ...videos.slice(dataset.videos.length).map((v) => v.id)];
  await rm(dir, { recursive: true, force: true });
  await writeDirAtomic(dir, async (tmp) => {
    // The video tower too: the live catalogue (bench:feed --mode catalog-load) embeds new uploads with it.
    const models = [manifest.models.userTower.file, manifest.models.ranker.file, ...(manifest.models.videoTower ? [manifest.models.videoTower.file] : [])];
    // The item neighbours beside features.json: without them the Neighbours source and the ranker's affinity
    // columns sit idle and the bench measures a funnel nobody serves. Derived videos have none (no co-engagement
    // yet), as new uploads.
    for (const file of [BUNDLE_FILES.manifest, BUNDLE_FILES.features, NEIGHBOURS_FILE, ...models, BUNDLE_FILES.contentModel]) {
      if (existsSync(join(baseDir, file))) await linkOrCopy(join(baseDir, file), join(tmp, file));
    }
    await symlink(resolve(baseDir, BUNDLE_FILES.data), join(tmp, BUNDLE_FILES.data), "dir");
    await writeFile(join(tmp, manifest.embeddings.videoIds), JSON.stringify(ids));
    const specs = [
      { file: manifest.embeddings.twoTower, dim: manifest.embeddings.twoTowerDim, salt: "two-tower" },
      { file: manifest.embeddings.content, dim: manifest.embeddings.contentDim, salt: "content" },
    ];
    for (const spec of specs) {
      if (!spec.file || !spec.dim || !existsSync(join(baseDir, spec.file))) continue;
      const baseMatrix = await readMatrix(join(baseDir, spec.file), baseIds.length, spec.dim);
      const matrix = deriveMatrix(baseMatrix, spec.dim, baseIds.length, parentRows, `${spec.salt}:${seed}:${total}`, noise);
      await writeMatrix(join(tmp, spec.file), matrix);
      // The content neighbour lists a trained bundle ships, over the scaled catalogue (the Content source reads them).
      if (spec.salt === "content") await saveContentNeighbours(join(tmp, BUNDLE_FILES.contentNeighbours), await fitContentNeighbours(ids, matrix, spec.dim, { progress }));
    }
    await writeFile(join(tmp, "scaled.json"), JSON.stringify(marker));
  });
  step.done();
}

/** Creates the parent folder of `dir` (writeDirAtomic needs it). */
export async function ensureParent(dir: string): Promise<void> {
  await mkdir(resolve(dir, ".."), { recursive: true });
}

/**
 * Resolves once `done()` holds (polled every 100 ms; at most `timeoutMs`, then it goes on): a benchmark waits for a
 * runtime's start-up work on other threads (the drift reference) so that none of it is measured as request CPU.
 */
export async function startUpWorkDone(done: () => boolean, timeoutMs = 300_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!done() && performance.now() < until) await new Promise((r) => setTimeout(r, 100));
}
