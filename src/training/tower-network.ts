/**
 * A feature tower: the one network description both model kinds are made of, rendered twice — as tf ops over
 * tf.Variables here (training, offline scoring) and as an ONNX graph in onnx-export.ts (serving). Both renderings
 * read the same {@link TowerWeights}, and both apply the same index rule, which is what makes their parity a
 * property of the design rather than a coincidence.
 *
 * Shape: per categorical column an embedding table; per bag column a table with masked mean pooling (index 0 is
 * padding and contributes nothing; an all-padding row pools to zeros); concat [embeddings, pooled bags, dense] →
 * Dense+ReLU per hidden layer → output Dense (activation configurable) → optional L2 normalisation.
 *
 * Index rule (both renderings): an index outside [0, vocabSize) is treated as 0 (padding/unknown), so a stale
 * vocabulary at serving time degrades to "unknown" instead of crashing ONNX Runtime's Gather or reading garbage.
 */
import { badInput } from "../errors";
import { assertNever } from "../data/types";
import { sliceBatch, type FeatureBatch, type FeatureSpec } from "../features/spec";
import { tf } from "./tf-backend";
import { seededRandom } from "../util/random";

export type Activation = "linear" | "relu" | "sigmoid";

/** A dense layer's weights: `kernel` is row-major `[inDim, outDim]` (y = x·kernel + bias). */
export interface DenseWeights {
  inDim: number;
  outDim: number;
  kernel: Float32Array;
  bias: Float32Array;
  activation: Activation;
}

/** Everything needed to render a tower anywhere (tf, ONNX, a bundle on disk). */
export interface TowerWeights {
  spec: FeatureSpec;
  /** Per categorical column, row-major `[vocabSize, dim]`. */
  categorical: Float32Array[];
  /** Per bag column, row-major `[vocabSize, dim]`. Row 0 is never read (masked). */
  bags: Float32Array[];
  /** Hidden layers then the output layer. */
  layers: DenseWeights[];
  /** L2-normalise the output rows. */
  normalize: boolean;
}

/** Added under the square root of the L2 norm so an all-zero row stays finite; shared with the ONNX rendering. */
export const L2_EPSILON = 1e-12;

/** Options for {@link createTower}. */
export interface TowerOptions {
  spec: FeatureSpec;
  /** Width of the output layer. */
  outputDim: number;
  /** Hidden layer widths (Dense+ReLU), input side first. @default [128] */
  hidden?: number[];
  /** Activation of the output layer. @default "linear" */
  outputActivation?: Activation;
  /** L2-normalise output rows (retrieval towers). @default false */
  normalize?: boolean;
  /** Seed for the weight initialisation. @default 1 */
  seed?: number;
  /** Start from these weights instead of a random initialisation (must match spec and shapes). @default undefined */
  initial?: TowerWeights;
  /**
   * Append one more output column holding a learned constant (the same for every row), before the normalisation.
   * Exported as an extra output unit with an all-zero kernel column and the constant as its bias, so every
   * rendering (tf, ONNX) computes it the same way. The user side of a two-tower item bias. @default false
   */
  constantOutput?: boolean;
  /**
   * The last `n` output columns are left out of the L2 normalisation (the video side of a two-tower item bias).
   * {@link TowerWeights} cannot describe this, so such a tower cannot be rendered to ONNX. @default 0
   */
  unnormalizedTail?: number;
}

/** A batch as tensors, ready for {@link Tower.forward}. Dispose with {@link disposeTowerTensors}. */
export interface TowerTensors {
  size: number;
  categorical: tf.Tensor1D[];
  bags: tf.Tensor2D[];
  /** The bags' (sanitised) indices on the host, `size × length` each: what {@link embeddingBagMean} reads. */
  bagIds: Int32Array[];
  /** null when the spec has no dense columns. */
  dense: tf.Tensor2D | null;
}

export interface Tower {
  readonly spec: FeatureSpec;
  readonly outputDim: number;
  /** Trainable variables, in a stable order. */
  readonly variables: tf.Variable[];
  /** `[size, outputDim]`. Call inside tf.tidy. */
  forward(inputs: TowerTensors): tf.Tensor2D;
  /**
   * Like forward, but stops before the output layer's activation (and normalisation): logits for a sigmoid output,
   * which the loss needs for a numerically stable cross-entropy.
   */
  forwardPreActivation(inputs: TowerTensors): tf.Tensor2D;
  /** A copy of the current weights as Float32Arrays. */
  weights(): TowerWeights;
  dispose(): void;
}

/** Seeded PRNG for deterministic inits and shuffles (src/util/random.ts); seed 0 keeps its historical stream. */
export function createRng(seed: number): () => number {
  return seededRandom(seed >>> 0 || 0x9e3779b9);
}

/** Fisher–Yates shuffle of 0..n-1. */
export function shuffledIndices(n: number, rng: () => number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

function uniform(n: number, limit: number, rng: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng() * 2 - 1) * limit;
  return out;
}

/** Width of the concatenated input: embedding dims + pooled bag dims + dense columns. */
export function towerInputWidth(spec: FeatureSpec): number {
  return (
    spec.categorical.reduce((s, c) => s + c.dim, 0) + spec.bags.reduce((s, c) => s + c.dim, 0) + spec.dense.length
  );
}

/** Checks a spec can be rendered: unique non-empty names, positive sizes, at least one column. */
export function validateSpec(spec: FeatureSpec, argument = "spec"): void {
  const seen = new Set<string>();
  const check = (name: string, where: string) => {
    if (!name) throw badInput(`${argument}.${where}`, "column name is empty");
    if (seen.has(name)) throw badInput(`${argument}.${where}`, `duplicate column name "${name}"`);
    seen.add(name);
  };
  spec.categorical.forEach((c, i) => {
    check(c.name, `categorical[${i}]`);
    if (!(Number.isInteger(c.vocabSize) && c.vocabSize >= 1 && Number.isInteger(c.dim) && c.dim >= 1)) {
      throw badInput(`${argument}.categorical.${c.name}`, "vocabSize and dim must be positive integers");
    }
  });
  spec.bags.forEach((c, i) => {
    check(c.name, `bags[${i}]`);
    if (
      !(Number.isInteger(c.vocabSize) && c.vocabSize >= 1 && Number.isInteger(c.dim) && c.dim >= 1) ||
      !(Number.isInteger(c.length) && c.length >= 1)
    ) {
      throw badInput(`${argument}.bags.${c.name}`, "vocabSize, dim and length must be positive integers");
    }
  });
  if (towerInputWidth(spec) === 0) throw badInput(argument, "spec has no columns");
}

/** Checks a batch has the shape its spec promises; names the offending column. */
export function validateBatch(spec: FeatureSpec, batch: FeatureBatch, argument = "batch"): void {
  const { size } = batch;
  if (!Number.isInteger(size) || size < 0) throw badInput(`${argument}.size`, `must be a non-negative integer`);
  if (batch.categorical.length !== spec.categorical.length) {
    throw badInput(`${argument}.categorical`, `expected ${spec.categorical.length} columns, got ${batch.categorical.length}`);
  }
  if (batch.bags.length !== spec.bags.length) {
    throw badInput(`${argument}.bags`, `expected ${spec.bags.length} columns, got ${batch.bags.length}`);
  }
  spec.categorical.forEach((c, i) => {
    if (batch.categorical[i].length !== size) {
      throw badInput(`${argument}.categorical.${c.name}`, `expected ${size} values, got ${batch.categorical[i].length}`);
    }
  });
  spec.bags.forEach((c, i) => {
    if (batch.bags[i].length !== size * c.length) {
      throw badInput(`${argument}.bags.${c.name}`, `expected ${size * c.length} values, got ${batch.bags[i].length}`);
    }
  });
  if (batch.dense.length !== size * spec.dense.length) {
    throw badInput(`${argument}.dense`, `expected ${size * spec.dense.length} values, got ${batch.dense.length}`);
  }
}

/** The index rule: values outside [0, vocabSize) become 0. Returns the input itself when nothing changes. */
export function sanitizeIndices(ids: Int32Array, vocabSize: number): Int32Array {
  let i = 0;
  while (i < ids.length && ids[i] >= 0 && ids[i] < vocabSize) i++;
  if (i === ids.length) return ids;
  const out = ids.slice();
  for (; i < out.length; i++) if (out[i] < 0 || out[i] >= vocabSize) out[i] = 0;
  return out;
}

/**
 * Mean of each row's non-padding embeddings (index 0 is padding; a row of padding gives zeros): `table` is
 * `[vocab, dim]`, `ids` is `rows × length` (host memory), the result `[rows, dim]`. The ONNX export computes the
 * same (onnx-export.ts). One host-side op instead of gather → mask → multiply → sum → divide on
 * `[rows, length, dim]` tensors: the wasm backend's gather and its gradient took about 30 % of a two-tower step on
 * MovieLens-small, this op a few per cent (docs/training.md). The gradient is a scatter-add into a dense
 * `[vocab, dim]` block, the same shape Adam already updated.
 */
export function embeddingBagMean(table: tf.Tensor2D | tf.Variable, ids: Int32Array, length: number): tf.Tensor2D {
  const [vocab, dim] = table.shape as [number, number];
  const rows = length > 0 ? ids.length / length : 0;
  // 1 / (non-padding count) per row, shared by forward and gradient.
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let j = r * length; j < (r + 1) * length; j++) if (ids[j] > 0) n++;
    scale[r] = n > 0 ? 1 / n : 0;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const values = (args[0] as tf.Tensor).dataSync() as Float32Array;
    const out = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      if (scale[r] === 0) continue;
      const o = r * dim;
      for (let j = r * length; j < (r + 1) * length; j++) {
        const id = ids[j];
        if (id <= 0) continue;
        const v = id * dim;
        for (let d = 0; d < dim; d++) out[o + d] += values[v + d];
      }
      for (let d = 0; d < dim; d++) out[o + d] *= scale[r];
    }
    return {
      value: tf.tensor2d(out, [rows, dim]),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const grad = new Float32Array(vocab * dim);
        for (let r = 0; r < rows; r++) {
          const s = scale[r];
          if (s === 0) continue;
          const o = r * dim;
          for (let j = r * length; j < (r + 1) * length; j++) {
            const id = ids[j];
            if (id <= 0) continue;
            const v = id * dim;
            for (let d = 0; d < dim; d++) grad[v + d] += s * g[o + d];
          }
        }
        return [tf.tensor2d(grad, [vocab, dim])];
      },
    };
  }) as unknown as (t: tf.Tensor) => tf.Tensor2D;
  return op(table);
}

/** Makes the tensors for a batch (validated, indices sanitised). */
export function batchToTensors(spec: FeatureSpec, batch: FeatureBatch): TowerTensors {
  validateBatch(spec, batch);
  const { size } = batch;
  const bagIds = spec.bags.map((c, i) => sanitizeIndices(batch.bags[i], c.vocabSize));
  return {
    size,
    categorical: spec.categorical.map((c, i) => tf.tensor1d(sanitizeIndices(batch.categorical[i], c.vocabSize), "int32")),
    bags: spec.bags.map((c, i) => tf.tensor2d(bagIds[i], [size, c.length], "int32")),
    bagIds,
    dense: spec.dense.length > 0 ? tf.tensor2d(batch.dense, [size, spec.dense.length], "float32") : null,
  };
}

export function disposeTowerTensors(t: TowerTensors): void {
  tf.dispose([...t.categorical, ...t.bags]);
  if (t.dense) t.dense.dispose();
}

/** A trainable dense layer. */
export interface DenseLayer {
  kernel: tf.Variable;
  bias: tf.Variable;
  activation: Activation;
  inDim: number;
  outDim: number;
}

/** A trainable variable initialised from `t`; `t` itself is disposed (the variable keeps its own reference). */
function variableFrom(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

/** Glorot-uniform kernel, zero bias — or the given weights. */
export function createDenseLayer(
  inDim: number,
  outDim: number,
  activation: Activation,
  rng: () => number,
  initial?: DenseWeights,
): DenseLayer {
  if (initial && (initial.inDim !== inDim || initial.outDim !== outDim)) {
    throw badInput("initial.layers", `expected a ${inDim}×${outDim} layer, got ${initial.inDim}×${initial.outDim}`);
  }
  const kernel = initial?.kernel ?? uniform(inDim * outDim, Math.sqrt(6 / (inDim + outDim)), rng);
  const bias = initial?.bias ?? new Float32Array(outDim);
  return {
    kernel: variableFrom(tf.tensor2d(kernel, [inDim, outDim])),
    bias: variableFrom(tf.tensor1d(bias)),
    activation,
    inDim,
    outDim,
  };
}

export function applyActivation(x: tf.Tensor2D, activation: Activation): tf.Tensor2D {
  switch (activation) {
    case "linear":
      return x;
    case "relu":
      return tf.relu(x);
    case "sigmoid":
      return tf.sigmoid(x);
    default:
      return assertNever(activation, "activation");
  }
}

/**
 * a·b with a gradient that avoids the wasm backend's transposed-operand matmul path: tf.matMul's own gradient
 * computes dy·bᵀ with `transposeB`, which measured ~50× slower than an explicit transpose followed by a plain
 * matmul (XNNPACK) at our sizes, and dominated training time.
 */
export const matMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** x·kernel + bias, without the activation. */
export function applyDenseLinear(layer: DenseLayer, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(matMul(x, layer.kernel as tf.Tensor2D), layer.bias) as tf.Tensor2D;
}

export function applyDense(layer: DenseLayer, x: tf.Tensor2D): tf.Tensor2D {
  return applyActivation(applyDenseLinear(layer, x), layer.activation);
}

export function denseLayerWeights(layer: DenseLayer): DenseWeights {
  return {
    inDim: layer.inDim,
    outDim: layer.outDim,
    kernel: Float32Array.from(layer.kernel.dataSync() as Float32Array),
    bias: Float32Array.from(layer.bias.dataSync() as Float32Array),
    activation: layer.activation,
  };
}

/** Builds a tower with fresh (seeded) or given weights. Call `initTf()` first. */
export function createTower(options: TowerOptions): Tower {
  const { spec, outputDim, hidden = [128], outputActivation = "linear", normalize = false, seed = 1, initial, constantOutput = false, unnormalizedTail = 0 } = options;
  if (!(Number.isInteger(unnormalizedTail) && unnormalizedTail >= 0 && unnormalizedTail < outputDim)) {
    throw badInput("unnormalizedTail", `must be an integer in [0, outputDim), got ${unnormalizedTail}`);
  }
  if (constantOutput && initial) throw badInput("initial", "cannot be combined with constantOutput");
  validateSpec(spec);
  if (!(Number.isInteger(outputDim) && outputDim >= 1)) throw badInput("outputDim", "must be a positive integer");
  if (hidden.some((h) => !(Number.isInteger(h) && h >= 1))) throw badInput("hidden", "widths must be positive integers");
  if (initial && (initial.categorical.length !== spec.categorical.length || initial.bags.length !== spec.bags.length)) {
    throw badInput("initial", "weights do not match the spec's columns");
  }
  if (initial && initial.layers.length !== hidden.length + 1) {
    throw badInput("initial.layers", `expected ${hidden.length + 1} layers, got ${initial.layers.length}`);
  }
  const rng = createRng(seed);
  const table = (vocab: number, dim: number, given: Float32Array | undefined, where: string) => {
    if (given && given.length !== vocab * dim) throw badInput(where, `expected ${vocab * dim} weights, got ${given.length}`);
    return variableFrom(tf.tensor2d(given ?? uniform(vocab * dim, 0.05, rng), [vocab, dim]));
  };
  const categorical = spec.categorical.map((c, i) =>
    table(c.vocabSize, c.dim, initial?.categorical[i], `initial.categorical.${c.name}`),
  );
  const bags = spec.bags.map((c, i) => table(c.vocabSize, c.dim, initial?.bags[i], `initial.bags.${c.name}`));
  const widths = [towerInputWidth(spec), ...hidden, outputDim];
  const layers: DenseLayer[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const last = l + 2 === widths.length;
    layers.push(createDenseLayer(widths[l], widths[l + 1], last ? outputActivation : "relu", rng, initial?.layers[l]));
  }
  const constant = constantOutput ? variableFrom(tf.ones([1, 1])) : undefined;
  const variables: tf.Variable[] = [
    ...categorical,
    ...bags,
    ...layers.flatMap((layer) => [layer.kernel, layer.bias]),
    ...(constant ? [constant] : []),
  ];

  const features = (inputs: TowerTensors): tf.Tensor2D => {
    const parts: tf.Tensor2D[] = [];
    categorical.forEach((t, i) => parts.push(tf.gather(t, inputs.categorical[i]) as tf.Tensor2D));
    bags.forEach((t, i) => parts.push(embeddingBagMean(t, inputs.bagIds[i], spec.bags[i].length)));
    if (inputs.dense) parts.push(inputs.dense);
    return parts.length === 1 ? parts[0] : (tf.concat(parts, 1) as tf.Tensor2D);
  };

  const forwardPreActivation = (inputs: TowerTensors): tf.Tensor2D => {
    let x = features(inputs);
    for (let l = 0; l < layers.length - 1; l++) x = applyDense(layers[l], x);
    return applyDenseLinear(layers[layers.length - 1], x);
  };

  const l2 = (y: tf.Tensor2D) => tf.div(y, tf.sqrt(tf.maximum(tf.sum(tf.square(y), 1, true), L2_EPSILON))) as tf.Tensor2D;
  return {
    spec,
    outputDim: outputDim + (constantOutput ? 1 : 0),
    variables,
    forwardPreActivation,
    forward(inputs) {
      let y = applyActivation(forwardPreActivation(inputs), outputActivation);
      if (constant) y = tf.concat([y, tf.mul(tf.ones([inputs.size, 1]), constant)], 1) as tf.Tensor2D;
      if (!normalize) return y;
      if (unnormalizedTail === 0) return l2(y);
      const width = y.shape[1];
      const [head, tail] = tf.split(y, [width - unnormalizedTail, unnormalizedTail], 1) as tf.Tensor2D[];
      return tf.concat([l2(head), tail], 1) as tf.Tensor2D;
    },
    weights() {
      const out = layers.map(denseLayerWeights);
      if (constant) {
        // The constant as one more output unit: zero kernel column, bias = the constant.
        const last = out[out.length - 1];
        const kernel = new Float32Array(last.inDim * (last.outDim + 1));
        for (let r = 0; r < last.inDim; r++) kernel.set(last.kernel.subarray(r * last.outDim, (r + 1) * last.outDim), r * (last.outDim + 1));
        const bias = new Float32Array(last.outDim + 1);
        bias.set(last.bias);
        bias[last.outDim] = (constant.dataSync() as Float32Array)[0];
        out[out.length - 1] = { ...last, outDim: last.outDim + 1, kernel, bias };
      }
      return {
        spec,
        categorical: categorical.map((v) => Float32Array.from(v.dataSync() as Float32Array)),
        bags: bags.map((v) => Float32Array.from(v.dataSync() as Float32Array)),
        layers: out,
        normalize,
      };
    },
    dispose() {
      tf.dispose(variables);
    },
  };
}

/** Runs `fn` over a batch in chunks, copying `[rows, width]` outputs into one Float32Array. Memory stays flat. */
export function mapInChunks(
  spec: FeatureSpec,
  batch: FeatureBatch,
  width: number,
  fn: (inputs: TowerTensors) => tf.Tensor2D,
  chunk = 2048,
): Float32Array {
  validateBatch(spec, batch);
  const out = new Float32Array(batch.size * width);
  for (let start = 0; start < batch.size; start += chunk) {
    const end = Math.min(batch.size, start + chunk);
    const part = sliceBatch(spec, batch, start, end);
    const inputs = batchToTensors(spec, part);
    try {
      const y = tf.tidy(() => fn(inputs));
      out.set(y.dataSync() as Float32Array, start * width);
      y.dispose();
    } finally {
      disposeTowerTensors(inputs);
    }
  }
  return out;
}
