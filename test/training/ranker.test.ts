import { beforeAll, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { sliceBatch, type FeatureBatch, type FeatureSpec } from "../../src/features/spec";
import { maskedBinaryCrossEntropy, trainRanker } from "../../src/training/ranker";
import { initTf, tf } from "../../src/training/tf-backend";
import { createRng } from "../../src/training/tower-network";

const spec: FeatureSpec = {
  categorical: [
    { name: "user_bucket", vocabSize: 51, dim: 8 },
    { name: "video_category", vocabSize: 11, dim: 4 },
    { name: "device", vocabSize: 4, dim: 2 },
  ],
  bags: [{ name: "video_tags", vocabSize: 21, dim: 4, length: 4 }],
  dense: ["d0", "d1", "d2", "d3", "d4"],
};

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Rows with a planted click signal: two dense columns, a user-taste × category interaction (only learnable
 * through the embeddings) and one tag. Post-click heads are labelled on clicked rows only.
 */
function makeRows(n: number, seed: number) {
  const rng = createRng(seed);
  const rows: FeatureBatch = {
    size: n,
    categorical: spec.categorical.map(() => new Int32Array(n)),
    bags: [new Int32Array(n * 4)],
    dense: new Float32Array(n * 5),
  };
  const taste = Array.from({ length: 5 }, () => Array.from({ length: 11 }, () => (rng() < 0.3 ? 1.5 : -0.5)));
  const click = new Float32Array(n);
  const completion = new Float32Array(n);
  const like = new Float32Array(n);
  const clickMask = new Float32Array(n).fill(1);
  const clickedMask = new Float32Array(n);
  const clickProb = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const user = 1 + Math.floor(rng() * 50);
    const category = 1 + Math.floor(rng() * 10);
    rows.categorical[0][i] = user;
    rows.categorical[1][i] = category;
    rows.categorical[2][i] = 1 + Math.floor(rng() * 3);
    let hasTag3 = false;
    const tags = Math.floor(rng() * 5); // 0..4 tags, the rest padding (0 tags = all-pad row)
    for (let k = 0; k < tags; k++) {
      const tag = 1 + Math.floor(rng() * 20);
      rows.bags[0][i * 4 + k] = tag;
      hasTag3 ||= tag === 3;
    }
    for (let d = 0; d < 5; d++) rows.dense[i * 5 + d] = rng() * 2 - 1;
    const z =
      1.5 * rows.dense[i * 5] - rows.dense[i * 5 + 1] + taste[user % 5][category] + (hasTag3 ? 1 : 0) - 0.5;
    clickProb[i] = sigmoid(2 * z);
    click[i] = rng() < clickProb[i] ? 1 : 0;
    if (click[i] === 1) {
      clickedMask[i] = 1;
      completion[i] = rng() < sigmoid(3 * rows.dense[i * 5 + 2]) ? 1 : 0;
      like[i] = rng() < sigmoid(2 * taste[user % 5][category] - 1) ? 1 : 0;
    } else {
      // Unobserved: whatever sits here must not matter. NaN makes sure it cannot leak into the loss.
      completion[i] = Number.NaN;
      like[i] = rng() < 0.5 ? 1 : 0;
    }
  }
  return {
    rows,
    clickProb,
    labels: { click, completion, like },
    masks: { click: clickMask, completion: clickedMask, like: clickedMask },
  };
}

/** Rank-based AUC (Mann–Whitney), ties counted half. */
function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  let pos = 0;
  for (let r = 0; r < idx.length; ) {
    let e = r;
    while (e + 1 < idx.length && scores[idx[e + 1]] === scores[idx[r]]) e++;
    const avg = (r + e) / 2 + 1;
    for (let k = r; k <= e; k++) if (labels[idx[k]] === 1) {
      rankSum += avg;
      pos++;
    }
    r = e + 1;
  }
  const neg = scores.length - pos;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function subset(data: ReturnType<typeof makeRows>, start: number, end: number) {
  const pick = (r: Record<string, Float32Array>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.subarray(start, end)]));
  return { rows: sliceBatch(spec, data.rows, start, end), labels: pick(data.labels), masks: pick(data.masks) };
}

describe("trainRanker", () => {
  beforeAll(async () => {
    await initTf();
  });

  it("learns the planted click signal: held-out click AUC well above 0.5", async () => {
    const data = makeRows(8000, 21);
    const train = subset(data, 0, 6000);
    const test = subset(data, 6000, 8000);
    const before = tf.memory().numTensors;
    const model = await trainRanker({
      spec,
      ...train,
      hidden: [64, 32],
      headHidden: 16,
      epochs: 4,
      batchSize: 256,
      learningRate: 0.005,
      seed: 2,
    });
    try {
      expect(model.heads).toEqual(["click", "completion", "like"]);
      const p = model.predict(test.rows);
      const modelAuc = auc(p.click, test.labels.click);
      const oracleAuc = auc(data.clickProb.subarray(6000), test.labels.click);
      expect(modelAuc).toBeGreaterThan(0.75);
      expect(modelAuc).toBeGreaterThan(oracleAuc - 0.12); // observed 0.85 vs oracle 0.92
      // completion is driven by d2 only, on clicked rows: the head must have picked that up too.
      const clicked = Array.from({ length: 2000 }, (_, i) => i).filter((i) => test.masks.completion[i] === 1);
      expect(auc(clicked.map((i) => p.completion[i]), clicked.map((i) => test.labels.completion[i]))).toBeGreaterThan(0.7);
      for (const h of model.heads) for (const x of p[h]) expect(x > 0 && x < 1).toBe(true);
      const heldOut = model.evaluateLoss(test.rows, test.labels, test.masks);
      expect(heldOut.perHead.click).toBeLessThan(Math.log(2));
      expect(heldOut.total).toBeCloseTo(heldOut.perHead.click + heldOut.perHead.completion + heldOut.perHead.like, 5);
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("ignores labels on masked rows: same loss, and bit-identical training", async () => {
    const data = makeRows(1200, 5);
    const flipped = {
      ...data.labels,
      like: data.labels.like.map((y, i) => (data.masks.like[i] === 1 ? y : 1 - y)),
      completion: data.labels.completion.map((y, i) => (data.masks.completion[i] === 1 ? y : 0.25)),
    };
    const opts = { spec, rows: data.rows, masks: data.masks, hidden: [16, 8], headHidden: 4, epochs: 1, batchSize: 128, seed: 4 };
    const a = await trainRanker({ ...opts, labels: data.labels });
    const b = await trainRanker({ ...opts, labels: flipped });
    try {
      const la = a.evaluateLoss(data.rows, data.labels, data.masks);
      const lb = a.evaluateLoss(data.rows, flipped, data.masks);
      expect(Number.isFinite(la.total)).toBe(true);
      expect(lb).toEqual(la);
      // The same rows with a label changed where the mask is 1 do change the loss: the check can fail.
      const changed = { ...data.labels, like: data.labels.like.map((y, i) => (data.masks.like[i] === 1 ? 1 - y : y)) };
      expect(a.evaluateLoss(data.rows, changed, data.masks).perHead.like).not.toBeCloseTo(la.perHead.like, 3);
      expect(Array.from(b.predict(data.rows).like)).toEqual(Array.from(a.predict(data.rows).like));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it("maskedBinaryCrossEntropy is the mean BCE over unmasked rows, stable for saturated logits", () => {
    const z = [0.3, -2, 40, -40, 1];
    const y = [1, 0, 1, 0, 1];
    const m = [1, 1, 1, 1, 0];
    const bce = (zi: number, yi: number) => -(yi * Math.log(sigmoid(zi)) + (1 - yi) * Math.log(1 - sigmoid(zi)));
    const expected = [0, 1, 2, 3].reduce((s, i) => s + (i < 2 ? bce(z[i], y[i]) : 0), 0) / 4; // saturated: ≈0
    const got = tf.tidy(() =>
      maskedBinaryCrossEntropy(tf.tensor1d(z), tf.tensor1d(y), tf.tensor1d(m)).dataSync()[0],
    );
    expect(got).toBeCloseTo(expected, 6);
    const allMasked = tf.tidy(
      () => maskedBinaryCrossEntropy(tf.tensor1d(z), tf.tensor1d(y), tf.tensor1d([0, 0, 0, 0, 0])).dataSync()[0],
    );
    expect(allMasked).toBe(0);
  });

  it("rejects bad labels and masks with errors naming the head and row", async () => {
    const data = makeRows(50, 1);
    const base = { spec, rows: data.rows, epochs: 1 };
    const like = data.labels.like.slice();
    const row = data.masks.like.findIndex((m) => m === 1);
    like[row] = 2;
    await expect(trainRanker({ ...base, labels: { ...data.labels, like }, masks: data.masks })).rejects.toThrow(
      new RegExp(`labels\\.like: row ${row}`),
    );
    await expect(
      trainRanker({ ...base, labels: data.labels, masks: { ...data.masks, click: new Float32Array(50).fill(0.5) } }),
    ).rejects.toThrow(/masks\.click: row 0/);
    await expect(
      trainRanker({ ...base, labels: data.labels, masks: { ...data.masks, skip: new Float32Array(50) } }),
    ).rejects.toBeInstanceOf(ReelfeedError);
    await expect(trainRanker({ ...base, labels: {}, masks: {} })).rejects.toThrow(/labels/);
  });
});
