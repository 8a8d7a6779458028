import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dataset, ReelEvent } from "../data/types";
import { loadDataset } from "../data/load-dataset";
import { generateSynthetic } from "../data/synthetic";
import { writeGenericDataset } from "../data/generic-writer";
import type { ValidationReport } from "../data/validate";
import { formatValidationReport } from "../data/validate";
import type { AggregateState } from "../features/replay";
import { concatBatches, takeRows, type FeatureBatch } from "../features/spec";
import { fitFeatureArtifacts, saveFeatureArtifacts, type FeatureArtifacts } from "../features/artifacts";
import { fitContentModel, saveContentModel, type ContentModel } from "../features/content-embeddings";
import { fitContentNeighbours, saveContentNeighbours } from "../features/content-neighbours";
import type { NeighbourLists } from "../features/neighbour-lists";
import { buildRankerRows, buildUserTowerRows, buildVideoTowerRows, rankerSpec, userTowerSpec, videoTowerSpec } from "../features/rows";
import { writeDirAtomic } from "../util/fs";
import { badFile, badInput } from "../errors";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";
import { BUNDLE_FILES, BUNDLE_FORMAT, writeMatrix, type BundleManifest } from "./bundle";
import { fitItemNeighbours } from "./item-neighbours-fit";
import { perUserTemporalSplit, type PerUserSplit } from "./warm-split";
import { DEFAULT_EASE_MAX_ITEMS } from "./baselines/ease-recommender";
import { DEFAULT_NEIGHBOUR_HALF_LIFE, topVideos, userAffinity, type ItemNeighbours } from "../features/item-neighbours";
import { RECENT_HISTORY, type RecentWatch } from "../features/aggregates";
import {
  buildAllExamples,
  buildCandidateRankerExamples,
  concatRankerExamples,
  rankerColdStart,
  seededRandom,
  selectRankerExamples,
  selectTwoTowerExamples,
  RANKER_HEADS,
  UNIFORM_NEGATIVE_SHARE,
  type AllExamples,
  type RankerExamples,
} from "./examples";
import { initTf } from "./tf-backend";
import { trainTwoTower, type TwoTowerModel } from "./two-tower";
import { trainRanker, type RankerModel, type RankerWeights } from "./ranker";
import { exportRankerOnnx, runOnnx } from "./onnx-export";
import { timeSplit, positiveInteractions, positivesByUser, seenByUser } from "./split";
import { interactionsFromPositives, type Interaction, type Recommender } from "./baselines/recommender";
import { createPopularityRecommender } from "./baselines/popularity-recommender";
import { createRandomRecommender } from "./baselines/random-recommender";
import { createItemKnnRecommender } from "./baselines/item-knn-recommender";
import { createEaseRecommender } from "./baselines/ease-recommender";
import { evaluateRetrieval, evaluateRanker } from "./evaluate";
import { coverageSection, writeReportFiles, type EvaluationReport, type WarmProtocolReport } from "./report";
import { topKIndices } from "./baselines/top-k";

/**
 * The offline pipeline, end to end: import → validate → split by time → features → train (two-tower, multi-task
 * ranker, content embeddings) → export ONNX (with a parity check on real rows) → evaluate against baselines →
 * refit on all data → write the bundle atomically.
 */

export interface TrainOptions {
  /** Folder to import (MovieLens or generic layout). Either this or `synthetic`. */
  data?: string;
  format?: "movielens" | "generic";
  synthetic?: { users: number; videos: number; days: number; seed?: number };
  /** Bundle folder to write. */
  out: string;
  /** Refit the shipped models on all data after evaluating on the split. @default true */
  refit?: boolean;
  /** @default { validation: 0.1, test: 0.1 } */
  split?: { validation: number; test: number };
  /** Two-tower settings. @default TWO_TOWER_DEFAULTS */
  twoTower?: Partial<typeof TWO_TOWER_DEFAULTS>;
  /** Ranker settings. @default RANKER_DEFAULTS */
  ranker?: Partial<typeof RANKER_DEFAULTS>;
  /** Item-neighbour settings. @default NEIGHBOUR_DEFAULTS */
  neighbours?: Partial<typeof NEIGHBOUR_DEFAULTS>;
  /** Content embedding width. @default 64 */
  contentDim?: number;
  /** Retrieval cut-offs. @default [10, 20, 50, 100, 500] */
  ks?: number[];
  /** Run the warm protocol (per-user temporal hold-out; its validation also tunes EASE's λ). @default true */
  warmProtocol?: boolean;
  /** Copy the dataset into the bundle (data/) so serving can bootstrap from it. @default true */
  includeData?: boolean;
  seed?: number;
  progress?: Progress;
  /**
   * Extra retrieval models to evaluate beside the built-ins (e.g. the full serving funnel). Called once, with the
   * evaluation-phase models (fitted before the validation cut, refit or not) written to a temporary bundle-shaped
   * folder; a returned model with a `close()` is closed after the evaluation, and the folder is removed.
   */
  extraRecommenders?: (ctx: EvaluationContext) => Promise<Recommender[]>;
}

export interface EvaluationContext {
  dataset: Dataset;
  /** A folder with the evaluation models' files, named as in a bundle (BUNDLE_FILES; no manifest, no data). */
  bundleDir: string;
  /** History before this time is known at test time. */
  testFrom: number;
}

export interface TrainResult {
  manifest: BundleManifest;
  report: EvaluationReport;
  validation: ValidationReport;
}

interface FittedModels {
  artifacts: FeatureArtifacts;
  /** `neighbours`: each video's nearest by content embedding (features/content-neighbours.ts), shipped for the Content source. */
  content: { model: ContentModel; matrix: Float32Array; dim: number; neighbours: NeighbourLists };
  twoTower: TwoTowerModel;
  ranker: RankerModel;
  videoIds: string[];
  videoMatrix: Float32Array;
  examples: { twoTower: number; ranker: number; rankerNegatives: string };
  /** The ranker's training labels: the base rates the report compares against. */
  rankerTrain: { labels: RankerExamples["labels"]; masks: RankerExamples["masks"] };
  /** Subtracted from the click head's logit in the exported ranker (see {@link clickLogitOffset}). */
  clickLogitOffset: number;
  /** Real rows the ONNX exports are checked on. */
  paritySample: { users: FeatureBatch; ranker: FeatureBatch };
}

/** Item-neighbour settings (item-neighbours-fit.ts); λ and the half-life are chosen on validation by the warm protocol when it runs. */
export const NEIGHBOUR_DEFAULTS = { k: 100, lambda: 500, maxItems: DEFAULT_EASE_MAX_ITEMS, halfLife: DEFAULT_NEIGHBOUR_HALF_LIFE };

/** Two-tower settings; see two-tower.ts for what each does. Chosen on MovieLens-small (docs/training.md). */
export const TWO_TOWER_DEFAULTS = {
  dim: 64,
  hidden: [128] as number[],
  /**
   * Epochs, learning rate, temperature and cold-start share were chosen together on the warm protocol's validation
   * slice (cut from train; docs/training.md): NDCG@20 0.132 with 3 epochs at 0.003, temperature 0.07 and 30 % cold
   * rows, 0.158 with these. The fourth pass fits the 5-minute `npm run train` budget because embedding bags became
   * one host-side op (tower-network.ts embeddingBagMean).
   */
  epochs: 4,
  batchSize: 512,
  temperature: 0.1,
  learningRate: 0.006,
  logQCorrection: true,
  /** Share of examples trained as a cold user (no history, OOV id). */
  coldStartRate: 0.15,
  /** Share of (warm) examples whose user id is replaced by an OOV bucket. */
  userIdDropout: 0.1,
  /** Per-video bias coordinate (embeddings are dim + 1 wide). */
  itemBias: true,
  /** Fixed log-popularity prior in the bias coordinate (needs itemBias). */
  popularityPrior: true,
};

/** Ranker settings. Chosen on MovieLens-small by the funnel's Recall@20 / NDCG@20 (docs/training.md). */
export const RANKER_DEFAULTS = {
  /** One pass: the rows are many (candidates + newcomers) and `npm run train` must stay within 5 minutes. */
  epochs: 1,
  batchSize: 512,
  /** Rows kept (without impressions: candidate rows; the newcomer rows come on top, newcomerShare). */
  maxExamples: 60_000,
  learningRate: 0.003,
  /** Sampled unclicked rows per watch when the data has no impressions. */
  negativesPerPositive: 3,
  /**
   * Share of the rows (without impressions) that are newcomer rows: cold users' watches against sampled videos.
   * 0.3 left cold users below the popularity baseline (NDCG@20 0.295 vs 0.371 on MovieLens), 0.5 reached 0.327.
   */
  newcomerShare: 0.5,
  /** Item-neighbour proposals per query in the candidate rows (examples.ts buildCandidateRankerExamples). */
  candidatesPerQuery: 100,
  /**
   * Each user's latest share of interactions labels the ranker's candidate rows; the earlier part fits the item
   * neighbours their affinity features are computed with (stacking: a model must not grade the very interactions
   * it was fitted on, or the ranker learns to trust affinity far more than it deserves on new ones).
   */
  labelledShare: 0.2,
  /** Share of those drawn uniformly from the uploaded catalog, the rest by popularity (examples.ts). */
  uniformNegativeShare: UNIFORM_NEGATIVE_SHARE,
  /** With impressions: share of rows trained as the same user without history (examples.ts rankerColdStart). */
  coldStartRate: 0.3,
  /** Share of the other rows whose user id is replaced by an OOV bucket. */
  userIdDropout: 0.1,
};

const POSITIVE_RULE_TEXT = "a watch of ≥ 50 % or ≥ 30 s, progress ≥ 50 %, a like, share or save (split.ts isPositive)";

export function datasetFingerprint(dataset: Dataset): string {
  const h = createHash("sha256");
  for (const v of dataset.videos) h.update(`v${v.id}\n`);
  for (const u of dataset.users) h.update(`u${u.id}\n`);
  for (const e of dataset.events) h.update(`${e.id}|${e.type}|${e.userId}|${e.ts}\n`);
  return h.digest("hex");
}

async function loadInput(options: TrainOptions, progress: Progress): Promise<{ dataset: Dataset; validation: ValidationReport; source: string }> {
  if (options.synthetic) {
    const { users, videos, days, seed = 7 } = options.synthetic;
    progress.log(`generating a synthetic platform: ${users} users, ${videos} videos, ${days} days (seed ${seed})`);
    const { dataset } = generateSynthetic({ users, videos, days, seed, progress });
    const { validateDataset } = await import("../data/validate");
    const { dataset: clean, report } = validateDataset(dataset, {});
    return { dataset: clean, validation: report, source: `synthetic:users=${users},videos=${videos},days=${days},seed=${seed}` };
  }
  if (!options.data) throw badInput("data", "train needs --data <folder> or --synthetic");
  const { dataset, report } = await loadDataset(options.data, { format: options.format, progress });
  if (dataset.events.length === 0) throw badFile(options.data, "no usable events after validation: nothing to train on");
  return { dataset, validation: report, source: dataset.source };
}

/** What both fits share: one replay's examples and snapshots, and the content model (no labels, no cut). */
interface Shared {
  all: AllExamples;
  /** Cut → the aggregates before it (the split cuts); Infinity → the final state. */
  stateAt: (until: number) => AggregateState;
  content: FittedModels["content"];
}

/**
 * The two neighbour models of one fit: `full` on every positive before `until` (shipped, and what serving computes
 * affinity with), and `early` on each user's interactions but the latest `labelledShare`, whose events
 * (`labelled`) are the ranker's training examples (see RANKER_DEFAULTS.labelledShare).
 */
function fitNeighbourModels(dataset: Dataset, until: number, labelledShare: number, settings: typeof NEIGHBOUR_DEFAULTS, progress: Progress, label: string) {
  const before = until === Infinity ? dataset.events : dataset.events.filter((e) => e.ts < until);
  const inner = perUserTemporalSplit(before, { holdout: labelledShare, minTrain: 1 });
  const t0 = Date.now();
  const early = fitItemNeighbours(interactionsFromPositives(positiveInteractions(inner.train)), settings);
  const full = fitItemNeighbours(interactionsFromPositives(positiveInteractions(before)), settings);
  progress.log(
    `${label}: item neighbours (EASE λ ${settings.lambda}, ${full.itemIds.length} videos × ${settings.k}) fitted twice in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  // Per user, their labelled slice: when it begins, and what they engaged with in it (the positives).
  const labelled = new Map<string, { from: number; positives: ReadonlySet<string> }>();
  for (const e of inner.heldOut) {
    const positives = inner.test.get(e.userId);
    if (positives && !labelled.has(e.userId)) labelled.set(e.userId, { from: e.ts, positives });
  }
  return { early: { model: early, history: inner.train, labelled }, full: { model: full } };
}

async function fitModels(dataset: Dataset, until: number, shared: Shared, options: TrainOptions, progress: Progress, label: string): Promise<FittedModels> {
  const seed = options.seed ?? 7;
  const step = (name: string) => `${label}: ${name}`;
  progress.log(`${label}: fitting feature artifacts on events before ${new Date(until === Infinity ? Date.now() : until).toISOString()}`);
  const artifacts = fitFeatureArtifacts({ dataset, until });

  const videoIds = dataset.videos.map((v) => v.id);
  const now = until === Infinity ? dataset.events.reduce((m, e) => Math.max(m, e.ts), 0) + 1 : until;
  // The video tower sees each video's own popularity as of the cut: static item features, the usual two-tower
  // trade-off (in-batch negatives need one row per video, so there is no per-example time for them).
  const atCut = shared.stateAt(until);
  const videoRows = buildVideoTowerRows(artifacts, dataset.videos.map((video) => ({ video, videoAgg: atCut.videos.get(video.id), now })));

  const ttExamples = selectTwoTowerExamples(shared.all.twoTower, until);
  progress.log(step(`two-tower: ${ttExamples.positives.length} positive interactions`));
  const tt = { ...TWO_TOWER_DEFAULTS, ...options.twoTower };
  const userSpec = userTowerSpec(artifacts);
  const users = buildUserTowerRows(artifacts, ttExamples.users);
  // The same examples as a user without history would present them (same profile and context): cold-start dropout.
  const coldUsers = buildUserTowerRows(artifacts, ttExamples.users.map(({ user, context }) => ({ user, context })));
  const userIdVocab = artifacts.vocabularies.userId;
  const ttStep = progress.step(step("train two-tower"), tt.epochs);
  const twoTower = await trainTwoTower({
    userSpec,
    videoSpec: videoTowerSpec(artifacts),
    users,
    positives: ttExamples.positives,
    videos: videoRows,
    dim: tt.dim,
    hidden: tt.hidden,
    epochs: tt.epochs,
    batchSize: tt.batchSize,
    temperature: tt.temperature,
    learningRate: tt.learningRate,
    logQCorrection: tt.logQCorrection,
    itemBias: tt.itemBias,
    popularityPrior: tt.itemBias && tt.popularityPrior ? { column: "videoId" } : undefined,
    coldStart: tt.coldStartRate > 0 ? { rate: tt.coldStartRate, users: coldUsers } : undefined,
    idDropout:
      tt.userIdDropout > 0 && userIdVocab.oovBuckets > 0
        ? { column: "userId", rate: tt.userIdDropout, oov: [1, userIdVocab.oovBuckets] }
        : undefined,
    seed,
    onProgress: (epoch: number, _batch: number, loss: number) => ttStep.tick(0, `epoch ${epoch + 1} loss ${loss.toFixed(3)}`),
    onEpochEnd: () => ttStep.tick(1),
  });
  ttStep.done();
  const videoMatrix = twoTower.embedVideos(videoRows);

  const rk = { ...RANKER_DEFAULTS, ...options.ranker };
  const { early, full } = fitNeighbourModels(dataset, until, rk.labelledShare, { ...NEIGHBOUR_DEFAULTS, ...options.neighbours }, progress, label);
  artifacts.neighbours = full.model;
  // Logged impressions are real negatives, with cold copies of a `coldStartRate` share (rankerColdStart). Without
  // impressions, rows are the candidates serving would rank (examples.ts) plus newcomer rows (below). The user ids
  // of cold rows and of a `userIdDropout` share of the others are hashed to the OOV buckets below.
  let cold: { examples: RankerExamples; dropUserId: Uint8Array };
  if (shared.all.ranker.negatives === "impressions") {
    cold = rankerColdStart(selectRankerExamples(shared.all.ranker, { until, maxExamples: rk.maxExamples, seed }), { rate: rk.coldStartRate, idRate: rk.userIdDropout, seed });
  } else {
    const warmRows = buildCandidateRankerExamples(dataset, {
      history: early.history,
      labelled: early.labelled,
      candidates: (agg) => topVideos(early.model, userAffinity(early.model, agg?.recent), rk.candidatesPerQuery + RECENT_HISTORY),
      perQuery: rk.candidatesPerQuery,
      asOf: now,
      seed,
      maxExamples: rk.maxExamples,
    });
    // Cold rows stay point-in-time: a new user's first watches against uniformly sampled videos, each at its own
    // moment with what was trending then (a new user arrives now, when trending means what it says). Made at the
    // fit's end like the warm rows, they ranked cold users below the popularity baseline (NDCG@20 0.31 vs 0.37).
    // Sampled, their click odds are inflated: clickLogitOffset corrects the shipped head.
    const newcomerRows = Math.round((rk.newcomerShare / (1 - rk.newcomerShare)) * warmRows.inputs.length);
    const newcomers = rankerColdStart(selectRankerExamples(shared.all.ranker, { until, maxExamples: newcomerRows, seed }), { rate: 1, seed });
    const random = seededRandom(seed + 104723);
    cold = {
      examples: concatRankerExamples([warmRows, newcomers.examples]),
      dropUserId: Uint8Array.from({ length: warmRows.inputs.length + newcomers.examples.inputs.length }, (_, i) => (i >= warmRows.inputs.length || random() < rk.userIdDropout ? 1 : 0)),
    };
  }
  const rankerExamples = cold.examples;
  progress.log(step(`ranker: ${rankerExamples.inputs.length} rows (${rankerExamples.negatives})`));
  // Affinity features of the training rows come from the neighbours fitted without them (see labelledShare).
  const rankerTrainRows = buildRankerRows({ ...artifacts, neighbours: early.model }, cold.examples.inputs);
  const rSpec = rankerSpec(artifacts);
  const userIdColumn = rSpec.categorical.findIndex((c) => c.name === "userId");
  const oov = artifacts.vocabularies.userId.oovBuckets;
  if (userIdColumn >= 0 && oov > 0) {
    const random = seededRandom(seed + 104729);
    for (let i = 0; i < cold.dropUserId.length; i++) if (cold.dropUserId[i]) rankerTrainRows.categorical[userIdColumn][i] = 1 + Math.floor(random() * oov);
  }
  const rkStep = progress.step(step("train ranker"), rk.epochs);
  const ranker = await trainRanker({
    spec: rSpec,
    rows: rankerTrainRows,
    labels: rankerExamples.labels,
    masks: rankerExamples.masks,
    epochs: rk.epochs,
    batchSize: rk.batchSize,
    learningRate: rk.learningRate,
    seed,
    onProgress: (epoch: number, _batch: number, loss: number) => rkStep.tick(0, `epoch ${epoch + 1} loss ${loss.toFixed(3)}`),
    onEpochEnd: () => rkStep.tick(1),
  });
  rkStep.done();
  const eligible = until === Infinity ? dataset.videos.length : dataset.videos.filter((v) => v.uploadedAt < until).length;
  const clickOffset = shared.all.ranker.negatives === "sampled-negatives" ? clickLogitOffset("sampled-negatives", eligible, rk.negativesPerPositive) : 0;
  if (clickOffset > 0) progress.log(step(`ranker: click logit offset −${clickOffset.toFixed(2)} (negative-sampling correction of the newcomer rows, ${eligible} videos)`));

  // Real rows for the ONNX parity check: warm users from the examples, the cold rows too, and ranker rows.
  const spread = (n: number, max: number) => Array.from({ length: Math.min(n, max) }, (_, i) => Math.floor((i * n) / Math.min(n, max)));
  const userSample = spread(users.size, 48);
  return {
    artifacts,
    content: shared.content,
    twoTower,
    ranker,
    clickLogitOffset: clickOffset,
    videoIds,
    videoMatrix,
    examples: { twoTower: ttExamples.positives.length, ranker: rankerExamples.inputs.length, rankerNegatives: rankerExamples.negatives },
    rankerTrain: { labels: rankerExamples.labels, masks: rankerExamples.masks },
    paritySample: {
      users: concatBatches(userSpec, [takeRows(userSpec, users, userSample), takeRows(userSpec, coldUsers, userSample.slice(0, 16))]),
      ranker: takeRows(rSpec, rankerTrainRows, spread(rankerTrainRows.size, 256)),
    },
  };
}

/**
 * The negative-sampling correction of the click head (He et al., "Practical Lessons from Predicting Clicks on Ads
 * at Facebook", ADKDD 2014: q = p / (p + (1 − p) / w), i.e. logit − log(1/w)). Without impressions each watch gets
 * `negativesPerPositive` unclicked rows out of the `eligible` uploaded videos, so the head learns odds inflated by
 * about eligible / negativesPerPositive: every retrieval candidate then scored pClick ≈ 0.95–0.99, and the blend,
 * which multiplies pClick by the post-click factors, was left ordering by like/dislike alone (measured on MovieLens,
 * docs/training.md). Shifted back, pClick spans orders of magnitude again and leads the blend, as designed. Ranking
 * by pClick alone and AUC are unchanged (a monotone shift). 0 with impressions: their clicks are real rates. Today
 * only the newcomer rows are sampled this way (the candidate rows' clicks are real rates, and pClick there stays far
 * from 1, where the shift changes no order).
 */
export function clickLogitOffset(negatives: RankerExamples["negatives"], eligible: number, negativesPerPositive: number): number {
  return negatives === "sampled-negatives" && negativesPerPositive > 0 && eligible > negativesPerPositive ? Math.log(eligible / negativesPerPositive) : 0;
}

/** `weights` with `delta` added to the output bias of head `head` (its logit); the input is not modified. */
export function shiftHeadLogit(weights: RankerWeights, head: string, delta: number): RankerWeights {
  return {
    ...weights,
    heads: weights.heads.map((h) => {
      if (h.name !== head || delta === 0) return h;
      const layers = h.layers.slice();
      const out = layers[layers.length - 1];
      layers[layers.length - 1] = { ...out, bias: Float32Array.from(out.bias, (b) => b + delta) };
      return { ...h, layers };
    }),
  };
}

/** The ranker ONNX a bundle ships: the trained ranker with the click head's sampling correction applied. */
function shippedRankerOnnx(models: FittedModels): Uint8Array {
  return models.clickLogitOffset === 0 ? models.ranker.exportOnnx() : exportRankerOnnx(shiftHeadLogit(models.ranker.weights(), "click", -models.clickLogitOffset));
}

/** A Recommender over the two-tower: the user's embedding from history before `testFrom`, dot every video. */
function twoTowerRecommender(dataset: Dataset, models: FittedModels, testFrom: number, state: AggregateState): Recommender {
  const users = new Map(dataset.users.map((u) => [u.id, u]));
  const dim = models.twoTower.dim;
  const n = models.videoIds.length;
  const cache = new Map<string, Float32Array>();
  const scores = new Float32Array(n);
  return {
    name: "twoTower",
    fit: () => undefined,
    recommend(userId, k, exclude) {
      let u = cache.get(userId);
      if (!u) {
        const user = users.get(userId);
        const rows = buildUserTowerRows(models.artifacts, [{ user, userAgg: state.users.get(userId), context: { now: testFrom, device: user?.device, country: user?.country } }]);
        u = models.twoTower.embedUsers(rows).subarray(0, dim);
        cache.set(userId, u);
      }
      for (let i = 0; i < n; i++) {
        let s = 0;
        const o = i * dim;
        for (let d = 0; d < dim; d++) s += u[d] * models.videoMatrix[o + d];
        scores[i] = s;
      }
      const ids = models.videoIds;
      return topKIndices(scores, k, (i) => exclude.has(ids[i])).map((i) => ids[i]);
    },
  } as Recommender;
}

/** The model files of a bundle (no manifest, report or data): the shipped bundle, and the funnel evaluation's folder. */
async function writeModelFiles(dir: string, models: FittedModels): Promise<void> {
  await writeFile(join(dir, BUNDLE_FILES.userTower), models.twoTower.exportUserTowerOnnx());
  // The video tower embeds videos uploaded after training (the live catalogue, src/catalog).
  await writeFile(join(dir, BUNDLE_FILES.videoTower), models.twoTower.exportVideoTowerOnnx());
  await writeFile(join(dir, BUNDLE_FILES.ranker), shippedRankerOnnx(models));
  await saveFeatureArtifacts(join(dir, BUNDLE_FILES.features), models.artifacts);
  await writeFile(join(dir, BUNDLE_FILES.videoIds), JSON.stringify(models.videoIds));
  await writeMatrix(join(dir, BUNDLE_FILES.videoEmbeddings), models.videoMatrix);
  await saveContentModel(join(dir, BUNDLE_FILES.contentModel), models.content.model);
  await writeMatrix(join(dir, BUNDLE_FILES.contentEmbeddings), models.content.matrix);
  await saveContentNeighbours(join(dir, BUNDLE_FILES.contentNeighbours), models.content.neighbours);
}

/** Runs `use` on a temporary folder holding `models`' files; the folder is removed afterwards, whatever happens. */
async function withModelFolder<T>(models: FittedModels, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "reelfeed-eval-models-"));
  try {
    await writeModelFiles(dir, models);
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs the exported ONNX bytes and the trained model on the same real rows; throws when they disagree. */
async function checkParity(models: FittedModels, progress: Progress): Promise<{ userTower: number; ranker: number; videoTower: number }> {
  const userRows = models.paritySample.users;
  const ttOnnx = await runOnnx(models.twoTower.exportUserTowerOnnx(), userRows, userTowerSpec(models.artifacts));
  const ttDiff = maxAbsDiff(Object.values(ttOnnx)[0], models.twoTower.embedUsers(userRows));
  // The video tower on rows spread over every column's range (ids, tags, dense values): new uploads bring feature
  // values the training catalog may not have had, and the item bias and prior must match for those too.
  const vSpec = videoTowerSpec(models.artifacts);
  const vn = 64;
  const videoRows: FeatureBatch = {
    size: vn,
    categorical: vSpec.categorical.map((c, j) => Int32Array.from({ length: vn }, (_, i) => (i * 7919 + j * 31) % c.vocabSize)),
    bags: vSpec.bags.map((c) => Int32Array.from({ length: vn * c.length }, (_, i) => (i % c.length < 1 + (i % 3) ? (i * 104729) % c.vocabSize : 0))),
    dense: Float32Array.from({ length: vn * vSpec.dense.length }, (_, i) => ((i * 37) % 81) / 20 - 2),
  };
  const vtOnnx = await runOnnx(models.twoTower.exportVideoTowerOnnx(), videoRows, vSpec);
  const vtDiff = maxAbsDiff(Object.values(vtOnnx)[0], models.twoTower.embedVideos(videoRows));
  if (!(vtDiff <= 1e-4)) throw new Error(`ONNX export of the video tower does not match the trained model (max |Δ| ${vtDiff}); bundle not written`);

  // The shipped bytes, click correction included: the expected click output is the trained model's, shifted. A
  // float32 probability within 1e-5 of 1 no longer tells its logit, so those rows are compared unshifted (below).
  const rows = models.paritySample.ranker;
  const onnxOut = await runOnnx(shippedRankerOnnx(models), rows, rankerSpec(models.artifacts));
  const tfOut = models.ranker.predict(rows);
  const rawOut = models.clickLogitOffset === 0 ? onnxOut : await runOnnx(models.ranker.exportOnnx(), rows, rankerSpec(models.artifacts));
  let rkDiff = 0;
  for (const head of models.ranker.heads) {
    if (head !== "click" || models.clickLogitOffset === 0) {
      rkDiff = Math.max(rkDiff, maxAbsDiff(onnxOut[head], tfOut[head]));
      continue;
    }
    rkDiff = Math.max(rkDiff, maxAbsDiff(rawOut[head], tfOut[head]));
    const p = tfOut[head];
    for (let i = 0; i < p.length; i++) {
      if (!(p[i] > 1e-5 && p[i] < 1 - 1e-5)) continue;
      const expected = 1 / (1 + Math.exp(-(Math.log(p[i] / (1 - p[i])) - models.clickLogitOffset)));
      rkDiff = Math.max(rkDiff, Math.abs(onnxOut[head][i] - expected));
    }
  }
  progress.log(`ONNX parity on real rows: user tower max |Δ| = ${ttDiff.toExponential(2)}, ranker max |Δ| = ${rkDiff.toExponential(2)}`);
  if (!(ttDiff <= 1e-4 && rkDiff <= 1e-4)) {
    throw new Error(`ONNX export does not match the trained model (user tower ${ttDiff}, ranker ${rkDiff}); bundle not written`);
  }
  progress.log(`ONNX parity: video tower max |Δ| = ${vtDiff.toExponential(2)}`);
  return { userTower: ttDiff, ranker: rkDiff, videoTower: vtDiff };
}

/** EASE λ and item-kNN settings tried on the warm protocol's validation slice (never on its held-out part). */
const EASE_LAMBDAS = [50, 100, 200, 500, 1000];
const ITEM_KNN_GRID = [
  { neighbors: 50, shrink: 10 },
  { neighbors: 100, shrink: 10 },
  { neighbors: 200, shrink: 0 },
];
/** EASE's item cap while tuning λ on validation (the fit is O(n³); the λ it picks carries over). */
const EASE_TUNING_ITEMS = 1000;
/** Item-neighbour settings tried on validation: EASE λ × history half-life (positions). */
const NEIGHBOUR_GRID = [200, 500, 1000].flatMap((lambda) => [5, 10, 20].map((halfLife) => ({ lambda, halfLife })));

/** Each user's last RECENT_HISTORY positive interactions, as the state's `recent` list would hold them. */
function recentHistories(events: readonly ReelEvent[]): Map<string, RecentWatch[]> {
  const out = new Map<string, RecentWatch[]>();
  for (const p of positiveInteractions(events)) {
    let list = out.get(p.userId);
    if (!list) out.set(p.userId, (list = []));
    list.push({ videoId: p.videoId, ts: p.ts, completion: 1 });
    if (list.length > RECENT_HISTORY) list.shift();
  }
  return out;
}

/** The warm protocol's settings (docs/training.md "Protocols"): whatever cut-offs the rest of the report uses. */
const WARM_PROTOCOL = { holdout: 0.2, minTrain: 5, ks: [10, 20, 50] };

/** A Recommender over item neighbours alone: the Neighbours source's ranking, without the rest of the funnel. */
function neighboursRecommender(model: ItemNeighbours, historyOf: (userId: string) => readonly RecentWatch[] | undefined): Recommender {
  return {
    name: "neighbours",
    fit: () => undefined,
    recommend(userId, k, exclude) {
      const affinity = userAffinity(model, historyOf(userId));
      return topVideos(model, affinity, k + exclude.size).filter((id) => !exclude.has(id)).slice(0, k);
    },
  };
}

/** `model` answering each (user, k) once: later asks get the first list. */
function listedOnce(model: Recommender): Recommender {
  const lists = new Map<string, Promise<readonly string[]> | readonly string[]>();
  return {
    ...model,
    recommend(userId, k, exclude) {
      const key = `${k}\u0000${userId}`;
      let list = lists.get(key);
      if (!list) lists.set(key, (list = model.recommend(userId, k, exclude)));
      return list as string[];
    },
  };
}

/** Picks the setting whose model scores the best NDCG@20 on the validation slice. */
async function tuneOnValidation<T>(
  label: string,
  grid: readonly T[],
  make: (setting: T) => Recommender,
  fitOn: Interaction[],
  validation: PerUserSplit<ReelEvent>,
  progress: Progress,
): Promise<T> {
  const scores: number[] = [];
  for (const setting of grid) {
    const model = make(setting);
    await model.fit(fitOn);
    const r = await evaluateRetrieval({ recommenders: [model], test: validation.test, trainSeen: validation.trainSeen, ks: [20], catalogSize: 1 });
    scores.push(r[model.name]["ndcg@20"]);
  }
  const at = scores.indexOf(Math.max(...scores));
  progress.log(`${label}: validation NDCG@20 ${grid.map((g, i) => `${JSON.stringify(g)} ${scores[i].toFixed(4)}`).join(", ")} → ${JSON.stringify(grid[at])}`);
  return grid[at];
}

/**
 * The warm protocol (warm-split.ts): per-user temporal hold-out, baselines tuned on a validation slice cut from
 * train the same way, the funnel's models fitted on the train part exactly as `train` fits a bundle. Returns the
 * report section and the item-neighbour settings validation chose, which every fit of the run then uses.
 */
async function warmProtocol(
  dataset: Dataset,
  content: Shared["content"],
  options: TrainOptions,
  progress: Progress,
): Promise<{ report: WarmProtocolReport; neighbours: { lambda: number; halfLife: number } }> {
  const split = perUserTemporalSplit(dataset.events, WARM_PROTOCOL);
  progress.log(`warm protocol: ${split.evaluatedUsers} users, ${split.train.length} train / ${split.heldOut.length} held-out events (per-user temporal 80/20)`);
  const trainInteractions = interactionsFromPositives(positiveInteractions(split.train));
  const validation = perUserTemporalSplit(split.train, WARM_PROTOCOL);
  const validationInteractions = interactionsFromPositives(positiveInteractions(validation.train));
  const lambda = await tuneOnValidation("warm protocol: EASE λ", EASE_LAMBDAS, (l) => createEaseRecommender({ lambda: l, maxItems: EASE_TUNING_ITEMS }), validationInteractions, validation, progress);
  const knn = await tuneOnValidation("warm protocol: item-kNN", ITEM_KNN_GRID, (g) => createItemKnnRecommender(g), validationInteractions, validation, progress);
  // The item neighbours' own settings: EASE fits cached per λ, the half-life only changes how histories are summed.
  const histories = recentHistories(validation.train);
  const fits = new Map<number, ItemNeighbours>();
  const neighbourSettings = await tuneOnValidation(
    "warm protocol: item neighbours",
    NEIGHBOUR_GRID,
    (g) => {
      let model: ItemNeighbours | undefined;
      const historyOf = (userId: string) => histories.get(userId);
      return {
        name: "neighbours",
        fit: (train) => {
          let base = fits.get(g.lambda);
          const settings = { ...NEIGHBOUR_DEFAULTS, ...options.neighbours, lambda: g.lambda, maxItems: EASE_TUNING_ITEMS };
          if (!base) fits.set(g.lambda, (base = fitItemNeighbours(train, settings)));
          model = { ...base, halfLife: g.halfLife };
        },
        recommend: (userId, k, exclude) => neighboursRecommender(model!, historyOf).recommend(userId, k, exclude),
      };
    },
    validationInteractions,
    validation,
    progress,
  );
  fits.clear();
  const baselines = [createPopularityRecommender(), createItemKnnRecommender(knn), createEaseRecommender({ lambda })];
  for (const b of baselines) await b.fit(trainInteractions);

  // The funnel's models, fitted on the train part as `train` would fit a bundle on it (with the settings validation chose).
  const warmData: Dataset = { ...dataset, events: split.train };
  const until = split.train.reduce((m, e) => Math.max(m, e.ts), 0) + 1;
  const all = buildAllExamples(warmData, new Map(warmData.videos.map((v, i) => [v.id, i])), { cuts: [], seed: options.seed ?? 7, progress });
  const shared: Shared = { all, content, stateAt: () => all.final };
  const neighbours = { ...options.neighbours, ...neighbourSettings };
  const models = await fitModels(warmData, until, shared, { ...options, neighbours }, progress, "warm protocol models");
  const state = all.final;
  const recommenders = [
    twoTowerRecommender(warmData, models, until, state),
    neighboursRecommender(models.artifacts.neighbours!, (userId) => state.users.get(userId)?.recent),
    ...baselines,
  ];
  const evaluate = (rs: readonly Recommender[]) =>
    evaluateRetrieval({ recommenders: rs, test: split.test, trainSeen: split.trainSeen, ks: WARM_PROTOCOL.ks, catalogSize: dataset.videos.length, progress });
  const retrieval = await evaluate(recommenders);
  if (options.extraRecommenders) {
    const make = options.extraRecommenders;
    Object.assign(
      retrieval,
      await withModelFolder(models, async (bundleDir) => {
        const extra = await make({ dataset: warmData, bundleDir, testFrom: until });
        try {
          return await evaluate(extra);
        } finally {
          for (const r of extra) await (r as { close?: () => Promise<void> }).close?.();
        }
      }),
    );
  }
  models.twoTower.dispose();
  models.ranker.dispose();
  const ndcg = (m: string) => retrieval[m]?.["ndcg@20"];
  progress.log(
    `warm protocol NDCG@20: ${Object.keys(retrieval).map((m) => `${m} ${ndcg(m).toFixed(4)}`).join(", ")}` +
      (retrieval.funnel ? ` — funnel ${(ndcg("funnel") / ndcg("ease")).toFixed(2)}× EASE, ${(ndcg("funnel") / ndcg("popularity")).toFixed(2)}× popularity` : ""),
  );
  const report: WarmProtocolReport = {
    users: split.evaluatedUsers,
    holdout: WARM_PROTOCOL.holdout,
    minTrain: WARM_PROTOCOL.minTrain,
    trainEvents: split.train.length,
    heldOutEvents: split.heldOut.length,
    tuned: { easeLambda: lambda, easeItems: DEFAULT_EASE_MAX_ITEMS, itemKnn: knn, neighbours: neighbourSettings },
    retrieval,
  };
  return { report, neighbours: neighbourSettings };
}

export async function trainBundle(options: TrainOptions): Promise<TrainResult> {
  const progress = options.progress ?? silentProgress;
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const lap = (name: string, since: number) => (timings[name] = Math.round(Date.now() - since));
  await initTf();

  let t = Date.now();
  const { dataset, validation, source } = await loadInput(options, progress);
  progress.log(formatValidationReport(validation));
  lap("importMs", t);
  const split = timeSplit(dataset.events, options.split ?? { validation: 0.1, test: 0.1 });
  progress.log(
    `time split: train < ${new Date(split.trainUntil).toISOString()} ≤ validation < ${new Date(split.validationUntil).toISOString()} ≤ test ` +
      `(${split.train.length} / ${split.validation.length} / ${split.test.length} events)`,
  );

  // Evaluation: models fit on the training period; at test time they see history up to the test period.
  t = Date.now();
  const contentDim = options.contentDim ?? 64;
  progress.log(`content embeddings (TF-IDF + SVD, dim ${contentDim}) for ${dataset.videos.length} videos`);
  const content = fitContentModel(dataset.videos, { dim: contentDim, seed: options.seed ?? 7 });
  const contentModels: Shared["content"] = {
    model: content.model,
    matrix: content.embeddings.matrix,
    dim: content.embeddings.dim,
    neighbours: await fitContentNeighbours(
      dataset.videos.map((v) => v.id),
      content.embeddings.matrix,
      content.embeddings.dim,
      { progress },
    ),
  };
  lap("contentMs", t);

  // Warm protocol first: its validation slice chooses the item neighbours' λ and half-life for every fit.
  let warm: WarmProtocolReport | undefined;
  const ks = options.ks ?? [10, 20, 50, 100, 500];
  if (options.warmProtocol ?? true) {
    t = Date.now();
    const result = await warmProtocol(dataset, contentModels, options, progress);
    warm = result.report;
    options = { ...options, neighbours: { ...options.neighbours, ...result.neighbours } };
    lap("warmProtocolMs", t);
  }

  t = Date.now();
  const rankerConfig = { ...RANKER_DEFAULTS, ...options.ranker };
  const all = buildAllExamples(dataset, new Map(dataset.videos.map((v, i) => [v.id, i])), {
    cuts: [split.trainUntil, split.validationUntil],
    negativesPerPositive: rankerConfig.negativesPerPositive,
    uniformNegativeShare: rankerConfig.uniformNegativeShare,
    seed: options.seed ?? 7,
    progress,
  });
  const shared: Shared = {
    all,
    content: contentModels,
    stateAt: (until) => (until === split.trainUntil ? all.snapshots[0] : until === split.validationUntil ? all.snapshots[1] : all.final),
  };
  lap("examplesMs", t);

  t = Date.now();
  const evalModels = await fitModels(dataset, split.trainUntil, shared, options, progress, "evaluation models");
  lap("trainEvalMs", t);

  t = Date.now();
  const beforeTest = dataset.events.filter((e) => e.ts < split.validationUntil);
  const interactions = interactionsFromPositives(positiveInteractions(beforeTest));
  const baselines: Recommender[] = [
    createPopularityRecommender(),
    createRandomRecommender({ seed: options.seed ?? 7 }),
    createItemKnnRecommender(),
    createEaseRecommender(),
  ];
  for (const b of baselines) {
    progress.log(`fitting baseline ${b.name}`);
    await b.fit(interactions);
  }
  const testPositives = positivesByUser(split.test);
  const test = new Map([...testPositives].map(([u, items]) => [u, new Set(items)]));
  const trainSeen = seenByUser(beforeTest);
  const recommenders: Recommender[] = [twoTowerRecommender(dataset, evalModels, split.validationUntil, shared.stateAt(split.validationUntil)), ...baselines];
  const retrieval = await evaluateRetrieval({ recommenders, test, trainSeen, ks, catalogSize: dataset.videos.length, progress });

  const rankerTest = selectRankerExamples(all.ranker, { from: split.validationUntil, maxExamples: 50_000, seed: 13 });
  const trainRate = evalModels.rankerTrain;
  const predicted = evalModels.ranker.predict(buildRankerRows(evalModels.artifacts, rankerTest.inputs));
  const rankerMetrics = evaluateRanker(
    Object.fromEntries(
      evalModels.ranker.heads.map((head) => {
        const h = head as (typeof RANKER_HEADS)[number];
        const mask = trainRate.masks[h];
        let pos = 0;
        let n = 0;
        for (let i = 0; i < mask.length; i++) if (mask[i] > 0) (n++, (pos += trainRate.labels[h][i]));
        return [head, { probs: predicted[head], labels: rankerTest.labels[h], mask: rankerTest.masks[h], baseRate: n ? pos / n : 0.5 }];
      }),
    ) as Parameters<typeof evaluateRanker>[0],
  );
  lap("evaluateMs", t);

  // The extra models (the serving funnel) with the evaluation models, whether or not the shipped ones are refit:
  // refit models learned from the test period, and a funnel scored with them would be optimistic (leaky).
  // Cold protocol: the users of the test period without any history before it, where only the funnel's
  // non-collaborative parts (popularity, trending, fresh, context) can help.
  const coldTest = new Map([...test].filter(([userId]) => !trainSeen.has(userId)));
  const coldEval = (rs: readonly Recommender[]) => evaluateRetrieval({ recommenders: rs, test: coldTest, trainSeen, ks, catalogSize: dataset.videos.length, progress });
  const cold = await coldEval(recommenders.filter((r) => r.name === "popularity" || r.name === "twoTower"));
  let funnel: EvaluationReport["funnel"];
  if (options.extraRecommenders) {
    t = Date.now();
    const extraRecommenders = options.extraRecommenders;
    funnel = await withModelFolder(evalModels, async (bundleDir) => {
      const extra = await extraRecommenders({ dataset, bundleDir, testFrom: split.validationUntil });
      try {
        if (extra.length === 0) return undefined;
        // Each user's list is asked for once and scored twice (all users, then the cold slice): a funnel records
        // what it served, so asking it again would exclude its own first answer.
        const once = extra.map(listedOnce);
        const all = await evaluateRetrieval({ recommenders: once, test, trainSeen, ks, catalogSize: dataset.videos.length, progress });
        Object.assign(cold, await coldEval(once));
        return all;
      } finally {
        for (const r of extra) await (r as { close?: () => Promise<void> }).close?.();
      }
    });
    lap("funnelMs", t);
  }

  const twoTowerConfig = { ...TWO_TOWER_DEFAULTS, ...options.twoTower };
  const refit = options.refit ?? true;
  let shipped = evalModels;
  if (refit) {
    t = Date.now();
    evalModels.twoTower.dispose();
    evalModels.ranker.dispose();
    shipped = await fitModels(dataset, Infinity, shared, options, progress, "refit on all data");
    lap("refitMs", t);
  }

  const parity = await checkParity(shipped, progress);
  const created = new Date();
  const fingerprint = datasetFingerprint(dataset);
  const version = `${created.toISOString().replace(/[-:]/g, "").slice(0, 13)}-${fingerprint.slice(0, 8)}`;

  let report!: EvaluationReport;
  let manifest!: BundleManifest;
  await writeDirAtomic(options.out, async (dir) => {
    await writeModelFiles(dir, shipped);
    if (options.includeData ?? true) {
      progress.log("copying the dataset into the bundle (data/) for serving");
      await writeGenericDataset(join(dir, BUNDLE_FILES.data), dataset);
    }
    timings.totalMs = Date.now() - t0;
    const splitFractions = options.split ?? { validation: 0.1, test: 0.1 };
    report = {
      createdAt: new Date().toISOString(),
      dataset: {
        source,
        users: dataset.users.length,
        videos: dataset.videos.length,
        events: dataset.events.length,
        interactions: interactions.length,
        firstEventAt: dataset.events[0]?.ts,
        lastEventAt: dataset.events[dataset.events.length - 1]?.ts,
      },
      split: {
        method: "time",
        validationFraction: splitFractions.validation,
        testFraction: splitFractions.test,
        trainUntil: split.trainUntil,
        validationUntil: split.validationUntil,
        trainEvents: split.train.length,
        validationEvents: split.validation.length,
        testEvents: split.test.length,
        evaluatedUsers: retrieval.twoTower?.users,
        positiveRule: POSITIVE_RULE_TEXT,
      },
      retrieval,
      ranker: rankerMetrics,
      coverage: coverageSection(retrieval, dataset.videos.length),
      timings,
      notes: [
        `two-tower trained on events before the validation cut; at test time every model sees history up to the test period`,
        `baselines fitted on train + validation events; EASE scores only the most popular items (see training.md)`,
        `ranker rows: ${evalModels.examples.rankerNegatives}; post-click heads are masked to clicked rows`,
        `two-tower: cold-start dropout ${twoTowerConfig.coldStartRate}, user-id dropout ${twoTowerConfig.userIdDropout}, ` +
          `item bias ${twoTowerConfig.itemBias ? (twoTowerConfig.popularityPrior ? "with a log-popularity prior" : "learned") : "off"} (training.md)`,
        `ranker: without impressions its rows are the candidates serving ranks (the item neighbours' best, the most viewed, a few ` +
          `random videos) for each user's latest ${rankerConfig.labelledShare * 100} % of interactions, features from the history before it, ` +
          `plus ${rankerConfig.newcomerShare * 100} % newcomer rows (watches without history against uniformly sampled videos, point-in-time); ` +
          `user-id dropout ${rankerConfig.userIdDropout}; the shipped click head's logit is shifted by −${shipped.clickLogitOffset.toFixed(2)} ` +
          `(the newcomer rows' negative-sampling correction). The ranker metrics above are on the test period's watches against ` +
          `uniformly sampled videos, before the shift (training.md)`,
        ...(funnel ? [`serving funnel: evaluated with the evaluation models (fitted before the validation cut), history before the test period`] : []),
        `ONNX parity on real rows: user tower ${parity.userTower.toExponential(1)}, ranker ${parity.ranker.toExponential(1)} max |Δ|`,
      ],
    };
    if (funnel) report.funnel = funnel;
    report.protocols = { ...(warm ? { warm } : {}), cold: { users: coldTest.size, retrieval: cold } };
    const r = report;
    manifest = {
      format: BUNDLE_FORMAT,
      version,
      createdAt: created.toISOString(),
      source,
      dataFingerprint: fingerprint,
      refit,
      config: { split: options.split ?? { validation: 0.1, test: 0.1 }, twoTower: { ...TWO_TOWER_DEFAULTS, ...options.twoTower }, ranker: rankerConfig, contentDim: options.contentDim ?? 64, seed: options.seed ?? 7 },
      metrics: {
        "twoTower.recall@20": r.retrieval.twoTower?.["recall@20"] ?? NaN,
        "twoTower.ndcg@20": r.retrieval.twoTower?.["ndcg@20"] ?? NaN,
        "popularity.recall@20": r.retrieval.popularity?.["recall@20"] ?? NaN,
        "ranker.click.auc": rankerMetrics.click?.auc ?? NaN,
      },
      models: {
        userTower: { file: BUNDLE_FILES.userTower, dim: shipped.twoTower.dim, inputs: shipped.twoTower.userOnnxInputs, parityMaxAbsDiff: parity.userTower },
        videoTower: { file: BUNDLE_FILES.videoTower, dim: shipped.twoTower.dim, inputs: shipped.twoTower.videoOnnxInputs, parityMaxAbsDiff: parity.videoTower },
        ranker: { file: BUNDLE_FILES.ranker, heads: [...shipped.ranker.heads], inputs: shipped.ranker.onnxInputs, parityMaxAbsDiff: parity.ranker },
      },
      embeddings: {
        videoIds: BUNDLE_FILES.videoIds,
        twoTower: BUNDLE_FILES.videoEmbeddings,
        twoTowerDim: shipped.twoTower.dim,
        content: BUNDLE_FILES.contentEmbeddings,
        contentDim: shipped.content.dim,
      },
      timings,
    };
    // report.json, the chart SVGs (report-*.svg) and report.md that links them.
    await writeReportFiles(dir, report, { json: BUNDLE_FILES.report, markdown: BUNDLE_FILES.reportMd });
    await writeFile(join(dir, BUNDLE_FILES.manifest), JSON.stringify(manifest, null, 2) + "\n");
  });
  shipped.twoTower.dispose();
  shipped.ranker.dispose();
  await mkdir(options.out, { recursive: true });
  return { manifest, report, validation };
}
