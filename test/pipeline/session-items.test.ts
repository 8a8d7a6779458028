import { describe, expect, it } from "vitest";
import { SessionItems } from "../../src/pipeline/session-items";
import type { ScoredCandidate } from "../../src/pipeline/types";
import { createTinyCatalog, TESTKIT_NOW } from "../../src/testkit";

const videos = createTinyCatalog({ now: TESTKIT_NOW, videos: 6 }).videos;

function candidate(i: number, score: number, heads: Record<string, number>, sources: string[]): ScoredCandidate {
  return {
    videoId: videos[i].id,
    video: videos[i],
    sources: sources.map((source, k) => ({ source, score: 1 / (k + 1), reason: { code: "POPULAR", params: {} } })),
    sourceScore: 1,
    heads,
    score,
    reason: { code: i % 2 ? "SIMILAR_TO" : "PERSONALIZED", params: i % 2 ? { videoId: videos[0].id } : {} },
  };
}

describe("session items (column store)", () => {
  it("gives back what was appended — ranked items with heads, fill items without — in order, by any slice", () => {
    const items = new SessionItems(["click", "like"]);
    const ranked = [candidate(0, 0.9, { click: 0.5, like: 0.25 }, ["TwoTower", "Content"]), candidate(1, 0.7, { click: 0.125, like: 0 }, ["Trending"])];
    const fill = [candidate(2, 0.1, {}, ["Popularity"]), candidate(3, 0.05, {}, ["Popularity"])];
    items.append(ranked);
    items.append(fill);
    expect(items.length).toBe(4);
    expect(items.videos).toEqual(videos.slice(0, 4));
    expect(items.minScore()).toBe(0.05);
    const all = items.slice(0, 10);
    [...ranked, ...fill].forEach((c, i) => {
      expect(all[i]).toEqual({ video: c.video, score: c.score, heads: c.heads, sources: c.sources.map((a) => a.source), reason: c.reason });
    });
    expect(items.slice(1, 3)).toEqual(all.slice(1, 3));
    expect(items.slice(4, 6)).toEqual([]);
    // Source-name lists are shared between items with the same sources.
    expect(all[2].sources).toBe(all[3].sources);
  });

  it("keeps head probabilities in float32, the models' own precision, and scores exactly", () => {
    const items = new SessionItems(["click"]);
    items.append([candidate(0, 0.3, { click: 0.3 }, ["TwoTower"])]);
    const [item] = items.slice(0, 1);
    expect(item.heads.click).toBe(Math.fround(0.3));
    expect(item.score).toBe(0.3);
  });

  it("an empty list has minScore 1 (the fill's ceiling) and no items", () => {
    const items = new SessionItems([]);
    expect(items.minScore()).toBe(1);
    expect(items.slice(0, 5)).toEqual([]);
  });
});
