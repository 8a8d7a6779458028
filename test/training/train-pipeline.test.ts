import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { funnelRecommenders } from "../../src/app/offline-recommend";
import { loadConfig } from "../../src/config";
import { generateSynthetic } from "../../src/data/synthetic";
import { writeGenericDataset } from "../../src/data/generic-writer";
import { loadFeatureArtifacts } from "../../src/features/artifacts";
import { BUNDLE_FILES, readManifest } from "../../src/training/bundle";
import { CONTENT_NEIGHBOURS_K, loadContentNeighbours } from "../../src/features/content-neighbours";
import { clickLogitOffset, shiftHeadLogit, trainBundle, type EvaluationContext, type TrainResult } from "../../src/training/train-pipeline";
import type { RankerWeights } from "../../src/training/ranker";
import { silentProgress } from "../../src/util/progress";

/**
 * The offline pipeline end to end on a small synthetic platform: real feature fitting, real tfjs training, real
 * ONNX export checked by ONNX Runtime, real baselines. Small sizes and few epochs keep it to seconds, not minutes.
 */
const KS = [10, 20, 50];
const EASE_LAMBDAS_TRIED = [50, 100, 200, 500, 1000];
const MODELS = ["twoTower", "popularity", "random", "itemKnn", "ease"];
const SMALL = {
  synthetic: { users: 200, videos: 300, days: 10, seed: 5 },
  twoTower: { epochs: 1 },
  ranker: { epochs: 2, maxExamples: 6000 },
  contentDim: 16,
  ks: KS,
  includeData: false,
};

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "reelfeed-train-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("trainBundle on a synthetic platform", () => {
  let result: TrainResult;
  let out: string;
  let ctx: EvaluationContext | undefined;
  let evalModelsFittedUntil = NaN;
  let folderFiles: string[] = [];
  beforeAll(async () => {
    out = join(root, "bundle");
    const config = loadConfig({ env: {}, overrides: {} });
    result = await trainBundle({
      ...SMALL,
      out,
      refit: true,
      extraRecommenders: async (c) => {
        ctx = c;
        evalModelsFittedUntil = (await loadFeatureArtifacts(join(c.bundleDir, BUNDLE_FILES.features))).fittedUntil;
        folderFiles = await readdir(c.bundleDir);
        return funnelRecommenders(c, config, { progress: silentProgress });
      },
    });
  }, 120_000);

  it("evaluates the serving funnel with the evaluation models even when refitting (not leaky), in a removed folder", () => {
    expect(ctx).toBeDefined();
    expect(evalModelsFittedUntil).toBe(result.report.split.trainUntil);
    expect(evalModelsFittedUntil).toBeLessThanOrEqual(ctx!.testFrom);
    expect(ctx!.testFrom).toBe(result.report.split.validationUntil);
    for (const file of [BUNDLE_FILES.userTower, BUNDLE_FILES.ranker, BUNDLE_FILES.features, BUNDLE_FILES.videoIds, BUNDLE_FILES.videoEmbeddings, BUNDLE_FILES.contentEmbeddings, BUNDLE_FILES.contentNeighbours]) {
      expect(folderFiles).toContain(file);
    }
    expect(existsSync(ctx!.bundleDir)).toBe(false);
    // Named "funnel", not "funnelRefit": the models never saw the test period.
    const funnel = result.report.funnel?.funnel;
    expect(funnel, JSON.stringify(Object.keys(result.report.funnel ?? {}))).toBeDefined();
    expect(funnel!.users).toBe(result.report.retrieval.twoTower.users);
    expect(funnel!["recall@20"]).toBeGreaterThan(0);
    expect(result.report.timings.funnelMs).toBeGreaterThan(0);
  });

  it("writes every bundle file and a valid manifest", async () => {
    for (const [key, file] of Object.entries(BUNDLE_FILES)) {
      if (key === "data") continue; // includeData: false
      expect(existsSync(join(out, file)), file).toBe(true);
    }
    const manifest = await readManifest(out);
    expect(manifest).toEqual(result.manifest);
    expect(manifest.refit).toBe(true);
    expect(manifest.source).toContain("synthetic:users=200");
    expect(manifest.models.userTower.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(manifest.models.ranker.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    // The video tower ships too (the live catalogue embeds new uploads with it), parity-checked like the others.
    expect(manifest.models.videoTower).toMatchObject({ file: BUNDLE_FILES.videoTower, dim: manifest.embeddings.twoTowerDim });
    expect(manifest.models.videoTower!.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(manifest.models.ranker.heads).toEqual(["click", "completion", "like", "dislike"]);
    const ids = JSON.parse(await readFile(join(out, BUNDLE_FILES.videoIds), "utf8")) as string[];
    expect(ids).toHaveLength(300);
    const emb = await readFile(join(out, BUNDLE_FILES.videoEmbeddings));
    expect(emb.byteLength).toBe(300 * manifest.embeddings.twoTowerDim * 4);
    // Each video's content neighbours, for the Content source (ids in the bundle's order, itself never listed).
    const lists = await loadContentNeighbours(join(out, BUNDLE_FILES.contentNeighbours));
    expect(lists.itemIds).toEqual(ids);
    expect(lists.offsets[1]).toBe(CONTENT_NEIGHBOURS_K);
    expect(lists.itemIds[lists.targets[0]]).not.toBe(ids[0]);
  });

  it("reports every model at every K, and a ranker that learned clicks", async () => {
    const report = JSON.parse(await readFile(join(out, BUNDLE_FILES.report), "utf8")) as TrainResult["report"];
    const md = await readFile(join(out, BUNDLE_FILES.reportMd), "utf8");
    for (const model of MODELS) {
      expect(md).toContain(model);
      for (const k of KS) {
        for (const metric of ["recall", "ndcg"]) {
          const v = report.retrieval[model]?.[`${metric}@${k}`];
          expect(v, `${model} ${metric}@${k}`).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
      }
    }
    expect(report.retrieval.twoTower.users).toBeGreaterThan(0);
    expect(report.ranker.click.auc).toBeGreaterThan(0.65);
    expect(report.timings.totalMs).toBeGreaterThan(0);
    expect(report.timings.refitMs).toBeGreaterThan(0);
  });

  it("judges warm users on the per-user temporal protocol: the funnel beats popularity there, and cold users get their own slice", async () => {
    const report = JSON.parse(await readFile(join(out, BUNDLE_FILES.report), "utf8")) as TrainResult["report"];
    const warm = report.protocols?.warm;
    expect(warm, "warm protocol in report.json").toBeDefined();
    expect(warm!.users).toBeGreaterThan(20);
    for (const model of ["popularity", "itemKnn", "ease", "twoTower", "neighbours", "funnel", "funnelStagesOff"]) {
      expect(warm!.retrieval[model]?.users, model).toBe(warm!.users);
    }
    const ndcg = (m: string) => warm!.retrieval[m]["ndcg@20"];
    expect(ndcg("funnel")).toBeGreaterThan(ndcg("popularity"));
    expect(ndcg("neighbours")).toBeGreaterThan(ndcg("popularity"));
    expect(EASE_LAMBDAS_TRIED).toContain(warm!.tuned.easeLambda);
    const cold = report.protocols?.cold;
    expect(cold!.users).toBeGreaterThanOrEqual(0);
    const md = await readFile(join(out, BUNDLE_FILES.reportMd), "utf8");
    expect(md).toContain("## Warm users: per-user temporal hold-out");
    expect(md).toMatch(/\*\*funnel\*\* \(default pipeline, every stage on\): NDCG@20 [0-9.]+ \([0-9.]+× ease, [0-9.]+× popularity\)/);
  });
});

describe("the click head's negative-sampling correction", () => {
  it("is log(eligible / negatives per positive) for sampled negatives, 0 with impressions", () => {
    expect(clickLogitOffset("sampled-negatives", 9000, 3)).toBeCloseTo(Math.log(3000), 10);
    expect(clickLogitOffset("impressions", 9000, 3)).toBe(0);
    expect(clickLogitOffset("sampled-negatives", 2, 3)).toBe(0);
  });

  it("shifts only the named head's output bias, without modifying the weights it is given", () => {
    const dense = (bias: number[]) => ({ inDim: 1, outDim: bias.length, kernel: new Float32Array(bias.length), bias: Float32Array.from(bias), activation: "linear" as const });
    const weights = { trunk: {} as RankerWeights["trunk"], heads: [{ name: "click", layers: [dense([0.5, 0.5]), dense([1])] }, { name: "like", layers: [dense([2])] }] } as RankerWeights;
    const shifted = shiftHeadLogit(weights, "click", -3);
    expect(Array.from(shifted.heads[0].layers[1].bias)).toEqual([-2]);
    expect(Array.from(shifted.heads[0].layers[0].bias)).toEqual([0.5, 0.5]);
    expect(shifted.heads[1]).toBe(weights.heads[1]);
    expect(Array.from(weights.heads[0].layers[1].bias)).toEqual([1]);
  });

  it("without impressions: candidate rows plus newcomer rows, the click head shipped with the newcomers' correction, checked by ONNX Runtime", async () => {
    const { dataset } = generateSynthetic({ users: 120, videos: 200, days: 6, seed: 9 });
    const data = join(root, "no-impressions");
    await writeGenericDataset(data, { ...dataset, events: dataset.events.filter((e) => e.type !== "impression") });
    const out = join(root, "no-impressions-bundle");
    const { manifest, report } = await trainBundle({ ...SMALL, synthetic: undefined, data, format: "generic", ranker: { epochs: 1, maxExamples: 3000 }, out, refit: false, warmProtocol: false });
    const notes = (report.notes ?? []).join("\n");
    expect(notes).toMatch(/ranker rows: candidates/);
    expect(notes).toMatch(/newcomer rows/);
    const offset = Number(/shifted by −(\d+\.\d+)/.exec(notes)![1]);
    const eligible = dataset.videos.filter((v) => v.uploadedAt < report.split.trainUntil).length;
    expect(offset).toBeGreaterThan(1);
    expect(offset).toBeCloseTo(Math.log(eligible / 3), 1);
    // The pipeline's parity check compares the shipped (shifted) bytes with the trained model shifted.
    expect(manifest.models.ranker.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(report.protocols?.warm).toBeUndefined();
  }, 120_000);
});

describe("trainBundle options and failures", () => {
  it("respects refit: false (ships the evaluation models)", async () => {
    const out = join(root, "no-refit");
    const { manifest, report } = await trainBundle({ ...SMALL, ranker: { epochs: 1, maxExamples: 2000 }, out, refit: false });
    expect(manifest.refit).toBe(false);
    expect(report.timings.refitMs).toBeUndefined();
    expect((await readManifest(out)).refit).toBe(false);
  }, 120_000);

  it("fails on a bad data folder with BAD_FILE and leaves nothing behind", async () => {
    const data = join(root, "bad-ml");
    await mkdir(data);
    await writeFile(join(data, "movies.csv"), "movieId,title,genres\n1,Toy Story (1995),Animation|Children\n");
    await writeFile(join(data, "ratings.csv"), "userId,movieId\n1,1\n");
    const parent = join(root, "bad-out");
    await mkdir(parent);
    const out = join(parent, "bundle");
    const err = await trainBundle({ data, format: "movielens", out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReelfeedError);
    expect((err as ReelfeedError).code).toBe("BAD_FILE");
    expect((err as Error).message).toContain("ratings.csv");
    expect(await readdir(parent)).toEqual([]);
  });
});

describe("reelfeed train (CLI)", () => {
  it("exits 2 naming a missing data folder, without a stack trace", async () => {
    const missing = join(root, "does-not-exist");
    const out = join(root, "cli-out");
    const r = spawnSync("npx", ["tsx", "src/cli.ts", "train", "--data", missing, "--out", out, "--no-activate"], {
      cwd: resolve(__dirname, "../.."),
      encoding: "utf8",
      env: { ...process.env, REELFEED_DEBUG: "" },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
