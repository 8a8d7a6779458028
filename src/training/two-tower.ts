/**
 * Two-tower retrieval model: a user tower and a video tower (tower-network.ts), both L2-normalised, trained with an
 * in-batch sampled softmax (Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
 * Recommendations", RecSys 2019):
 *   - the negatives of row i are the other rows' positive videos;
 *   - logQ correction: popular videos appear as in-batch negatives more often, so each logit s(u, v_j) has log p_j
 *     subtracted, p_j being v_j's frequency among positives — without it the model learns to demote popularity
 *     rather than to model preference;
 *   - a video that is also another row's positive (duplicates in a batch) is masked out as a negative for that row,
 *     so the model is not pushed away from a true positive.
 * Serving embeds users with the exported ONNX user tower and looks videos up in a vector index filled from
 * `embedVideos`.
 */
import { badInput } from "../errors";
import { takeRows, type FeatureBatch, type FeatureSpec } from "../features/spec";
import { trainMinibatches, type TrainingStats } from "./minibatch-loop";
import { onnxInputNames } from "../ranking/model-io";
import { exportTowerOnnx } from "./onnx-export";
import { initTf, tf } from "./tf-backend";
import { exportVideoTowerOnnx } from "./video-tower-export";
import {
  batchToTensors,
  createRng,
  createTower,
  disposeTowerTensors,
  matMul,
  mapInChunks,
  validateBatch,
  type TowerTensors,
  type TowerWeights,
} from "./tower-network";

/** Options for {@link trainTwoTower}. */
export interface TwoTowerOptions {
  userSpec: FeatureSpec;
  videoSpec: FeatureSpec;
  /** One row per training example: the user's state at the example's time. */
  users: FeatureBatch;
  /** Per example: the row index of the positive video in `videos`. */
  positives: Int32Array;
  /** One row per catalog video. */
  videos: FeatureBatch;
  /** Embedding width of both towers. @default 64 */
  dim?: number;
  /** Hidden layer widths of both towers. @default [128] */
  hidden?: number[];
  /** Softmax temperature: logits are cosine / temperature. @default 0.07 */
  temperature?: number;
  /** @default 5 */
  epochs?: number;
  /** Examples per step; also the number of in-batch negatives (+1). @default 512 */
  batchSize?: number;
  /** Adam learning rate. @default 0.003 */
  learningRate?: number;
  /** Seeds initialisation and shuffling. @default 1 */
  seed?: number;
  /** Subtract log of each in-batch video's sampling probability from its logit. @default true */
  logQCorrection?: boolean;
  /**
   * Cold-start dropout (DropoutNet-style): per epoch, a `rate` share of the examples is trained with its row from
   * `users` replaced by the same row of `cold.users` — the same example as a user without history would present it.
   * Without it the "no history" input is seen only once per user (their first interaction) and cold users, a
   * large share of any test period, get an embedding the model never learned. @default undefined (none)
   */
  coldStart?: { rate: number; users: FeatureBatch };
  /**
   * A learned per-video bias (a popularity prior), kept a pure dot product: the video embedding gets one more,
   * unnormalised, coordinate b_v (from the video tower, so new videos get one from their features) and the user
   * embedding one more coordinate, a learned constant normalised with the rest. Score = u·v̂ + c_u·b_v: a user
   * the tower knows little about (cold) can lean on the prior. Embeddings are then `dim + 1` wide, and the video
   * tower ships as the embedding matrix only (no ONNX). @default false
   */
  itemBias?: boolean;
  /**
   * With `itemBias`: add a fixed popularity prior to the bias coordinate, log of the add-one smoothed frequency of
   * each value of the categorical video column `column` (the video id) among the positives. With the logQ
   * correction the model's logits estimate log p(v | u) = log p(v) + PMI(u, v); the prior gives every video its
   * log p(v) exactly, so the towers only have to learn the personal part, and a cold user's list falls back to
   * popularity instead of to whatever the untrained direction points at. @default undefined (none)
   */
  popularityPrior?: { column: string };
  /**
   * With `itemBias`: the video's bias coordinate is stored multiplied by this (the user side learns the inverse
   * scale through its constant). Scores rank the same for any value; what it changes is how much the bias weighs
   * in video·video dot products (a mean of watched videos used as a query), where a bias of unit scale would swamp
   * the cosine part. @default 1
   */
  itemBiasScale?: number;
  /**
   * Id dropout: the categorical column `column` is replaced by an index drawn uniformly from `oov` (inclusive
   * range: the vocabulary's OOV buckets) for a `rate` share of the examples, and always for cold-start rows, so
   * the OOV embeddings unseen users hash to are trained. @default undefined (none)
   */
  idDropout?: { column: string; rate: number; oov: [number, number] };
  /** Called after every step with the step's mean loss. @default undefined */
  onProgress?: (epoch: number, batch: number, loss: number) => void;
  /** Called after every epoch with the epoch's mean loss. @default undefined */
  onEpochEnd?: (epoch: number, meanLoss: number) => void;
}


export interface TwoTowerModel {
  /** Embedding width: the `dim` option, + 1 with `itemBias`. */
  readonly dim: number;
  /** `size × dim`, row-major, L2-normalised rows. */
  embedUsers(batch: FeatureBatch): Float32Array;
  /** `size × dim`, row-major, L2-normalised rows. */
  embedVideos(batch: FeatureBatch): Float32Array;
  /** The user tower as ONNX (inputs: {@link userOnnxInputs}; output "embedding" `[batch, dim]`). */
  exportUserTowerOnnx(): Uint8Array;
  /** The video tower as ONNX (inputs: {@link videoOnnxInputs}; output "embedding" `[batch, dim]`). */
  exportVideoTowerOnnx(): Uint8Array;
  readonly userOnnxInputs: string[];
  readonly videoOnnxInputs: string[];
  userTowerWeights(): TowerWeights;
  videoTowerWeights(): TowerWeights;
  readonly stats: TrainingStats;
  /** Frees the towers' variables; the model is unusable afterwards. */
  dispose(): void;
}

/** Masked logits are pushed this far down: exp() of it is exactly 0 in float32. */
const MASKED = -1e9;

/** Options for {@link inBatchSoftmaxLoss}. */
export interface InBatchLossOptions {
  /** Logits are dot products divided by this. */
  temperature: number;
  /** Per catalog video, log of its sampling probability; subtracted from its logits. @default undefined (none) */
  logQ?: Float32Array;
}

/**
 * In-batch sampled softmax: row i's positive is column i; the other rows' positives are its negatives, except
 * those equal to its own positive (masked). `positives[i]` is row i's video id (any integer identity, used only to
 * find duplicates and to index `logQ`). Returns the mean cross-entropy.
 */
export function inBatchSoftmaxLoss(
  userEmb: tf.Tensor2D,
  videoEmb: tf.Tensor2D,
  positives: Int32Array,
  options: InBatchLossOptions,
): tf.Scalar {
  const { temperature, logQ } = options;
  const size = positives.length;
  // Additive bias per logit: −log p_j on column j, and MASKED where column j repeats row i's positive.
  const bias = new Float32Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      let b = logQ ? -logQ[positives[j]] : 0;
      if (j !== i && positives[j] === positives[i]) b = MASKED;
      bias[i * size + j] = b;
    }
  }
  return tf.tidy(() => {
    const scores = matMul(userEmb, tf.transpose(videoEmb));
    const logits = tf.add(tf.div(scores, temperature), tf.tensor2d(bias, [size, size])) as tf.Tensor2D;
    const positive = tf.sum(tf.mul(logits, tf.eye(size)), 1);
    return tf.mean(tf.sub(rowLogSumExp(logits), positive)) as tf.Scalar;
  });
}

/**
 * Row-wise log-sum-exp with the analytic gradient (softmax). tf.logSumExp's gradient goes through its max and a
 * broadcast Equal, which the wasm backend runs ~60× slower than other broadcasts at batch² sizes.
 */
const rowLogSumExp: (x: tf.Tensor2D) => tf.Tensor1D = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
  const m = tf.max(x, 1, true);
  const lse = tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, m)), 1, true)), m);
  save([x, lse]);
  return {
    value: tf.reshape(lse, [-1]),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, slse] = saved;
      return tf.mul(tf.reshape(dy, [-1, 1]), tf.exp(tf.sub(sx, slse)));
    },
  };
}) as unknown as (x: tf.Tensor2D) => tf.Tensor1D;

/** Copies row `from` of `src` over row `to` of `dst` (same spec). */
function copyRow(spec: FeatureSpec, src: FeatureBatch, from: number, dst: FeatureBatch, to: number): void {
  for (let c = 0; c < spec.categorical.length; c++) dst.categorical[c][to] = src.categorical[c][from];
  spec.bags.forEach((col, c) => dst.bags[c].set(src.bags[c].subarray(from * col.length, (from + 1) * col.length), to * col.length));
  const d = spec.dense.length;
  dst.dense.set(src.dense.subarray(from * d, (from + 1) * d), to * d);
}

/** Trains both towers; resolves when training is done. */
export async function trainTwoTower(options: TwoTowerOptions): Promise<TwoTowerModel> {
  const {
    userSpec,
    videoSpec,
    users,
    positives,
    videos,
    dim = 64,
    hidden = [128],
    temperature = 0.07,
    epochs = 5,
    batchSize = 512,
    learningRate = 0.003,
    seed = 1,
    logQCorrection = true,
    coldStart,
    idDropout,
    itemBias = false,
    popularityPrior,
    itemBiasScale = 1,
    onProgress,
    onEpochEnd,
  } = options;
  await initTf();
  validateBatch(userSpec, users, "users");
  validateBatch(videoSpec, videos, "videos");
  if (positives.length !== users.size) {
    throw badInput("positives", `expected one per user row (${users.size}), got ${positives.length}`);
  }
  for (let i = 0; i < positives.length; i++) {
    if (positives[i] < 0 || positives[i] >= videos.size) {
      throw badInput("positives", `row ${i}: video row ${positives[i]} is outside [0, ${videos.size})`);
    }
  }
  if (!(temperature > 0)) throw badInput("temperature", "must be > 0");
  if (!(Number.isInteger(batchSize) && batchSize >= 2)) throw badInput("batchSize", "must be an integer ≥ 2");
  if (!(Number.isInteger(epochs) && epochs >= 0)) throw badInput("epochs", "must be a non-negative integer");
  if (!(itemBiasScale > 0)) throw badInput("itemBiasScale", "must be > 0");
  if (coldStart) {
    validateBatch(userSpec, coldStart.users, "coldStart.users");
    if (coldStart.users.size !== users.size) throw badInput("coldStart.users", `expected ${users.size} rows, got ${coldStart.users.size}`);
    if (!(coldStart.rate >= 0 && coldStart.rate <= 1)) throw badInput("coldStart.rate", "must be in [0, 1]");
  }
  const idColumn = idDropout ? userSpec.categorical.findIndex((c) => c.name === idDropout.column) : -1;
  if (idDropout) {
    if (idColumn < 0) throw badInput("idDropout.column", `no categorical column "${idDropout.column}" in the user spec`);
    const [lo, hi] = idDropout.oov;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && lo <= hi && hi < userSpec.categorical[idColumn].vocabSize)) {
      throw badInput("idDropout.oov", `must be an index range inside the vocabulary, got [${lo}, ${hi}]`);
    }
    if (!(idDropout.rate >= 0 && idDropout.rate <= 1)) throw badInput("idDropout.rate", "must be in [0, 1]");
  }

  const userTower = createTower({ spec: userSpec, outputDim: dim, hidden, normalize: true, seed, constantOutput: itemBias });
  const videoTower = createTower({
    spec: videoSpec,
    outputDim: itemBias ? dim + 1 : dim,
    hidden,
    normalize: true,
    seed: seed + 7919,
    unnormalizedTail: itemBias ? 1 : 0,
  });
  const width = userTower.outputDim;
  let prior: tf.Tensor2D | undefined;
  // Kept for the ONNX export of the video tower (the prior is a constant of the shipped graph).
  let priorTable: Float32Array | undefined;
  let priorColumn = -1;
  if (popularityPrior) {
    priorColumn = videoSpec.categorical.findIndex((c) => c.name === popularityPrior.column);
    if (!itemBias || priorColumn < 0) {
      userTower.dispose();
      videoTower.dispose();
      if (!itemBias) throw badInput("popularityPrior", "needs itemBias");
      throw badInput("popularityPrior.column", `no categorical column "${popularityPrior.column}" in the video spec`);
    }
    const vocab = videoSpec.categorical[priorColumn].vocabSize;
    const ids = videos.categorical[priorColumn];
    const freq = new Float64Array(vocab);
    for (let i = 0; i < positives.length; i++) {
      const id = ids[positives[i]];
      if (id >= 0 && id < vocab) freq[id]++;
    }
    // [vocab, width]: zeros except the bias coordinate, so the lookup adds to the last column only. Shifted so
    // the most frequent value sits at 0 (a per-user constant in every score: rankings and the softmax ignore it),
    // which keeps the coordinate small for the videos people actually watch.
    let max = 0;
    for (let i = 0; i < vocab; i++) max = Math.max(max, freq[i]);
    const table = new Float32Array(vocab * width);
    for (let i = 0; i < vocab; i++) table[i * width + width - 1] = Math.log((freq[i] + 1) / (max + 1));
    prior = tf.tensor2d(table, [vocab, width]);
    priorTable = table;
  }
  const biasScale = itemBias && itemBiasScale !== 1 ? tf.tensor2d([...new Array<number>(width - 1).fill(1), itemBiasScale], [1, width]) : undefined;
  const embedVideo = (t: TowerTensors): tf.Tensor2D => {
    let y = videoTower.forward(t);
    if (prior) y = tf.add(y, tf.gather(prior, t.categorical[priorColumn])) as tf.Tensor2D;
    return biasScale ? (tf.mul(y, biasScale) as tf.Tensor2D) : y;
  };
  const variables = [...userTower.variables, ...videoTower.variables];

  // log p_j: sampling probability of a video as an in-batch negative, estimated from positive frequency.
  const counts = new Float64Array(videos.size);
  for (let i = 0; i < positives.length; i++) counts[positives[i]]++;
  const logQ = new Float32Array(videos.size);
  for (let v = 0; v < videos.size; v++) logQ[v] = counts[v] > 0 ? Math.log(counts[v] / positives.length) : 0;

  // A stream of its own, so turning the dropouts on or off does not change the shuffles.
  const dropRng = createRng(seed + 104729);
  let stats: TrainingStats;
  try {
    stats = trainMinibatches({
      rows: users.size,
      epochs,
      batchSize,
      rng: createRng(seed),
      learningRate,
      variables,
      batch: (idx) => {
        const size = idx.length;
        if (size < 2) return undefined; // a single row has no negatives
        const pos = new Int32Array(size);
        for (let i = 0; i < size; i++) pos[i] = positives[idx[i]];
        const userRows = takeRows(userSpec, users, idx);
        if (coldStart || idDropout) {
          for (let i = 0; i < size; i++) {
            const cold = coldStart !== undefined && dropRng() < coldStart.rate;
            if (cold) copyRow(userSpec, coldStart!.users, idx[i], userRows, i);
            const drop = idDropout !== undefined && (cold || dropRng() < idDropout.rate);
            if (drop) {
              const [lo, hi] = idDropout!.oov;
              userRows.categorical[idColumn][i] = lo + Math.floor(dropRng() * (hi - lo + 1));
            }
          }
        }
        const u = batchToTensors(userSpec, userRows);
        const v = batchToTensors(videoSpec, takeRows(videoSpec, videos, pos));
        return {
          loss: () => inBatchSoftmaxLoss(userTower.forward(u), embedVideo(v), pos, { temperature, logQ: logQCorrection ? logQ : undefined }),
          dispose: () => {
            disposeTowerTensors(u);
            disposeTowerTensors(v);
          },
        };
      },
      onProgress,
      onEpochEnd,
    });
  } catch (e) {
    userTower.dispose();
    videoTower.dispose();
    prior?.dispose();
    biasScale?.dispose();
    throw e;
  }

  return {
    dim: width,
    stats,
    userOnnxInputs: onnxInputNames(userSpec),
    videoOnnxInputs: onnxInputNames(videoSpec),
    embedUsers: (batch) => mapInChunks(userSpec, batch, width, (t) => userTower.forward(t)),
    embedVideos: (batch) => mapInChunks(videoSpec, batch, width, embedVideo),
    exportUserTowerOnnx: () => exportTowerOnnx(userTower.weights(), { name: "user_tower" }),
    // With an item bias the tower's plain rendering is not the model: the bias column skips the L2 norm and the
    // prior and scale are added (video-tower-export.ts), so a new upload gets the vector training would give it.
    exportVideoTowerOnnx: () =>
      itemBias
        ? exportVideoTowerOnnx(videoTower.weights(), {
            unnormalizedTail: 1,
            prior: priorTable && popularityPrior ? { column: popularityPrior.column, table: priorTable } : undefined,
            biasScale: itemBiasScale,
          })
        : exportTowerOnnx(videoTower.weights(), { name: "video_tower" }),
    userTowerWeights: () => userTower.weights(),
    videoTowerWeights: () => videoTower.weights(),
    dispose() {
      userTower.dispose();
      videoTower.dispose();
      prior?.dispose();
      biasScale?.dispose();
    },
  };
}
