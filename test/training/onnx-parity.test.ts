import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import type { FeatureBatch, FeatureSpec } from "../../src/features/spec";
import { createOnnxSession, exportTowerOnnx, onnxInputNames, runOnnx } from "../../src/training/onnx-export";
import { trainRanker, type RankerModel } from "../../src/training/ranker";
import { initTf } from "../../src/training/tf-backend";
import { createRng, createTower, mapInChunks } from "../../src/training/tower-network";
import { trainTwoTower, type TwoTowerModel } from "../../src/training/two-tower";

const TOLERANCE = 1e-4;

const userSpec: FeatureSpec = {
  categorical: [
    { name: "user_id", vocabSize: 60, dim: 6 },
    { name: "country", vocabSize: 5, dim: 3 },
  ],
  bags: [
    { name: "history", vocabSize: 40, dim: 8, length: 5 },
    { name: "liked_tags", vocabSize: 12, dim: 4, length: 3 },
  ],
  dense: ["hour_sin", "hour_cos", "activity"],
};
const videoSpec: FeatureSpec = {
  categorical: [{ name: "video_id", vocabSize: 40, dim: 8 }],
  bags: [{ name: "tags", vocabSize: 12, dim: 4, length: 3 }],
  dense: ["age", "popularity"],
};
const rankerSpec: FeatureSpec = {
  categorical: [...userSpec.categorical, ...videoSpec.categorical],
  bags: [...userSpec.bags, videoSpec.bags[0]],
  dense: [...userSpec.dense, ...videoSpec.dense],
};

/**
 * Random rows plus the edge cases the renderings must agree on: all-padding bags, negative and ≥ vocabSize
 * indices (both renderings map them to 0), and a row mixing real ids with padding.
 */
function randomRows(spec: FeatureSpec, n: number, seed: number): FeatureBatch {
  const rng = createRng(seed);
  const int = (k: number) => Math.floor(rng() * k);
  const rows: FeatureBatch = {
    size: n,
    categorical: spec.categorical.map((c) => Int32Array.from({ length: n }, () => int(c.vocabSize))),
    bags: spec.bags.map((c) =>
      Int32Array.from({ length: n * c.length }, () => (rng() < 0.3 ? 0 : 1 + int(c.vocabSize - 1))),
    ),
    dense: Float32Array.from({ length: n * spec.dense.length }, () => (rng() * 2 - 1) * 3),
  };
  if (n >= 4) {
    spec.bags.forEach((c, b) => rows.bags[b].fill(0, 0, c.length)); // row 0: every bag all padding
    spec.categorical.forEach((c, k) => {
      rows.categorical[k][1] = -7; // row 1: negative ids
      rows.categorical[k][2] = c.vocabSize + 100; // row 2: ids past the vocabulary
    });
    spec.bags.forEach((c, b) => {
      rows.bags[b][1 * c.length] = -3;
      rows.bags[b][2 * c.length] = c.vocabSize; // exactly one past the end
      rows.bags[b].fill(0, 3 * c.length, 4 * c.length); // row 3: all padding except one real id
      rows.bags[b][3 * c.length + c.length - 1] = 1;
    });
  }
  return rows;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe("ONNX export parity (onnxruntime-node vs tfjs)", () => {
  let twoTower: TwoTowerModel;
  let ranker: RankerModel;
  let dir: string;

  beforeAll(async () => {
    await initTf();
    dir = await mkdtemp(join(tmpdir(), "reelfeed-onnx-"));
    const n = 600;
    const users = randomRows(userSpec, n, 1);
    const videos = randomRows(videoSpec, 40, 2);
    const rng = createRng(3);
    twoTower = await trainTwoTower({
      userSpec,
      videoSpec,
      users,
      videos,
      positives: Int32Array.from({ length: n }, () => Math.floor(rng() * 40)),
      dim: 16,
      hidden: [32, 24],
      epochs: 2,
      batchSize: 128,
      seed: 9,
    });
    const rows = randomRows(rankerSpec, n, 4);
    const click = Float32Array.from({ length: n }, (_, i) => (rows.dense[i * 5] > 0 ? 1 : 0));
    ranker = await trainRanker({
      spec: rankerSpec,
      rows,
      labels: { click, completion: click.map(() => (rng() < 0.5 ? 1 : 0)), like: click.map(() => (rng() < 0.2 ? 1 : 0)) },
      masks: { click: new Float32Array(n).fill(1), completion: click, like: click },
      hidden: [32, 16],
      headHidden: 8,
      epochs: 2,
      batchSize: 128,
      seed: 9,
    });
  });

  afterAll(async () => {
    twoTower?.dispose();
    ranker?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("user tower: same embeddings on the same rows, edge rows included", async () => {
    const rows = randomRows(userSpec, 257, 11);
    const bytes = twoTower.exportUserTowerOnnx();
    const out = await runOnnx(bytes, rows, userSpec);
    expect(Object.keys(out)).toEqual(["embedding"]);
    expect(twoTower.userOnnxInputs).toEqual(["user_id", "country", "history", "liked_tags", "dense"]);
    const tfOut = twoTower.embedUsers(rows);
    expect(maxAbsDiff(out.embedding, tfOut)).toBeLessThan(TOLERANCE);
    // The edge rows really are edge rows: out-of-range ids behave exactly like id 0.
    const asZero = randomRows(userSpec, 257, 11);
    asZero.categorical.forEach((col) => {
      col[1] = 0;
      col[2] = 0;
    });
    asZero.bags.forEach((bag, b) => {
      bag[userSpec.bags[b].length] = 0;
      bag[2 * userSpec.bags[b].length] = 0;
    });
    expect(maxAbsDiff((await runOnnx(bytes, asZero, userSpec)).embedding, out.embedding)).toBe(0);
  });

  it("video tower: same embeddings, also when loaded from a file path and an open session", async () => {
    const rows = randomRows(videoSpec, 40, 12);
    const path = join(dir, "video-tower.onnx");
    await writeFile(path, twoTower.exportVideoTowerOnnx());
    const fromPath = await runOnnx(path, rows, videoSpec);
    expect(maxAbsDiff(fromPath.embedding, twoTower.embedVideos(rows))).toBeLessThan(TOLERANCE);
    const session = await createOnnxSession(path);
    try {
      const fromSession = await runOnnx(session, rows, videoSpec, { chunkRows: 7 });
      expect(maxAbsDiff(fromSession.embedding, fromPath.embedding)).toBeLessThan(1e-6);
    } finally {
      await session.release();
    }
  });

  it("ranker: same probabilities per head", async () => {
    const rows = randomRows(rankerSpec, 300, 13);
    const out = await runOnnx(ranker.exportOnnx(), rows, rankerSpec);
    const tfOut = ranker.predict(rows);
    expect(Object.keys(out).sort()).toEqual(["click", "completion", "like"]);
    for (const head of ranker.heads) {
      expect(out[head]).toHaveLength(300);
      expect(maxAbsDiff(out[head], tfOut[head])).toBeLessThan(TOLERANCE);
    }
  });

  it("declares int32 [batch] / [batch, length] / float32 dense inputs with a symbolic batch dimension", async () => {
    const session = await ort.InferenceSession.create(ranker.exportOnnx());
    try {
      expect([...session.inputNames]).toEqual(onnxInputNames(rankerSpec));
      const meta = session.inputMetadata as readonly { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] }[];
      const byName = Object.fromEntries(meta.map((m) => [m.name, m]));
      expect(byName.user_id.type).toBe("int32");
      expect(byName.user_id.shape).toEqual(["batch"]);
      expect(byName.history.shape).toEqual(["batch", 5]);
      expect(byName.dense.type).toBe("float32");
      expect(byName.dense.shape).toEqual(["batch", 5]);
    } finally {
      await session.release();
    }
  });

  it("towers without dense columns or hidden layers, un-normalised, render identically too", async () => {
    const spec: FeatureSpec = { categorical: [{ name: "a", vocabSize: 9, dim: 3 }], bags: [{ name: "b", vocabSize: 7, dim: 2, length: 4 }], dense: [] };
    for (const [hidden, normalize] of [[[], false], [[5], true]] as const) {
      const tower = createTower({ spec, outputDim: 4, hidden: [...hidden], normalize, outputActivation: "sigmoid", seed: 3 });
      try {
        const rows = randomRows(spec, 20, 5);
        const out = await runOnnx(exportTowerOnnx(tower.weights()), rows, spec);
        const tfOut = mapInChunks(spec, rows, 4, (t) => tower.forward(t));
        expect(maxAbsDiff(out.embedding, tfOut)).toBeLessThan(TOLERANCE);
      } finally {
        tower.dispose();
      }
    }
  });

  it("names what is wrong: a model that does not match the spec, an unreadable file, a bad batch", async () => {
    const rows = randomRows(videoSpec, 4, 1);
    const err = await runOnnx(twoTower.exportUserTowerOnnx(), rows, videoSpec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReelfeedError);
    expect((err as ReelfeedError).code).toBe("BAD_BUNDLE");
    const garbage = join(dir, "garbage.onnx");
    await writeFile(garbage, "not a model");
    await expect(runOnnx(garbage, rows, videoSpec)).rejects.toThrow(/garbage\.onnx/);
    await expect(runOnnx(join(dir, "missing.onnx"), rows, videoSpec)).rejects.toMatchObject({ code: "BAD_FILE" });
    const short = { ...rows, dense: rows.dense.subarray(1) };
    await expect(runOnnx(twoTower.exportVideoTowerOnnx(), short, videoSpec)).rejects.toThrow(/batch\.dense/);
  });
});
