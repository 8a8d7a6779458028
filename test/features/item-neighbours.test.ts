import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { affinityFeatures, loadItemNeighbours, saveItemNeighbours, topVideos, userAffinity, type ItemNeighbours } from "../../src/features/item-neighbours";
import type { RecentWatch } from "../../src/features/aggregates";
import { fitItemNeighbours } from "../../src/training/item-neighbours-fit";
import { createEaseRecommender } from "../../src/training/baselines/ease-recommender";
import type { Interaction } from "../../src/training/baselines/recommender";
import { reelfeedErrorOf } from "../reelfeed-error-of";

/** Two taste groups: users 0–29 watch videos a0–a5, users 30–59 watch b0–b5; a few users cross over. */
function interactions(): Interaction[] {
  const out: Interaction[] = [];
  for (let u = 0; u < 60; u++) {
    const group = u < 30 ? "a" : "b";
    for (let v = 0; v < 6; v++) if ((u + v) % 3 !== 0) out.push({ userId: `u${u}`, videoId: `${group}${v}`, ts: u * 100 + v });
    if (u % 10 === 0) out.push({ userId: `u${u}`, videoId: group === "a" ? "b0" : "a0", ts: u * 100 + 9 });
  }
  return out;
}

const watches = (ids: string[]): RecentWatch[] => ids.map((videoId, i) => ({ videoId, ts: i, completion: 1 }));

describe("item neighbours", () => {
  let model: ItemNeighbours;
  let dir: string;
  beforeAll(async () => {
    model = fitItemNeighbours(interactions(), { k: 4, lambda: 5, halfLife: 2 });
    dir = await mkdtemp(join(tmpdir(), "reelfeed-neighbours-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("keeps the k strongest positive EASE weights per video, strongest first", () => {
    for (let i = 0; i < model.itemIds.length; i++) {
      const w = Array.from(model.weights.subarray(model.offsets[i], model.offsets[i + 1]));
      expect(w.length).toBeLessThanOrEqual(4);
      for (let q = 1; q < w.length; q++) expect(w[q]).toBeLessThanOrEqual(w[q - 1]);
      for (const x of w) expect(x).toBeGreaterThan(0);
    }
    // a1's neighbours are its own group's videos.
    const a1 = model.index.get("a1")!;
    const targets = Array.from(model.targets.subarray(model.offsets[a1], model.offsets[a1 + 1])).map((t) => model.itemIds[t]);
    expect(targets.every((id) => id.startsWith("a"))).toBe(true);
  });

  it("proposes what the full EASE model proposes when nothing is truncated and recency is off", async () => {
    const train = interactions();
    const ease = createEaseRecommender({ lambda: 5 });
    await ease.fit(train);
    const untruncated = { ...fitItemNeighbours(train, { k: 1000, lambda: 5 }), halfLife: 1e12 };
    const history = train.filter((r) => r.userId === "u1").map((r) => r.videoId); // a0 a1 a3 a4
    const affinity = userAffinity(untruncated, watches(history));
    const ours = topVideos(untruncated, affinity, 100).filter((id) => !history.includes(id));
    // The same videos; the order may differ, since only positive weights are kept (EASE also sums negative ones).
    expect(ours.slice(0, 2).sort()).toEqual(ease.recommend("u1", 2, new Set(history)).sort());
  });

  it("weighs recent watches more (position half-life) and names the watch that contributed most", () => {
    const recentA = userAffinity(model, watches(["b1", "b2", "a1", "a2"]));
    const recentB = userAffinity(model, watches(["a1", "a2", "b1", "b2"]));
    const best = (a: typeof recentA) => model.itemIds[a.items[0]];
    expect(best(recentA)).toMatch(/^a/);
    expect(best(recentB)).toMatch(/^b/);
    expect(["a1", "a2"]).toContain(model.itemIds[recentA.because[0]]);
  });

  it("gives scale-free features: relative ≤ 1, rank in [0, 1], 0/1/0 without history or for an unknown video", () => {
    const history = watches(["a1", "a2"]);
    const a = userAffinity(model, history);
    const [rel, rank, hits] = affinityFeatures(model, history, model.itemIds[a.items[0]]);
    expect(rel).toBe(1);
    expect(rank).toBe(0);
    expect(hits).toBeGreaterThan(0);
    expect(affinityFeatures(model, [], "a3")).toEqual([0, 1, 0]);
    expect(affinityFeatures(model, history, "nope")).toEqual([0, 1, 0]);
    expect(affinityFeatures(undefined, history, "a3")).toEqual([0, 1, 0]);
    // Memoised per history array: the same object comes back.
    expect(userAffinity(model, history)).toBe(a);
  });

  it("round-trips through its file, and a damaged file is BAD_BUNDLE naming it", async () => {
    const path = join(dir, "item-neighbours.bin");
    await saveItemNeighbours(path, model);
    const back = await loadItemNeighbours(path);
    expect(back.itemIds).toEqual(model.itemIds);
    expect(Array.from(back.targets)).toEqual(Array.from(model.targets));
    expect(Array.from(back.weights)).toEqual(Array.from(model.weights));
    expect(back.halfLife).toBe(model.halfLife);
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 3));
    const err = await reelfeedErrorOf(loadItemNeighbours(path));
    expect(err.code).toBe("BAD_BUNDLE");
    expect(err.message).toContain(path);
    await writeFile(path, "not json\n");
    expect((await reelfeedErrorOf(loadItemNeighbours(path))).code).toBe("BAD_BUNDLE");
  });

  it("rejects bad settings", () => {
    expect(() => fitItemNeighbours(interactions(), { k: 0 })).toThrow(/k/);
    expect(() => fitItemNeighbours(interactions(), { halfLife: 0 })).toThrow(/halfLife/);
    expect(fitItemNeighbours([], {}).itemIds).toEqual([]);
  });
});
