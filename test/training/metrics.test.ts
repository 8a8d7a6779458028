import { describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { evaluateRanker, evaluateRetrieval } from "../../src/training/evaluate";
import { auc, catalogCoverage, hitAtK, logLoss, ndcgAtK, recallAtK } from "../../src/training/metrics";

const ranked = ["a", "b", "c", "d", "e"];
const relevant = new Set(["b", "e", "z"]);

describe("list metrics (hand-computed)", () => {
  it("recall@K counts hits over all relevant items", () => {
    expect(recallAtK(ranked, relevant, 1)).toBe(0);
    expect(recallAtK(ranked, relevant, 3)).toBeCloseTo(1 / 3, 12);
    expect(recallAtK(ranked, relevant, 5)).toBeCloseTo(2 / 3, 12);
    expect(recallAtK(ranked, relevant, 50)).toBeCloseTo(2 / 3, 12); // K past the list's end
  });
  it("hit@K is 1 once any relevant item is in the top K", () => {
    expect(hitAtK(ranked, relevant, 1)).toBe(0);
    expect(hitAtK(ranked, relevant, 2)).toBe(1);
  });
  it("ndcg@K uses binary gains and an ideal DCG over min(|relevant|, K)", () => {
    // Hits at 0-based positions 1 and 4: DCG = 1/log2(3) + 1/log2(6); IDCG (3 relevant) = 1 + 1/log2(3) + 1/2.
    expect(ndcgAtK(ranked, relevant, 5)).toBeCloseTo(0.4776237035032179, 12);
    // K = 2: one hit at position 1; IDCG over min(3, 2) = 2 slots.
    expect(ndcgAtK(ranked, relevant, 2)).toBeCloseTo(0.38685280723454163, 12);
    expect(ndcgAtK(["b", "e", "z", "x"], relevant, 3)).toBeCloseTo(1, 12);
    expect(ndcgAtK(["x", "y"], relevant, 2)).toBe(0);
  });
  it("counts a repeated id once", () => {
    expect(recallAtK(["b", "b", "b"], new Set(["b", "c"]), 3)).toBe(0.5);
    expect(ndcgAtK(["b", "b"], new Set(["b", "c"]), 2)).toBeCloseTo(1 / (1 + 1 / Math.log2(3)), 12);
  });
  it("rejects an empty relevant set and a bad K with a coded error", () => {
    expect(() => recallAtK(ranked, new Set(), 5)).toThrow(ReelfeedError);
    expect(() => ndcgAtK(ranked, relevant, 0)).toThrow(/k: must be a positive integer/);
    expect(() => hitAtK(ranked, relevant, 2.5)).toThrow(/k:/);
  });
  it("catalog coverage is distinct recommended items over catalog size", () => {
    expect(catalogCoverage([["a", "b"], ["b", "c"], []], 10)).toBeCloseTo(0.3, 12);
    expect(() => catalogCoverage([], 0)).toThrow(/catalogSize/);
  });
});

describe("auc", () => {
  it("matches hand-computed values, ties counting one half", () => {
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    // Pairs (pos, neg): (0.5,0.2)=1 (0.5,0.5)=½ (0.9,0.2)=1 (0.9,0.5)=1 → 3.5 / 4.
    expect(auc([0.2, 0.5, 0.5, 0.9], [0, 1, 0, 1])).toBeCloseTo(0.875, 12);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBeCloseTo(0.5, 12);
    expect(auc([3, 2, 1], [0, 1, 1])).toBe(0);
    expect(auc(new Float32Array([0.9, 0.1]), new Float32Array([1, 0]))).toBe(1);
  });
  it("agrees with the O(n²) pair count on random data with many ties", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const n = 600;
    const scores = Array.from({ length: n }, () => Math.round(rand() * 20) / 20);
    const labels = scores.map((s) => (rand() < 0.2 + 0.5 * s ? 1 : 0));
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      if (labels[i] !== 1) continue;
      for (let j = 0; j < n; j++) {
        if (labels[j] !== 0) continue;
        pairs++;
        wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    expect(auc(scores, labels)).toBeCloseTo(wins / pairs, 12);
  });
  it("is NaN with one class and rejects mismatched lengths", () => {
    expect(auc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(() => auc([0.1, 0.2], [1])).toThrow(/labels: has length 1/);
  });
});

describe("logLoss", () => {
  it("matches the hand-computed mean cross-entropy", () => {
    expect(logLoss([0.9, 0.2], [1, 0])).toBeCloseTo(0.164252033486018, 12);
  });
  it("clips probabilities so a confident mistake is finite", () => {
    expect(logLoss([0], [1])).toBeCloseTo(16.11809565095832, 6);
    expect(logLoss([1], [1])).toBeCloseTo(1e-7, 9);
  });
  it("rejects labels outside [0, 1] and empty input", () => {
    expect(() => logLoss([0.5], [2])).toThrow(/labels: label 0 is 2/);
    expect(() => logLoss([], [])).toThrow(/probs: is empty/);
  });
});

describe("evaluateRetrieval", () => {
  const test = new Map([
    ["u1", new Set(["a", "b"])],
    ["u2", new Set(["c"])],
    ["u3", new Set(["seen"])], // everything already seen: skipped
  ]);
  const trainSeen = new Map([
    ["u1", new Set(["x"])],
    ["u3", new Set(["seen"])],
  ]);
  const fixed = {
    name: "fixed",
    // Ignores `k` and `exclude` on purpose: evaluation must clean and cut the list itself.
    recommend: () => ["x", "a", "a", "c", "b"],
  };
  const asyncEmpty = { name: "empty", recommend: async () => [] as string[] };

  it("averages per-user metrics, skips users with nothing to find, drops excluded and repeated ids", async () => {
    const out = await evaluateRetrieval({ recommenders: [fixed, asyncEmpty], test, trainSeen, ks: [1, 2], catalogSize: 10 });
    // u1 list after cleaning: [a, c] → @1 recall 1 (1 of min(1, 2)), @2 recall ½; u2 list: [x, a] → @1 0, @2 0.
    expect(out.fixed.users).toBe(2);
    expect(out.fixed["recall@1"]).toBeCloseTo(0.5, 12);
    expect(out.fixed["recall@2"]).toBeCloseTo(0.25, 12);
    expect(out.fixed["hit@2"]).toBeCloseTo(0.5, 12);
    expect(out.fixed["ndcg@1"]).toBeCloseTo(0.5, 12);
    // Coverage@2 over u1 [a, c] and u2 [x, a]: {a, c, x} of 10.
    expect(out.fixed["coverage@2"]).toBeCloseTo(0.3, 12);
    expect(out.empty["recall@2"]).toBe(0);
    expect(out.empty["coverage@1"]).toBe(0);
  });
  it("rejects duplicate model names and bad K", async () => {
    await expect(evaluateRetrieval({ recommenders: [fixed, fixed], test, trainSeen, catalogSize: 10 })).rejects.toThrow(/two models/);
    await expect(evaluateRetrieval({ recommenders: [fixed], test, trainSeen, ks: [0], catalogSize: 10 })).rejects.toThrow(/ks:/);
  });
});

describe("evaluateRanker", () => {
  it("reports AUC and log loss next to the base-rate predictor, honouring the mask", () => {
    const out = evaluateRanker(
      {
        click: {
          probs: new Float32Array([0.1, 0.4, 0.35, 0.8, 0.99]),
          labels: new Float32Array([0, 0, 1, 1, 0]),
          mask: new Float32Array([1, 1, 1, 1, 0]),
        },
        like: { probs: new Float32Array([0.2, 0.3]), labels: new Float32Array([0, 0]) },
      },
      { trainPositiveRate: { click: 0.25, like: 0.1 } },
    );
    expect(out.click.n).toBe(4);
    expect(out.click.positives).toBe(2);
    expect(out.click.auc).toBeCloseTo(0.75, 6);
    expect(out.click.baseRateAuc).toBe(0.5);
    expect(out.click.baseRateLogLoss).toBeCloseTo(0.8369882167858358, 6);
    expect(out.like.auc).toBeNull(); // one class only
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
  it("requires a training base rate for every head", () => {
    expect(() =>
      evaluateRanker({ click: { probs: new Float32Array([0.5]), labels: new Float32Array([1]) } }, { trainPositiveRate: {} }),
    ).toThrow(/trainPositiveRate.click/);
    // A head may carry its own base rate instead.
    const own = evaluateRanker({ click: { probs: new Float32Array([0.5, 0.5]), labels: new Float32Array([1, 0]), baseRate: 0.5 } });
    expect(own.click.baseRateLogLoss).toBeCloseTo(Math.LN2, 6);
  });
});
