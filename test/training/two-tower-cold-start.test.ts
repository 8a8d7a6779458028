import { beforeAll, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import type { FeatureBatch, FeatureSpec } from "../../src/features/spec";
import { runOnnx } from "../../src/training/onnx-export";
import { initTf, tf } from "../../src/training/tf-backend";
import { createRng } from "../../src/training/tower-network";
import { trainTwoTower, type TwoTowerOptions } from "../../src/training/two-tower";

/**
 * Cold-start dropout, id dropout and the item bias. The planted problem: videos have a Zipf popularity and belong
 * to clusters; users with history prefer one cluster. A user without history (and an id never seen in training)
 * can only be served by popularity, which the model must learn from the cold-start copies of the examples.
 */
const VIDEOS = 120;
const CLUSTERS = 6;
const USERS = 200;
const OOV = 4; // user ids 1..OOV are the OOV buckets; known users start after them
const BAG = 6;

const videoSpec: FeatureSpec = {
  categorical: [{ name: "video_id", vocabSize: VIDEOS + 1, dim: 8 }],
  bags: [],
  dense: ["cluster_a", "cluster_b"],
};
const userSpec: FeatureSpec = {
  categorical: [{ name: "user_id", vocabSize: 1 + OOV + USERS, dim: 8 }],
  bags: [{ name: "history", vocabSize: VIDEOS + 1, dim: 8, length: BAG }],
  dense: ["cold"],
};

function problem(seed: number) {
  const rng = createRng(seed);
  // Popularity rank = video index: weight 1/(v+1).
  const weights = Array.from({ length: VIDEOS }, (_, v) => 1 / (v + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const pick = (allowed: (v: number) => boolean) => {
    for (;;) {
      let x = rng() * total;
      let v = 0;
      while (v < VIDEOS - 1 && (x -= weights[v]) > 0) v++;
      if (allowed(v)) return v;
    }
  };
  const videos: FeatureBatch = { size: VIDEOS, categorical: [new Int32Array(VIDEOS)], bags: [], dense: new Float32Array(VIDEOS * 2) };
  for (let v = 0; v < VIDEOS; v++) {
    videos.categorical[0][v] = v + 1;
    const angle = (2 * Math.PI * (v % CLUSTERS)) / CLUSTERS;
    videos.dense[v * 2] = Math.cos(angle);
    videos.dense[v * 2 + 1] = Math.sin(angle);
  }
  const rows: { user: number; history: number[]; positive: number }[] = [];
  for (let u = 0; u < USERS; u++) {
    const c = u % CLUSTERS;
    const history: number[] = [];
    // Each user's first interaction has no history: like a real log, cold rows are rare (1 in 8 here).
    for (let t = 0; t < 8; t++) {
      const positive = rng() < 0.85 ? pick((v) => v % CLUSTERS === c) : pick(() => true);
      rows.push({ user: u, history: history.slice(-BAG), positive });
      history.push(positive);
    }
  }
  const n = rows.length;
  const batch = (cold: boolean): FeatureBatch => {
    const b: FeatureBatch = { size: n, categorical: [new Int32Array(n)], bags: [new Int32Array(n * BAG)], dense: new Float32Array(n) };
    rows.forEach((r, i) => {
      b.categorical[0][i] = 1 + OOV + r.user;
      if (!cold) r.history.forEach((v, k) => (b.bags[0][i * BAG + k] = v + 1));
      b.dense[i] = cold || r.history.length === 0 ? 1 : 0;
    });
    return b;
  };
  return { videos, users: batch(false), coldUsers: batch(true), positives: Int32Array.from(rows.map((r) => r.positive)) };
}

/** A user never seen in training, without history: an OOV id bucket, empty bag, cold flag. */
function coldRow(bucket: number): FeatureBatch {
  return { size: 1, categorical: [Int32Array.of(bucket)], bags: [new Int32Array(BAG)], dense: Float32Array.of(1) };
}

/** Spearman correlation between the cold user's scores and true popularity (video index ascending = more popular). */
function popularityCorrelation(scores: Float32Array): number {
  const rank = (xs: number[]) => {
    const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
    const r = new Array<number>(xs.length);
    order.forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const a = rank(Array.from(scores));
  const b = rank(Array.from({ length: VIDEOS }, (_, v) => -v));
  const n = VIDEOS;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (a[i] - b[i]) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

function scoresOf(user: Float32Array, videos: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(VIDEOS);
  for (let v = 0; v < VIDEOS; v++) for (let d = 0; d < dim; d++) out[v] += user[d] * videos[v * dim + d];
  return out;
}

describe("two-tower cold start and item bias", () => {
  const p = problem(3);
  const base = (): TwoTowerOptions => ({
    userSpec,
    videoSpec,
    users: p.users,
    positives: p.positives,
    videos: p.videos,
    dim: 8,
    hidden: [16],
    epochs: 6,
    batchSize: 128,
    learningRate: 0.01,
    seed: 5,
  });
  beforeAll(async () => {
    await initTf();
  });

  it("with cold-start and id dropout, an unseen user without history gets a popularity-like ranking", async () => {
    const model = await trainTwoTower({
      ...base(),
      coldStart: { rate: 0.3, users: p.coldUsers },
      idDropout: { column: "user_id", rate: 0.1, oov: [1, OOV] },
      itemBias: true,
    });
    try {
      expect(model.dim).toBe(9);
      const v = model.embedVideos(p.videos);
      const u = model.embedUsers(coldRow(2));
      const rho = popularityCorrelation(scoresOf(u, v, model.dim));
      expect(rho).toBeGreaterThan(0.6);
      // The top of the cold list is the head of the popularity curve.
      const top = Array.from(scoresOf(u, v, model.dim).keys()).sort((a, b) => scoresOf(u, v, model.dim)[b] - scoresOf(u, v, model.dim)[a]).slice(0, 10);
      expect(top.filter((x) => x < 20).length).toBeGreaterThanOrEqual(6);
    } finally {
      model.dispose();
    }
  }, 60_000);

  it("item bias: user rows are unit vectors over dim + 1, and both towers' ONNX match (the video tower's bias column unnormalised)", async () => {
    const before = tf.memory().numTensors;
    const model = await trainTwoTower({ ...base(), epochs: 1, itemBias: true });
    try {
      const rows: FeatureBatch = { size: 40, categorical: [p.users.categorical[0].slice(0, 40)], bags: [p.users.bags[0].slice(0, 40 * BAG)], dense: p.users.dense.slice(0, 40) };
      const u = model.embedUsers(rows);
      expect(u).toHaveLength(40 * 9);
      for (let i = 0; i < 40; i++) expect(Math.hypot(...u.subarray(i * 9, i * 9 + 9))).toBeCloseTo(1, 5);
      const onnx = await runOnnx(model.exportUserTowerOnnx(), rows, userSpec);
      let diff = 0;
      for (let i = 0; i < u.length; i++) diff = Math.max(diff, Math.abs(onnx.embedding[i] - u[i]));
      expect(diff).toBeLessThan(1e-5);
      // Videos: the first dim coordinates are unit vectors, the last is the free bias.
      const v = model.embedVideos(p.videos);
      expect(Math.hypot(...v.subarray(0, 8))).toBeCloseTo(1, 5);
      // The video tower ships as ONNX too (the live catalogue embeds uploads with it): same vectors, bias included.
      const vOnnx = await runOnnx(model.exportVideoTowerOnnx(), p.videos, videoSpec);
      let vDiff = 0;
      for (let i = 0; i < v.length; i++) vDiff = Math.max(vDiff, Math.abs(vOnnx.embedding[i] - v[i]));
      expect(vDiff).toBeLessThan(1e-5);
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it("item bias with a popularity prior and a bias scale: the video tower's ONNX adds the same prior and scale", async () => {
    const model = await trainTwoTower({ ...base(), epochs: 1, itemBias: true, popularityPrior: { column: "video_id" }, itemBiasScale: 0.25 });
    try {
      const v = model.embedVideos(p.videos);
      const onnx = await runOnnx(model.exportVideoTowerOnnx(), p.videos, videoSpec);
      let diff = 0;
      for (let i = 0; i < v.length; i++) diff = Math.max(diff, Math.abs(onnx.embedding[i] - v[i]));
      expect(diff).toBeLessThan(1e-5);
      // An id outside the vocabulary reads row 0 of the prior, as the tf side's sanitised gather does.
      const odd: FeatureBatch = { size: 1, categorical: [Int32Array.of(VIDEOS + 50)], bags: [], dense: p.videos.dense.slice(0, 2) };
      const zero: FeatureBatch = { size: 1, categorical: [Int32Array.of(0)], bags: [], dense: p.videos.dense.slice(0, 2) };
      expect(Array.from((await runOnnx(model.exportVideoTowerOnnx(), odd, videoSpec)).embedding)).toEqual(Array.from(model.embedVideos(zero)).map((x) => expect.closeTo(x, 5)));
    } finally {
      model.dispose();
    }
  }, 60_000);

  it("is deterministic for a seed with the dropouts on", async () => {
    const opts = { ...base(), epochs: 1, coldStart: { rate: 0.2, users: p.coldUsers }, idDropout: { column: "user_id", rate: 0.2, oov: [1, OOV] as [number, number] } };
    const a = await trainTwoTower(opts);
    const b = await trainTwoTower(opts);
    try {
      expect(Array.from(a.embedVideos(p.videos))).toEqual(Array.from(b.embedVideos(p.videos)));
      expect(a.stats.finalLoss).toBe(b.stats.finalLoss);
    } finally {
      a.dispose();
      b.dispose();
    }
  }, 60_000);

  it("rejects bad dropout options, naming the argument", async () => {
    const bad = [
      { coldStart: { rate: 0.1, users: { ...p.coldUsers, size: 3 } } },
      { coldStart: { rate: 2, users: p.coldUsers } },
      { idDropout: { column: "nope", rate: 0.1, oov: [1, OOV] as [number, number] } },
      { idDropout: { column: "user_id", rate: 0.1, oov: [1, 10_000] as [number, number] } },
    ];
    for (const extra of bad) {
      const err = await trainTwoTower({ ...base(), epochs: 0, ...extra }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReelfeedError);
    }
  });
});
