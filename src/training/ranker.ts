/**
 * Multi-task ranker: a shared-bottom network (a tower without normalisation, ReLU output) and one small sigmoid
 * head per task (`click`, `completion`, `like`, `dislike`, or whatever heads the labels name).
 *
 * Why shared bottom and not MMoE: our heads are all engagement with the same (user, video) pair and are strongly
 * positively correlated, which is the regime where MMoE's gates buy little (its wins come from conflicting tasks);
 * the post-click heads see only clicked rows, so they have much less data than `click` and profit from a trunk that
 * `click` trains on every row; and one trunk is ~E× cheaper than E experts, which matters for CPU training on wasm
 * and for the ranking latency budget. Each head still gets its own hidden layer so tasks can disagree at the top.
 *
 * Loss: per head, binary cross-entropy over the rows whose mask is 1 (post-click heads are masked to clicked rows:
 * the selection bias is declared, not hidden), averaged over those rows, then summed over heads with per-head
 * weights. Rows with mask 0 contribute exactly nothing — neither to the loss nor to the gradient.
 */
import { badInput } from "../errors";
import { takeRows, type FeatureBatch, type FeatureSpec } from "../features/spec";
import { onnxInputNames } from "../ranking/model-io";
import { exportRankerOnnx } from "./onnx-export";
import { initTf, tf } from "./tf-backend";
import {
  applyDense,
  applyDenseLinear,
  batchToTensors,
  createDenseLayer,
  createRng,
  createTower,
  denseLayerWeights,
  disposeTowerTensors,
  mapInChunks,
  validateBatch,
  type DenseLayer,
  type DenseWeights,
  type TowerTensors,
  type TowerWeights,
} from "./tower-network";
import { trainMinibatches, type TrainingStats } from "./minibatch-loop";

/** The heads the product's score blend knows; a ranker may train any subset (or others). */
export const DEFAULT_RANKER_HEADS = ["click", "completion", "like", "dislike"] as const;

export interface RankerHeadWeights {
  name: string;
  /** Head hidden layer(s) then the 1-wide sigmoid output layer. */
  layers: DenseWeights[];
}

/** Everything needed to render the ranker (tf or ONNX). */
export interface RankerWeights {
  trunk: TowerWeights;
  heads: RankerHeadWeights[];
}

/** Options for {@link trainRanker}. */
export interface RankerOptions {
  spec: FeatureSpec;
  rows: FeatureBatch;
  /** Per head, one label in [0, 1] per row. The heads are the keys, in this order. */
  labels: Record<string, Float32Array>;
  /** Per head, 1 where the label applies (post-click heads: clicked rows only). A head without a mask uses every row. */
  masks: Record<string, Float32Array>;
  /** Shared-bottom widths; the last is the trunk's output width. @default [128, 64] */
  hidden?: number[];
  /** Hidden width of each head. @default 32 */
  headHidden?: number;
  /** Loss weight per head. @default 1 for every head */
  headWeights?: Record<string, number>;
  /** @default 5 */
  epochs?: number;
  /** @default 512 */
  batchSize?: number;
  /** Adam learning rate. @default 0.003 */
  learningRate?: number;
  /** Seeds initialisation and shuffling. @default 1 */
  seed?: number;
  /** Called after every step with the step's total loss. @default undefined */
  onProgress?: (epoch: number, batch: number, loss: number) => void;
  /** Called after every epoch with the epoch's mean loss. @default undefined */
  onEpochEnd?: (epoch: number, meanLoss: number) => void;
}

export interface RankerLoss {
  total: number;
  perHead: Record<string, number>;
}

export interface RankerModel {
  readonly heads: string[];
  /** Per head, one probability per row, in input order. */
  predict(batch: FeatureBatch): Record<string, Float32Array>;
  /** The loss the trainer minimises, on any labelled rows (e.g. held-out). */
  evaluateLoss(rows: FeatureBatch, labels: Record<string, Float32Array>, masks: Record<string, Float32Array>): RankerLoss;
  /** ONNX model: inputs {@link onnxInputs}; one float32 `[batch]` output per head. */
  exportOnnx(): Uint8Array;
  readonly onnxInputs: string[];
  weights(): RankerWeights;
  readonly stats: TrainingStats;
  dispose(): void;
}

/**
 * Masked, numerically stable binary cross-entropy from logits: Σ mask·bce / max(Σ mask, 1). Uses
 * max(z,0) − z·y + log(1 + e^−|z|), so saturated logits give finite losses and gradients.
 */
export function maskedBinaryCrossEntropy(logits: tf.Tensor1D, labels: tf.Tensor1D, mask: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const bce = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return tf.div(tf.sum(tf.mul(bce, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

interface Head {
  name: string;
  layers: DenseLayer[];
}

/** Trains the ranker; resolves when training is done. */
export async function trainRanker(options: RankerOptions): Promise<RankerModel> {
  const {
    spec,
    rows,
    labels,
    masks,
    hidden = [128, 64],
    headHidden = 32,
    headWeights = {},
    epochs = 5,
    batchSize = 512,
    learningRate = 0.003,
    seed = 1,
    onProgress,
    onEpochEnd,
  } = options;
  await initTf();
  validateBatch(spec, rows, "rows");
  const heads = Object.keys(labels);
  if (heads.length === 0) throw badInput("labels", "at least one head is required");
  if (hidden.length === 0) throw badInput("hidden", "the shared bottom needs at least one layer");
  const prepared = prepareLabels(heads, rows.size, labels, masks);
  for (const h of Object.keys(headWeights)) {
    if (!heads.includes(h)) throw badInput(`headWeights.${h}`, "no such head in labels");
    if (!(headWeights[h] >= 0)) throw badInput(`headWeights.${h}`, "must be ≥ 0");
  }
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw badInput("batchSize", "must be a positive integer");
  if (!(Number.isInteger(epochs) && epochs >= 0)) throw badInput("epochs", "must be a non-negative integer");

  const trunkWidth = hidden[hidden.length - 1];
  const trunk = createTower({
    spec,
    outputDim: trunkWidth,
    hidden: hidden.slice(0, -1),
    outputActivation: "relu",
    seed,
  });
  const rng = createRng(seed + 104729);
  const headNets: Head[] = heads.map((name) => ({
    name,
    layers: [
      createDenseLayer(trunkWidth, headHidden, "relu", rng),
      createDenseLayer(headHidden, 1, "sigmoid", rng),
    ],
  }));
  const variables = [...trunk.variables, ...headNets.flatMap((h) => h.layers.flatMap((l) => [l.kernel, l.bias]))];
  const weightOf = heads.map((h) => headWeights[h] ?? 1);

  /** Per head `[size]` logits. */
  const logitsOf = (inputs: TowerTensors): tf.Tensor1D[] => {
    const shared = trunk.forward(inputs);
    return headNets.map((h) => {
      let x = shared;
      for (let l = 0; l < h.layers.length - 1; l++) x = applyDense(h.layers[l], x);
      return tf.reshape(applyDenseLinear(h.layers[h.layers.length - 1], x), [-1]) as tf.Tensor1D;
    });
  };
  const lossOf = (inputs: TowerTensors, y: tf.Tensor1D[], m: tf.Tensor1D[]) => {
    const perHead = logitsOf(inputs).map((z, k) => maskedBinaryCrossEntropy(z, y[k], m[k]));
    const total = perHead.reduce<tf.Scalar>((acc, l, k) => tf.add(acc, tf.mul(l, weightOf[k])), tf.scalar(0));
    return { total, perHead };
  };
  const headSlices = (data: Prepared, idx: ArrayLike<number>) => {
    const y = heads.map((_, k) => tf.tensor1d(gather(data.labels[k], idx)));
    const m = heads.map((_, k) => tf.tensor1d(gather(data.masks[k], idx)));
    return { y, m };
  };

  let stats: TrainingStats;
  try {
    stats = trainMinibatches({
      rows: rows.size,
      epochs,
      batchSize,
      rng: createRng(seed),
      learningRate,
      variables,
      batch: (idx) => {
        const inputs = batchToTensors(spec, takeRows(spec, rows, idx));
        const { y, m } = headSlices(prepared, idx);
        return {
          loss: () => tf.tidy(() => lossOf(inputs, y, m).total),
          dispose: () => {
            disposeTowerTensors(inputs);
            tf.dispose([...y, ...m]);
          },
        };
      },
      onProgress,
      onEpochEnd,
    });
  } catch (e) {
    tf.dispose(variables);
    throw e;
  }

  const weights = (): RankerWeights => ({
    trunk: trunk.weights(),
    heads: headNets.map((h) => ({ name: h.name, layers: h.layers.map(denseLayerWeights) })),
  });

  return {
    heads,
    stats,
    onnxInputs: onnxInputNames(spec),
    predict(batch) {
      const flat = mapInChunks(spec, batch, heads.length, (inputs) =>
        tf.sigmoid(tf.stack(logitsOf(inputs), 1) as tf.Tensor2D),
      );
      const out: Record<string, Float32Array> = {};
      heads.forEach((h, k) => {
        const col = new Float32Array(batch.size);
        for (let i = 0; i < batch.size; i++) col[i] = flat[i * heads.length + k];
        out[h] = col;
      });
      return out;
    },
    evaluateLoss(evalRows, evalLabels, evalMasks) {
      validateBatch(spec, evalRows, "rows");
      for (const h of Object.keys(evalLabels)) {
        if (!heads.includes(h)) throw badInput(`labels.${h}`, "no such head in this model");
      }
      const data = prepareLabels(heads, evalRows.size, evalLabels, evalMasks);
      const all = Int32Array.from({ length: evalRows.size }, (_, i) => i);
      const inputs = batchToTensors(spec, evalRows);
      const { y, m } = headSlices(data, all);
      try {
        const [total, ...perHead] = tf.tidy(() => {
          const l = lossOf(inputs, y, m);
          return [l.total, ...l.perHead];
        });
        const result: RankerLoss = { total: total.dataSync()[0], perHead: {} };
        heads.forEach((h, k) => {
          result.perHead[h] = perHead[k].dataSync()[0];
        });
        tf.dispose([total, ...perHead]);
        return result;
      } finally {
        disposeTowerTensors(inputs);
        tf.dispose([...y, ...m]);
      }
    },
    exportOnnx: () => exportRankerOnnx(weights()),
    weights,
    dispose() {
      tf.dispose(variables);
    },
  };
}

interface Prepared {
  labels: Float32Array[];
  masks: Float32Array[];
}

/**
 * Validates labels/masks and zeroes labels on masked rows, so whatever a caller leaves there (NaN for "unknown"
 * included) cannot reach the loss: 0 × NaN would still be NaN.
 */
function prepareLabels(
  heads: string[],
  size: number,
  labels: Record<string, Float32Array>,
  masks: Record<string, Float32Array>,
): Prepared {
  const out: Prepared = { labels: [], masks: [] };
  for (const h of heads) {
    const y = labels[h];
    if (!y) throw badInput(`labels.${h}`, "missing");
    if (y.length !== size) throw badInput(`labels.${h}`, `expected ${size} values, got ${y.length}`);
    const given = masks[h];
    if (given && given.length !== size) throw badInput(`masks.${h}`, `expected ${size} values, got ${given.length}`);
    const m = new Float32Array(size);
    const clean = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const mi = given ? given[i] : 1;
      if (mi !== 0 && mi !== 1) throw badInput(`masks.${h}`, `row ${i}: mask must be 0 or 1, got ${mi}`);
      m[i] = mi;
      if (mi === 1) {
        if (!(y[i] >= 0 && y[i] <= 1)) throw badInput(`labels.${h}`, `row ${i}: label must be in [0, 1], got ${y[i]}`);
        clean[i] = y[i];
      }
    }
    out.labels.push(clean);
    out.masks.push(m);
  }
  for (const h of Object.keys(masks)) if (!heads.includes(h)) throw badInput(`masks.${h}`, "no such head in labels");
  return out;
}

function gather(a: Float32Array, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = a[idx[i]];
  return out;
}
