import { performance } from "node:perf_hooks";
import { tf } from "./tf-backend";
import { shuffledIndices } from "./tower-network";

/** What one training run did, reported by every trainer (two-tower, ranker). */
export interface TrainingStats {
  epochs: number;
  steps: number;
  examples: number;
  seconds: number;
  examplesPerSecond: number;
  /** Mean loss over the last epoch. */
  finalLoss: number;
}

/** One minibatch's loss, built by the trainer for the rows the loop picked. */
export interface MinibatchStep {
  /** Runs under the optimizer's gradient tape; returns the scalar loss. */
  loss: () => tf.Scalar;
  /** Frees the batch's tensors once the step is done (or failed). */
  dispose: () => void;
}

export interface MinibatchLoopOptions {
  /** Training rows; every epoch visits all of them in a fresh shuffled order. */
  rows: number;
  epochs: number;
  batchSize: number;
  /** Draws the shuffles (one permutation per epoch, in order, so a seed reproduces the run). */
  rng: () => number;
  learningRate: number;
  /** What Adam updates. */
  variables: tf.Variable[];
  /** The step for a batch of row indices; undefined skips the batch (no step counted). */
  batch: (rows: Int32Array) => MinibatchStep | undefined;
  /** After every step, with the batch's number within the epoch and its loss. */
  onProgress?: (epoch: number, batch: number, loss: number) => void;
  /** After every epoch, with its mean loss. */
  onEpochEnd?: (epoch: number, meanLoss: number) => void;
}

/**
 * The training loop both models share: Adam over shuffled minibatches for a number of epochs, with progress and the
 * run's stats. What differs between models — the rows of a batch, its loss — comes from `batch`. On an error the
 * optimizer is freed and the error rethrown; the caller frees its own variables.
 */
export function trainMinibatches(options: MinibatchLoopOptions): TrainingStats {
  const { rows, epochs, batchSize, rng, learningRate, variables, batch, onProgress, onEpochEnd } = options;
  const optimizer = tf.train.adam(learningRate);
  const started = performance.now();
  let steps = 0;
  let examples = 0;
  let finalLoss = Number.NaN;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffledIndices(rows, rng);
      let lossSum = 0;
      let lossSteps = 0;
      for (let start = 0, b = 0; start < rows; start += batchSize, b++) {
        const idx = order.subarray(start, Math.min(rows, start + batchSize));
        const step = batch(idx);
        if (!step) continue;
        try {
          const cost = optimizer.minimize(step.loss, true, variables);
          const loss = cost ? (cost.dataSync()[0] as number) : Number.NaN;
          cost?.dispose();
          lossSum += loss;
          lossSteps++;
          steps++;
          examples += idx.length;
          onProgress?.(epoch, b, loss);
        } finally {
          step.dispose();
        }
      }
      finalLoss = lossSteps > 0 ? lossSum / lossSteps : Number.NaN;
      onEpochEnd?.(epoch, finalLoss);
    }
  } finally {
    optimizer.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return { epochs, steps, examples, seconds, examplesPerSecond: seconds > 0 ? examples / seconds : 0, finalLoss };
}
