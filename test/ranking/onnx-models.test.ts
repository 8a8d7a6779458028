import type { Worker } from "node:worker_threads";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import type { Dataset, User, Video } from "../../src/data/types";
import { DAY_MS } from "../../src/features/aggregates";
import { fitFeatureArtifacts, type FeatureArtifacts } from "../../src/features/artifacts";
import { aggregatesAt } from "../../src/features/replay";
import { buildRankerRows, buildUserTowerRows, RANKER_REQUEST_COLUMNS, rankerSpec, userTowerSpec } from "../../src/features/rows";
import type { FeedQuery } from "../../src/pipeline/types";
import { createOnnxRankerModel, rowContext } from "../../src/ranking/ranker-model";
import { createOnnxRuntimeSession, sharedFeeds, type OnnxRuntimeSession } from "../../src/ranking/onnx-session";
import { rangeGuards, rewriteForSharedInputs } from "../../src/ranking/shared-inputs-graph";
import { attr, createGraphBuilder } from "../../src/training/onnx-builder";
import { createOnnxWorkerSession, spawnInferenceThread } from "../../src/ranking/onnx-worker-session";
import { createOnnxUserTowerModel } from "../../src/ranking/user-tower-model";
import { EMPTY_SEEN } from "../../src/stores/seen-set";
import { exportTowerOnnx, runOnnx } from "../../src/training/onnx-export";
import { trainRanker, type RankerModel as TrainedRanker } from "../../src/training/ranker";
import { initTf } from "../../src/training/tf-backend";
import { createRng, createTower } from "../../src/training/tower-network";
import { T0, tinyDataset } from "../features/fixtures";

/**
 * The serving adapters against real ONNX Runtime and real models: a ranker trained (briefly) by
 * src/training/ranker.ts and a user tower rendered by src/training/onnx-export.ts, fed rows from the shared
 * builders. The CUDA provider is not installed here, so the CPU fallback path is the one exercised.
 */

const { onnx } = onnxProto;
const UNTIL = T0 + 8 * DAY_MS;
let data: Dataset;
let artifacts: FeatureArtifacts;
let trained: TrainedRanker;
let rankerBytes: Uint8Array;
let towerBytes: Uint8Array;
const sessions: OnnxRuntimeSession[] = [];
const logs: string[] = [];

async function open(model: Uint8Array, providers: Array<"cuda" | "cpu"> = ["cuda", "cpu"]) {
  const s = await createOnnxRuntimeSession({ model, executionProviders: providers, name: "test-model", log: (m) => logs.push(m) });
  sessions.push(s);
  return s;
}

function query(user: User | undefined, userId = user?.id ?? "anon"): FeedQuery {
  const agg = aggregatesAt(data, UNTIL).users.get(userId);
  return {
    userId,
    user,
    surface: "home",
    context: { device: user?.device ?? "unknown", country: user?.country, language: user?.language, now: UNTIL, sessionVideoIds: [] },
    userAgg: agg,
    relations: { notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] },
    seen: EMPTY_SEEN,
    pageSize: 10,
  };
}

beforeAll(async () => {
  await initTf();
  data = tinyDataset();
  artifacts = fitFeatureArtifacts({ dataset: data, until: UNTIL });
  // Random training rows over the real catalog: the model only needs to be a real, exported ranker.
  const spec = rankerSpec(artifacts);
  const rng = createRng(5);
  const inputs = Array.from({ length: 96 }, (_, i) => ({
    user: data.users[i % data.users.length],
    video: data.videos[Math.floor(rng() * data.videos.length)],
    context: { now: UNTIL - Math.floor(rng() * 5) * DAY_MS },
  }));
  const rows = buildRankerRows(artifacts, inputs);
  const label = () => Float32Array.from({ length: rows.size }, () => (rng() < 0.4 ? 1 : 0));
  const ones = new Float32Array(rows.size).fill(1);
  trained = await trainRanker({
    spec,
    rows,
    labels: { click: label(), completion: label(), like: label() },
    masks: { click: ones, completion: ones, like: ones },
    hidden: [16],
    headHidden: 8,
    epochs: 1,
    batchSize: 32,
    seed: 3,
  });
  rankerBytes = trained.exportOnnx();
  const tower = createTower({ spec: userTowerSpec(artifacts), outputDim: 6, hidden: [12], normalize: true, seed: 4 });
  towerBytes = exportTowerOnnx(tower.weights());
});

afterAll(async () => {
  trained?.dispose();
  for (const s of sessions) await s.release();
});

describe("onnx session", () => {
  it("falls back from CUDA to CPU, says why, and reports the active provider", async () => {
    const before = logs.length;
    const s = await open(rankerBytes);
    expect(s.provider).toBe("cpu");
    expect(s.skipped).toHaveLength(1);
    expect(s.skipped[0]).toMatch(/^cuda: /);
    expect(logs.slice(before)).toEqual([expect.stringMatching(/test-model: execution provider cuda: .*falling back/)]);
    const cpuOnly = await open(rankerBytes, ["cpu"]);
    expect(cpuOnly.skipped).toEqual([]);
  });

  it("fails with named errors: bad bytes BAD_FILE, no providers BAD_CONFIG, unreadable path BAD_FILE", async () => {
    await expect(createOnnxRuntimeSession({ model: new Uint8Array([1, 2, 3]), executionProviders: ["cpu"] })).rejects.toMatchObject({ code: "BAD_FILE" });
    await expect(createOnnxRuntimeSession({ model: rankerBytes, executionProviders: [] })).rejects.toMatchObject({ code: "BAD_CONFIG" });
    await expect(createOnnxRuntimeSession({ model: "/nonexistent/ranker.onnx" })).rejects.toMatchObject({ code: "BAD_FILE" });
  });
});

describe("onnx session on its own thread", () => {
  it("opens with the same provider fallback, runs batches with the same outputs as on the main thread, and releases", async () => {
    const threadLogs: string[] = [];
    const threaded = await createOnnxWorkerSession({ model: rankerBytes, executionProviders: ["cuda", "cpu"], name: "threaded", log: (m) => threadLogs.push(m) });
    try {
      expect(threaded.provider).toBe("cpu");
      expect(threaded.skipped[0]).toMatch(/^cuda: /);
      expect(threadLogs).toEqual([expect.stringMatching(/threaded: execution provider cuda: .*falling back/)]);
      const main = await open(rankerBytes, ["cpu"]);
      expect(threaded.inputNames).toEqual(main.inputNames);
      expect(threaded.outputNames).toEqual(main.outputNames);
      // The thread's serving graph is the main thread's: same shared inputs, range checks and rewrites, so a CPU
      // ranker on it runs each request alone (auto) instead of merging users into the exported graph.
      expect(threaded.sharedInputs).toEqual(RANKER_REQUEST_COLUMNS);
      expect(threaded.rangeCheckedInputs).toEqual(main.rangeCheckedInputs);
      expect(threaded.servingRewrites).toEqual(main.servingRewrites);
      const ranker = createOnnxRankerModel({ session: threaded, artifacts, version: "r-test", microBatchWindowMs: 20 });
      await Promise.all(data.users.map((u, i) => ranker.score(query(u), data.videos.slice(i, i + 4) as Video[])));
      expect(ranker.batcher.stats()).toMatchObject({ runs: data.users.length, requests: data.users.length });
      const spec = rankerSpec(artifacts);
      const q = query(data.users[2]);
      const batches = [data.videos.slice(0, 9), data.videos.slice(3, 40), data.videos.slice(1, 2)].map((videos) =>
        buildRankerRows(artifacts, videos.map((video) => ({ user: q.user, userAgg: q.userAgg, video, context: rowContext(q) }))),
      );
      // Concurrent runs: each gets its own rows back.
      const outs = await Promise.all(batches.map((b) => threaded.run(spec, b)));
      for (const [i, b] of batches.entries()) {
        const expected = await main.run(spec, b);
        for (const head of main.outputNames) expect(Array.from(outs[i][head])).toEqual(Array.from(expected[head]));
      }
      // A batch the model rejects fails that run only; the thread serves the next one.
      const broken = { ...batches[0], dense: new Float32Array(1) };
      await expect(threaded.run(spec, broken)).rejects.toThrow();
      expect((await threaded.run(spec, batches[2])).click).toHaveLength(1);
      // So does one that cannot even be sent to the thread.
      const unsendable = { ...batches[2], dense: (() => 0) as unknown as Float32Array };
      await expect(threaded.run(spec, unsendable)).rejects.toThrow(/could not be cloned/);
      expect((await threaded.run(spec, batches[2])).click).toHaveLength(1);
    } finally {
      await threaded.release();
    }
    await expect(threaded.run(rankerSpec(artifacts), buildRankerRows(artifacts, []))).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });

  it("a thread that dies fails the runs in flight with UNAVAILABLE, and the next run starts a new one", async () => {
    const threads: Worker[] = [];
    const session = await createOnnxWorkerSession(
      { model: rankerBytes, executionProviders: ["cpu"], name: "crashy" },
      { spawn: (d) => (threads.push(spawnInferenceThread(d)), threads[threads.length - 1]) },
    );
    try {
      const spec = rankerSpec(artifacts);
      const q = query(data.users[2]);
      const rows = buildRankerRows(artifacts, data.videos.slice(0, 50).map((video) => ({ user: q.user, userAgg: q.userAgg, video, context: rowContext(q) })));
      const before = await session.run(spec, rows);
      expect(threads).toHaveLength(1);
      // Killed with runs in flight (as a native crash or an out-of-memory thread would end): they fail, coded.
      const inFlight = [session.run(spec, rows), session.run(spec, rows)];
      await threads[0].terminate();
      for (const run of inFlight) await expect(run).rejects.toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/crashy: inference thread exited/) });
      // The model is not gone for good: the next run gets a fresh thread and the same answers.
      const after = await session.run(spec, rows);
      expect(threads).toHaveLength(2);
      expect(Array.from(after.click)).toEqual(Array.from(before.click));
    } finally {
      await session.release();
    }
  });

  it("reports the thread's open failure with its code: bad bytes BAD_FILE, no providers BAD_CONFIG", async () => {
    await expect(createOnnxWorkerSession({ model: new Uint8Array([1, 2, 3]), executionProviders: ["cpu"] })).rejects.toMatchObject({ code: "BAD_FILE" });
    await expect(createOnnxWorkerSession({ model: rankerBytes, executionProviders: [] })).rejects.toMatchObject({ code: "BAD_CONFIG" });
  });
});

describe("ONNX ranker model", () => {
  it("scores with the shared row builders: same as the training path's ONNX run and the tf model", async () => {
    // The exported graph, bit for bit the training path's run (the serving variant is compared to rounding below).
    const exported = await createOnnxRuntimeSession({ model: rankerBytes, executionProviders: ["cpu"], sharedInputs: [] });
    sessions.push(exported);
    const ranker = createOnnxRankerModel({ session: exported, artifacts, version: "r-test" });
    expect(ranker.heads).toEqual(["click", "completion", "like"]);
    expect(ranker.executionProvider).toBe("cpu");
    const q = query(data.users[1]);
    const videos = data.videos.slice(0, 7);
    const scores = await ranker.score(q, videos);
    const rows = buildRankerRows(artifacts, videos.map((video) => ({ user: q.user, userAgg: q.userAgg, video, context: rowContext(q) })));
    const viaTraining = await runOnnx(rankerBytes, rows, rankerSpec(artifacts));
    const viaTf = trained.predict(rows);
    for (const head of ranker.heads) {
      expect(scores[head]).toHaveLength(7);
      expect(Array.from(scores[head])).toEqual(Array.from(viaTraining[head]));
      scores[head].forEach((p, i) => expect(p).toBeCloseTo(viaTf[head][i], 4));
      for (const p of scores[head]) expect(p > 0 && p < 1).toBe(true);
    }
    // Different users get different scores: the user side of the row is really used.
    const other = await ranker.score(query(data.users[4]), videos);
    expect(Array.from(other.click)).not.toEqual(Array.from(scores.click));
    expect(await ranker.score(q, [])).toEqual({ click: new Float32Array(0), completion: new Float32Array(0), like: new Float32Array(0) });
  });

  it("runs one request's rows with its user branches once (shared-inputs graph): the exported graph's scores to float32 rounding", async () => {
    const spec = rankerSpec(artifacts);
    const once = await open(rankerBytes, ["cpu"]);
    const exported = await createOnnxRuntimeSession({ model: rankerBytes, executionProviders: ["cpu"], sharedInputs: [] });
    sessions.push(exported);
    expect(once.sharedInputs).toEqual(RANKER_REQUEST_COLUMNS);
    expect(exported.sharedInputs).toEqual([]);
    const q = query(data.users[2]);
    const rows = buildRankerRows(artifacts, data.videos.map((video) => ({ user: q.user, userAgg: q.userAgg, video, context: rowContext(q) })));
    // The request's batch is row-constant in the user columns: one row of each is fed.
    const feeds = sharedFeeds(spec, rows, new Set(RANKER_REQUEST_COLUMNS));
    expect(feeds?.history.dims).toEqual([1, spec.bags[1].length]);
    expect(feeds?.videoId.dims).toEqual([rows.size]);
    const [a, b] = await Promise.all([once.run(spec, rows), exported.run(spec, rows)]);
    for (const head of once.outputNames) a[head].forEach((p, i) => expect(Math.abs(p - b[head][i])).toBeLessThanOrEqual(1e-6));
    // Rows of several users (a micro-batch) are not row-constant: the exported graph runs them.
    const mixed = buildRankerRows(artifacts, data.users.map((user) => ({ user, userAgg: aggregatesAt(data, UNTIL).users.get(user.id), video: data.videos[0], context: { now: UNTIL } })));
    expect(sharedFeeds(spec, mixed, new Set(RANKER_REQUEST_COLUMNS))).toBeUndefined();
    const [c, d] = await Promise.all([once.run(spec, mixed), exported.run(spec, mixed)]);
    for (const head of once.outputNames) expect(Array.from(c[head])).toEqual(Array.from(d[head]));
  });

  it("splits the trunk's first layer by columns in the shared-inputs graph (no Expand left); without the split, every shared branch is Expanded", () => {
    const ops = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);
    const split = ops(rewriteForSharedInputs(rankerBytes, RANKER_REQUEST_COLUMNS)!);
    const whole = ops(rewriteForSharedInputs(rankerBytes, RANKER_REQUEST_COLUMNS, { splitLayers: false })!);
    expect(split.filter((op) => op === "Expand")).toEqual([]);
    expect(whole.filter((op) => op === "Expand").length).toBeGreaterThan(0);
    // The first layer's Gemm is two: the shared columns once, the per-row columns with that as their bias.
    expect(split.filter((op) => op === "Gemm").length).toBe(whole.filter((op) => op === "Gemm").length + 1);
  });

  it("drops the index range guards in the serving graph and runs a batch with an index out of range through the exported graph", async () => {
    const spec = rankerSpec(artifacts);
    const bounds = rangeGuards(rankerBytes);
    expect(bounds.get("videoId")).toBe(spec.categorical.find((c) => c.name === "videoId")!.vocabSize);
    const ops = onnx.ModelProto.decode(rewriteForSharedInputs(rankerBytes, RANKER_REQUEST_COLUMNS, { dropRangeGuards: true })!).graph!.node!.map((n) => n.opType);
    expect(ops.filter((op) => op === "Where" || op === "GreaterOrEqual")).toEqual([]);
    const serving = await open(rankerBytes, ["cpu"]);
    const exported = await createOnnxRuntimeSession({ model: rankerBytes, executionProviders: ["cpu"], sharedInputs: [] });
    sessions.push(exported);
    const q = query(data.users[2]);
    const rows = buildRankerRows(artifacts, data.videos.map((video) => ({ user: q.user, userAgg: q.userAgg, video, context: rowContext(q) })));
    const shared = new Set(RANKER_REQUEST_COLUMNS);
    expect(sharedFeeds(spec, rows, shared, bounds)).toBeDefined();
    // An index past its table (a model and features out of step) and a negative one: the exported graph's guard maps
    // them to the unknown row, so the serving session must run that graph, and gives its outputs bit for bit.
    const videoIdAt = spec.categorical.findIndex((c) => c.name === "videoId");
    for (const bad of [bounds.get("videoId")!, -1]) {
      rows.categorical[videoIdAt][1] = bad;
      expect(sharedFeeds(spec, rows, shared, bounds)).toBeUndefined();
      const [a, b] = await Promise.all([serving.run(spec, rows), exported.run(spec, rows)]);
      for (const head of serving.outputNames) expect(Array.from(a[head])).toEqual(Array.from(b[head]));
    }
  });

  it("sums the bags by MatMul in the serving graph (no mask Mul, no ReduceSum over a bag's slots): the exported graph's scores to float32 rounding", async () => {
    const spec = rankerSpec(artifacts);
    const ops = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);
    const pooled = ops(rewriteForSharedInputs(rankerBytes, RANKER_REQUEST_COLUMNS, { dropRangeGuards: true, poolBagsByMatMul: true })!);
    const masked = ops(rewriteForSharedInputs(rankerBytes, RANKER_REQUEST_COLUMNS, { dropRangeGuards: true })!);
    // One MatMul per bag replaces its mask Mul, Unsqueeze and slot ReduceSum; the ReduceSum counting the slots stays.
    expect(pooled.filter((op) => op === "MatMul")).toHaveLength(spec.bags.length);
    expect(masked.filter((op) => op === "MatMul")).toHaveLength(0);
    expect(masked.filter((op) => op === "Mul").length - pooled.filter((op) => op === "Mul").length).toBe(spec.bags.length);
    expect(pooled.filter((op) => op === "ReduceSum")).toHaveLength(spec.bags.length);
    // The serving session keeps it (its start-up probe passed), and scores a request as the exported graph does.
    const serving = await open(rankerBytes, ["cpu"]);
    expect(serving.servingRewrites).toEqual(["splitLayers", "dropRangeGuards", "poolBagsByMatMul"]);
    const exported = await createOnnxRuntimeSession({ model: rankerBytes, executionProviders: ["cpu"], sharedInputs: [] });
    sessions.push(exported);
    expect(exported.servingRewrites).toEqual([]);
    for (const user of [data.users[0], data.users[3]]) {
      const q = query(user);
      const rows = buildRankerRows(artifacts, data.videos.map((video) => ({ user: q.user, userAgg: q.userAgg, video, context: rowContext(q) })));
      // Videos with no tag, one, and every slot filled: the zeroed padding row must not shift any of their means.
      const tagsAt = spec.bags.findIndex((b) => b.name === "tags");
      const slots = spec.bags[tagsAt].length;
      const tags = rows.bags[tagsAt];
      tags.fill(0, 0, slots);
      tags.fill(0, slots + 1, 2 * slots);
      tags.fill(1, 2 * slots, 3 * slots);
      expect([0, 1, 2].map((r) => tags.subarray(r * slots, (r + 1) * slots).filter((t) => t > 0).length)).toEqual([0, 1, slots]);
      const [a, b] = await Promise.all([serving.run(spec, rows), exported.run(spec, rows)]);
      for (const head of serving.outputNames) a[head].forEach((p, i) => expect(Math.abs(p - b[head][i])).toBeLessThanOrEqual(1e-6));
    }
  });

  it("serves the user tower's one-row request through its serving graph (no range guards), the exported graph's outputs in range and out", async () => {
    const tower = await open(towerBytes, ["cpu"]);
    const exported = await createOnnxRuntimeSession({ model: towerBytes, executionProviders: ["cpu"], sharedInputs: [] });
    sessions.push(exported);
    expect(tower.rangeCheckedInputs).toEqual(expect.arrayContaining(["userId", "history"]));
    expect(exported.rangeCheckedInputs).toEqual([]);
    const spec = userTowerSpec(artifacts);
    const rows = buildUserTowerRows(artifacts, [{ user: data.users[1], userAgg: aggregatesAt(data, UNTIL).users.get(data.users[1].id), context: { now: UNTIL } }]);
    expect(sharedFeeds(spec, rows, new Set(tower.sharedInputs), rangeGuards(towerBytes))).toBeDefined();
    const [a, b] = await Promise.all([tower.run(spec, rows), exported.run(spec, rows)]);
    a.embedding.forEach((x, i) => expect(Math.abs(x - b.embedding[i])).toBeLessThanOrEqual(1e-6));
    rows.categorical[spec.categorical.findIndex((c) => c.name === "userId")][0] = 1_000_000;
    expect(sharedFeeds(spec, rows, new Set(tower.sharedInputs), rangeGuards(towerBytes))).toBeUndefined();
    const [c, d] = await Promise.all([tower.run(spec, rows), exported.run(spec, rows)]);
    expect(Array.from(c.embedding)).toEqual(Array.from(d.embedding));
  });

  it("splits a Concat → Gemm with a transposed weight and no bias to the exported graph's outputs (float32 rounding)", async () => {
    // y = relu(concat(shared [·, 2], rowwise [·, 3]) · Wᵀ), W [4, 5] stored transposed.
    const b = createGraphBuilder({ name: "split-test" });
    const u = b.input("u", "float32", ["batch", 2]);
    const v = b.input("v", "float32", ["batch", 3]);
    const w = b.initializer("w", Float32Array.from({ length: 20 }, (_, i) => Math.sin(i + 1)), [4, 5]);
    const joined = b.node("Concat", [b.node("Mul", [u, b.float(2)]), v], { axis: attr.int(1) });
    b.output("y", "float32", ["batch", 4], b.node("Relu", [b.node("Gemm", [joined, w], { transB: attr.int(1) })]));
    const bytes = b.toBytes();
    expect(onnx.ModelProto.decode(rewriteForSharedInputs(bytes, ["u"])!).graph!.node!.map((n) => n.opType)).not.toContain("Expand");
    const rows = 4;
    const uRow = [0.5, -1.25];
    const full = await ort.InferenceSession.create(bytes);
    const once = await ort.InferenceSession.create(rewriteForSharedInputs(bytes, ["u"])!);
    const vData = Float32Array.from({ length: rows * 3 }, (_, i) => Math.cos(i));
    const a = await full.run({ u: new ort.Tensor("float32", Float32Array.from({ length: rows * 2 }, (_, i) => uRow[i % 2]), [rows, 2]), v: new ort.Tensor("float32", vData, [rows, 3]) });
    const c = await once.run({ u: new ort.Tensor("float32", Float32Array.from(uRow), [1, 2]), v: new ort.Tensor("float32", vData, [rows, 3]) });
    expect(c.y.dims).toEqual([rows, 4]);
    const x = a.y.data as Float32Array;
    (c.y.data as Float32Array).forEach((y, i) => expect(Math.abs(y - x[i])).toBeLessThanOrEqual(1e-6));
    expect([...x].some((y) => y > 0)).toBe(true);
    await full.release();
    await once.release();
  });

  it("rewrites only a graph whose shared branches meet the rest in a Concat: the user tower (every input a user column but dense) and no shared input leave it alone", () => {
    expect(rewriteForSharedInputs(rankerBytes, RANKER_REQUEST_COLUMNS)).toBeInstanceOf(Uint8Array);
    expect(rewriteForSharedInputs(rankerBytes, [])).toBeUndefined();
    expect(rewriteForSharedInputs(rankerBytes, ["nope"])).toBeUndefined();
    // Every input shared: nothing per-row to take the batch size from.
    expect(rewriteForSharedInputs(towerBytes, [...RANKER_REQUEST_COLUMNS, "dense"])).toBeUndefined();
  });

  it("micro-batches N concurrent requests into one ONNX run with the results of N separate runs (mergeRequests: always)", async () => {
    const ranker = createOnnxRankerModel({ session: await open(rankerBytes), artifacts, version: "r-test", microBatchWindowMs: 20, mergeRequests: "always" });
    const cases = data.users.map((u, i) => ({ q: query(u), videos: data.videos.slice(i, i + 3 + i) as Video[] }));
    cases.push({ q: query(undefined, "cold-start-user"), videos: data.videos.slice(0, 4) });
    const separate: Array<Record<string, Float32Array>> = [];
    for (const c of cases) separate.push(await ranker.score(c.q, c.videos));
    const runsBefore = ranker.batcher.stats().runs;
    expect(runsBefore).toBe(cases.length);
    const together = await Promise.all(cases.map((c) => ranker.score(c.q, c.videos)));
    expect(ranker.batcher.stats().runs).toBe(runsBefore + 1);
    together.forEach((res, i) => {
      for (const head of ranker.heads) {
        expect(res[head]).toHaveLength(cases[i].videos.length);
        res[head].forEach((p, k) => expect(Math.abs(p - separate[i][head][k])).toBeLessThan(1e-6));
      }
    });
  });

  it("on the CPU provider with the shared-inputs graph runs each request alone by default (auto), with the same results", async () => {
    const session = await open(rankerBytes);
    expect(session.provider).toBe("cpu");
    expect(session.sharedInputs?.length).toBeGreaterThan(0);
    const ranker = createOnnxRankerModel({ session, artifacts, version: "r-test", microBatchWindowMs: 20 });
    const merging = createOnnxRankerModel({ session, artifacts, version: "r-test", microBatchWindowMs: 20, mergeRequests: "always" });
    const cases = data.users.map((u, i) => ({ q: query(u), videos: data.videos.slice(i, i + 3 + i) as Video[] }));
    const alone = await Promise.all(cases.map((c) => ranker.score(c.q, c.videos)));
    expect(ranker.batcher.stats()).toMatchObject({ runs: cases.length, requests: cases.length });
    const merged = await Promise.all(cases.map((c) => merging.score(c.q, c.videos)));
    expect(merging.batcher.stats()).toMatchObject({ runs: 1, requests: cases.length });
    alone.forEach((res, i) => {
      for (const head of ranker.heads) res[head].forEach((p, k) => expect(Math.abs(p - merged[i][head][k])).toBeLessThan(1e-6));
    });
  });

  it("config ranking.mergeRankerRequests: auto by default, auto / always / never only (BAD_CONFIG names the key)", () => {
    expect(loadConfig({ env: {} }).ranking.mergeRankerRequests).toBe("auto");
    expect(loadConfig({ env: {}, overrides: { ranking: { mergeRankerRequests: "never" } } }).ranking.mergeRankerRequests).toBe("never");
    let thrown: unknown;
    try {
      loadConfig({ env: {}, overrides: { ranking: { mergeRankerRequests: "sometimes" } } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: "BAD_CONFIG", message: expect.stringMatching(/ranking\.mergeRankerRequests/) });
  });

  it("refuses, at creation, a model that does not match the artifacts or lacks a head", async () => {
    const tower = await open(towerBytes, ["cpu"]);
    expect(() => createOnnxRankerModel({ session: tower, artifacts, version: "x" })).toThrow(expect.objectContaining({ code: "BAD_BUNDLE" }));
    const ranker = await open(rankerBytes, ["cpu"]);
    expect(() => createOnnxRankerModel({ session: ranker, artifacts, version: "x", heads: ["click", "dislike"] })).toThrow(/dislike/);
  });
});

describe("ONNX user tower model", () => {
  it("embeds a query with the shared builder, micro-batched, matching the training path", async () => {
    const tower = await createOnnxUserTowerModel({ session: await open(towerBytes), artifacts, microBatchWindowMs: 20 });
    expect(tower.dim).toBe(6);
    const queries = [query(data.users[0]), query(data.users[3]), query(undefined, "someone-new")];
    const runs = tower.batcher.stats().runs;
    const embeddings = await Promise.all(queries.map((q) => tower.embed(q)));
    expect(tower.batcher.stats().runs).toBe(runs + 1);
    for (const [i, q] of queries.entries()) {
      const rows = buildUserTowerRows(artifacts, [{ user: q.user, userAgg: q.userAgg, context: rowContext(q) }]);
      const expected = (await runOnnx(towerBytes, rows, userTowerSpec(artifacts))).embedding;
      expect(embeddings[i]).toHaveLength(6);
      embeddings[i].forEach((x, k) => expect(Math.abs(x - expected[k])).toBeLessThan(1e-6));
      // normalize: true in the exported tower: unit vectors.
      expect(Math.hypot(...embeddings[i])).toBeCloseTo(1, 4);
    }
    expect(Array.from(embeddings[0])).not.toEqual(Array.from(embeddings[1]));
  });

  it("embeds one request's query once for all its sources; one caller's abort leaves the others served", async () => {
    const tower = await createOnnxUserTowerModel({ session: await open(towerBytes), artifacts, microBatchWindowMs: 20 });
    const q = query(data.users[0]);
    const requests = tower.batcher.stats().requests;
    const aborted = new AbortController();
    const [a, b, c] = await Promise.allSettled([tower.embed(q), tower.embed(q, aborted.signal), tower.embed(q)]);
    aborted.abort(new Error("source timed out"));
    expect(tower.batcher.stats().requests).toBe(requests + 1);
    expect(a.status === "fulfilled" && c.status === "fulfilled" && a.value === c.value).toBe(true);
    expect(b.status).toBe("fulfilled"); // it settled before the abort
    const late = new AbortController();
    const pending = tower.embed(query(data.users[3]), late.signal);
    late.abort(new Error("source timed out"));
    await expect(pending).rejects.toThrow("source timed out");
    // Another query object (the next request) is embedded afresh.
    await tower.embed(query(data.users[0]));
    expect(tower.batcher.stats().requests).toBe(requests + 3);
  });

  it("refuses a ranker model as a user tower", async () => {
    await expect(createOnnxUserTowerModel({ session: await open(rankerBytes, ["cpu"]), artifacts })).rejects.toMatchObject({ code: "BAD_BUNDLE" });
  });
});
