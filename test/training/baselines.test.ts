import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createBackfillRecommender } from "../../src/training/baselines/backfill-recommender";
import { createEaseRecommender } from "../../src/training/baselines/ease-recommender";
import { createItemKnnRecommender } from "../../src/training/baselines/item-knn-recommender";
import { createPopularityRecommender } from "../../src/training/baselines/popularity-recommender";
import { createRandomRecommender } from "../../src/training/baselines/random-recommender";
import type { Interaction, Recommender } from "../../src/training/baselines/recommender";
import { evaluateRetrieval } from "../../src/training/evaluate";
import { timeSplit } from "../../src/training/split";

const none: ReadonlySet<string> = new Set();
const rows = (pairs: Array<[string, string, number?]>): Interaction[] =>
  pairs.map(([userId, videoId, ts = 0]) => ({ userId, videoId, ts }));

describe("popularity", () => {
  const train = rows([["u1", "a"], ["u2", "a"], ["u3", "a"], ["u1", "b"], ["u2", "b"], ["u1", "c"]]);
  it("ranks by training count, skipping excluded ids", () => {
    const pop = createPopularityRecommender();
    pop.fit(train);
    expect(pop.recommend("anyone", 10, none)).toEqual(["a", "b", "c"]);
    expect(pop.recommend("u1", 2, new Set(["a"]))).toEqual(["b", "c"]);
  });
  it("lets recent interactions outweigh old ones with a half-life", () => {
    const day = 86_400_000;
    const t = rows([["u1", "old", 0], ["u2", "old", 0], ["u3", "new", 30 * day]]);
    const plain = createPopularityRecommender();
    const decayed = createPopularityRecommender({ halfLifeDays: 7 });
    plain.fit(t);
    decayed.fit(t);
    expect(plain.recommend("x", 2, none)).toEqual(["old", "new"]);
    expect(decayed.recommend("x", 2, none)).toEqual(["new", "old"]);
  });
  it("throws before fit and on a bad half-life", () => {
    expect(() => createPopularityRecommender().recommend("u", 1, none)).toThrow(/before fit/);
    expect(() => createPopularityRecommender({ halfLifeDays: 0 })).toThrow(/halfLifeDays/);
  });
});

describe("random", () => {
  const catalog = Array.from({ length: 50 }, (_, i) => `v${i}`);
  it("is seeded, per user, distinct and respects exclude", () => {
    const a = createRandomRecommender({ catalog, seed: 1 });
    const b = createRandomRecommender({ catalog, seed: 1 });
    const c = createRandomRecommender({ catalog, seed: 2 });
    for (const r of [a, b, c]) r.fit([]);
    const exclude = new Set(["v0", "v1", "v2"]);
    const listA = a.recommend("u1", 20, exclude);
    expect(listA).toHaveLength(20);
    expect(new Set(listA).size).toBe(20);
    expect(listA.some((id) => exclude.has(id))).toBe(false);
    expect(b.recommend("u1", 20, exclude)).toEqual(listA); // same seed, same user
    expect(c.recommend("u1", 20, exclude)).not.toEqual(listA);
    expect(a.recommend("u2", 20, exclude)).not.toEqual(listA);
    expect(a.recommend("u1", 100, exclude)).toHaveLength(47); // the whole catalog minus exclusions
  });
});

describe("itemKnn", () => {
  // u1 {a,b}, u2 {a,b,c}, u3 {c,d}: cos(a,b) = 1, cos(a,c) = cos(b,c) = ½, cos(c,d) = 1/√2.
  const train = rows([["u1", "a"], ["u1", "b"], ["u2", "a"], ["u2", "b"], ["u2", "c"], ["u3", "c"], ["u3", "d"]]);
  it("computes cosine similarities over users and keeps the top-N neighbours", () => {
    const knn = createItemKnnRecommender({ shrink: 0, neighbors: 2 });
    knn.fit(train);
    const nb = knn.neighbors("c");
    expect(nb.map((n) => n.videoId)).toEqual(["d", "a"]); // top-2 of {d: 0.707, a: 0.5, b: 0.5}, ties by index
    expect(nb[0].similarity).toBeCloseTo(Math.SQRT1_2, 12);
    expect(nb[1].similarity).toBeCloseTo(0.5, 12);
    const ofA = knn.neighbors("a");
    expect(ofA.map((n) => n.videoId)).toEqual(["b", "c"]);
    expect(ofA[0].similarity).toBeCloseTo(1, 12);
    expect(ofA[1].similarity).toBeCloseTo(0.5, 12);
  });
  it("scores a candidate by the sum of its similarities to the user's items", () => {
    const knn = createItemKnnRecommender({ shrink: 0 });
    knn.fit(train);
    // u1: c = sim(a,c) + sim(b,c) = 1; d is no neighbour of a or b.
    expect(knn.recommend("u1", 5, new Set(["a", "b"]))).toEqual(["c"]);
    // u3: a and b both score ½ (ties by index), via c.
    expect(knn.recommend("u3", 5, new Set(["c", "d"]))).toEqual(["a", "b"]);
    expect(knn.recommend("stranger", 5, none)).toEqual([]);
  });
  it("shrinkage damps similarities with little support", () => {
    const knn = createItemKnnRecommender({ shrink: 2 });
    knn.fit(train);
    expect(knn.neighbors("a")[0].similarity).toBeCloseTo(2 / (2 + 2), 12);
  });
});

describe("ease", () => {
  // Deterministic pseudo-random data: 40 users × 12 items.
  let seed = 3;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const train: Interaction[] = [];
  for (let u = 0; u < 40; u++) {
    for (let i = 0; i < 12; i++) if (rand() < 0.15 + 0.04 * i) train.push({ userId: `u${u}`, videoId: `i${i}`, ts: 0 });
  }
  const items = Array.from({ length: 12 }, (_, i) => `i${i}`);

  /** Reference EASE: dense Gauss–Jordan inverse, B = −P / diag(P), zero diagonal. */
  function referenceScores(userId: string, lambda: number): Map<string, number> {
    const n = items.length;
    const x = new Map<string, number[]>();
    for (const r of train) {
      if (!x.has(r.userId)) x.set(r.userId, new Array(n).fill(0));
      x.get(r.userId)![items.indexOf(r.videoId)] = 1;
    }
    const a = Array.from({ length: n }, (_, i) => Array.from({ length: 2 * n }, (_, j) => (j === n + i ? 1 : 0)));
    for (const row of x.values()) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i][j] += row[i] * row[j];
    for (let i = 0; i < n; i++) a[i][i] += lambda;
    for (let c = 0; c < n; c++) {
      const piv = a[c][c];
      for (let j = 0; j < 2 * n; j++) a[c][j] /= piv;
      for (let r = 0; r < n; r++) {
        if (r === c) continue;
        const f = a[r][c];
        for (let j = 0; j < 2 * n; j++) a[r][j] -= f * a[c][j];
      }
    }
    const p = (i: number, j: number) => a[i][n + j];
    const row = x.get(userId)!;
    const scores = new Map<string, number>();
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) if (row[i] && i !== j) s += -p(i, j) / p(j, j);
      scores.set(items[j], s);
    }
    return scores;
  }

  it("ranks exactly like a reference dense-inverse EASE", () => {
    const ease = createEaseRecommender({ lambda: 5 });
    ease.fit(train);
    for (const user of ["u0", "u7", "u19", "u33"]) {
      const seen = new Set(train.filter((r) => r.userId === user).map((r) => r.videoId));
      const ref = referenceScores(user, 5);
      const expected = [...ref.entries()].filter(([id]) => !seen.has(id)).sort((a, b) => b[1] - a[1]).map(([id]) => id);
      expect(ease.recommend(user, 12, seen)).toEqual(expected);
    }
  });
  it("only ever recommends its maxItems most popular items", () => {
    const counts = new Map<string, number>();
    for (const r of train) counts.set(r.videoId, (counts.get(r.videoId) ?? 0) + 1);
    const top4 = new Set([...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([id]) => id));
    const ease = createEaseRecommender({ maxItems: 4, lambda: 5 });
    ease.fit(train);
    for (let u = 0; u < 40; u++) for (const id of ease.recommend(`u${u}`, 12, none)) expect(top4.has(id)).toBe(true);
    expect(ease.recommend("stranger", 5, none)).toEqual([]);
  });
  it("rejects bad options", () => {
    expect(() => createEaseRecommender({ lambda: 0 })).toThrow(/lambda/);
    expect(() => createEaseRecommender({ maxItems: 0 })).toThrow(/maxItems/);
  });
});

describe("backfill", () => {
  it("tops up the primary list from the fallback without repeats or excluded ids", async () => {
    const knn = createItemKnnRecommender({ shrink: 0 });
    const pop = createPopularityRecommender();
    const both = createBackfillRecommender({ primary: knn, fallback: pop });
    await both.fit(rows([["u1", "a"], ["u1", "b"], ["u2", "a"], ["u2", "c"], ["u3", "a"], ["u3", "d"]]));
    expect(both.name).toBe("itemKnn+popularity");
    expect(both.recommend("stranger", 3, new Set(["a"]))).toEqual(pop.recommend("stranger", 3, new Set(["a"])));
    const list = both.recommend("u1", 4, new Set(["a", "b"]));
    expect(list.slice(0, 2)).toEqual(knn.recommend("u1", 4, new Set(["a", "b"])));
    expect(new Set(list).size).toBe(list.length);
    expect(list).toHaveLength(2); // only c and d are left to recommend
  });
});

describe("on real MovieLens-small ratings, split by time", () => {
  /**
   * Every rating is an interaction (a rating means the user watched the movie: retrieval's job is to predict what
   * gets watched; whether it was liked is the ranker's). Train on train + validation, score on the test period.
   */
  it("item-KNN and EASE beat popularity, which beats random, on Recall@20", async () => {
    const path = "/work/shared/data/movielens-small/ratings.csv";
    const lines = readFileSync(path, "utf8").trim().split(/\r?\n/);
    expect(lines[0]).toBe("userId,movieId,rating,timestamp");
    const all: Interaction[] = lines.slice(1).map((line) => {
      const [userId, videoId, , seconds] = line.split(",");
      return { userId, videoId, ts: Number(seconds) * 1000 };
    });
    const split = timeSplit(all, { validation: 0.1, test: 0.1 });
    const fitOn = [...split.train, ...split.validation];
    const trainSeen = new Map<string, Set<string>>();
    for (const r of fitOn) (trainSeen.get(r.userId) ?? trainSeen.set(r.userId, new Set()).get(r.userId)!).add(r.videoId);
    const test = new Map<string, Set<string>>();
    for (const r of split.test) (test.get(r.userId) ?? test.set(r.userId, new Set()).get(r.userId)!).add(r.videoId);
    const warmTest = new Map([...test].filter(([u]) => trainSeen.has(u)));
    const catalog = [...new Set(all.map((r) => r.videoId))];

    const popularity = createPopularityRecommender();
    const random = createRandomRecommender({ catalog, seed: 7 });
    const itemKnn = createItemKnnRecommender();
    const ease = createEaseRecommender({ maxItems: 1000 }); // lower than the default to keep this test quick
    const timings: Record<string, number> = {};
    for (const model of [popularity, random, itemKnn, ease] as Recommender[]) {
      const t0 = performance.now();
      await model.fit(fitOn);
      timings[model.name] = performance.now() - t0;
    }
    const backfilled = [itemKnn, ease].map((primary) => createBackfillRecommender({ primary, fallback: popularity }));
    const ks = [10, 20, 50, 100];
    const warm = await evaluateRetrieval({ recommenders: [popularity, random, itemKnn, ease], test: warmTest, trainSeen, ks, catalogSize: catalog.length });
    const everyone = await evaluateRetrieval({ recommenders: [popularity, random, ...backfilled], test, trainSeen, ks, catalogSize: catalog.length });

    const show = (label: string, res: Record<string, Record<string, number>>) =>
      Object.entries(res)
        .map(([m, r]) => `${label} ${m.padEnd(22)} users=${r.users} ${["recall@20", "ndcg@20", "hit@20", "recall@100", "coverage@20"].map((k) => `${k}=${r[k].toFixed(4)}`).join(" ")}`)
        .join("\n");
    console.log(`MovieLens-small time split: train < ${new Date(split.trainUntil).toISOString()} ≤ validation < ${new Date(split.validationUntil).toISOString()} ≤ test`);
    console.log(`fit ms: ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])))}`);
    console.log(show("warm", warm));
    console.log(show("all ", everyone));

    expect(warm.popularity.users).toBeGreaterThan(20);
    expect(warm.itemKnn["recall@20"]).toBeGreaterThan(warm.popularity["recall@20"]);
    expect(warm.ease["recall@20"]).toBeGreaterThan(warm.popularity["recall@20"]);
    expect(warm.popularity["recall@20"]).toBeGreaterThan(warm.random["recall@20"]);
    expect(everyone["itemKnn+popularity"]["recall@20"]).toBeGreaterThan(everyone.popularity["recall@20"]);
    expect(everyone["ease+popularity"]["recall@20"]).toBeGreaterThan(everyone.popularity["recall@20"]);
    expect(everyone.popularity["recall@20"]).toBeGreaterThan(everyone.random["recall@20"]);
  });
});
