import { describe, expect, it } from "vitest";
import type { VideoAggregates } from "../../src/features/aggregates";
import { emptyVideoAggregates } from "../../src/features/aggregates";
import { DEFAULT_CAPS, firstCapViolation } from "../../src/rerank/caps";
import { createDiversityStage, createExplorationStage, createFreshnessStage, createGuardrailsStage } from "../../src/rerank";
import type { StageContext } from "../../src/plugin";
import { createTestkit, createTinyCatalog, TESTKIT_NOW } from "../../src/testkit";

describe("re-rank stages", () => {
  const tk = createTestkit({ videos: createTinyCatalog({ now: TESTKIT_NOW, videos: 120, creators: 20 }).videos });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `v${i + 1}`);

  it("Guardrails: drops predicted dislikes and badly rated videos, breaks creator runs", () => {
    const ranked = tk.ranked(ids(6)).map((c, i) => ({ ...c, heads: { dislike: i === 1 ? 0.9 : 0.1 } }));
    const stats = new Map<string, VideoAggregates>([["v3", { ...emptyVideoAggregates("v3"), likes: 2, dislikes: 40 }]]);
    const ctx: StageContext = { runtime: tk.runtime, servedEarlier: [], sessionId: "s", videoStats: stats };
    const r = createGuardrailsStage().apply({} as never, ranked, ctx);
    expect(r.removed.map((x) => [x.candidate.videoId, x.reason])).toEqual([["v2", "predicted_dislike"], ["v3", "low_like_ratio"]]);
    // A run of one creator: v1, v21, v41, v61 are all c1.
    const run = tk.ranked(["v1", "v21", "v41", "v2", "v61", "v81"]);
    const g = tk.runStage(createGuardrailsStage({ maxConsecutivePerCreator: 2 }), run);
    expect(g.kept.map((c) => c.videoId)).toEqual(["v1", "v21", "v2", "v41", "v61"]);
    expect(g.removed.map((x) => [x.candidate.videoId, x.reason])).toEqual([["v81", "creator_run"]]);
  });

  it("Diversity: caps per category and creator in every window, including earlier pages", () => {
    // 60 items, but 40 of them comedy (categories cycle over 5: make a skewed list).
    const skewed = ids(120).filter((id) => Number(id.slice(1)) % 5 === 1 || Number(id.slice(1)) % 3 === 0).slice(0, 60);
    const r = tk.runStage(createDiversityStage(), tk.ranked(skewed));
    expect(firstCapViolation(r.kept.map((c) => c.video), DEFAULT_CAPS)).toBe(-1);
    expect(r.kept.length + r.removed.length).toBe(skewed.length);
    expect(r.removed.length).toBeGreaterThan(0);
    expect(r.removed.every((x) => x.reason === "category_cap" || x.reason === "creator_cap")).toBe(true);
    // Earlier pages count: after 4 comedy videos served, the first slot cannot be comedy.
    const comedy = ["v1", "v6", "v11", "v16"].map((id) => tk.catalog.video(id)!);
    const next = tk.runStage(createDiversityStage(), tk.ranked(["v26", "v2", "v3"]), { servedEarlier: comedy });
    expect(next.kept.map((c) => c.videoId)).toEqual(["v2", "v3"]);
    expect(firstCapViolation([...comedy, ...next.kept.map((c) => c.video)], DEFAULT_CAPS)).toBe(-1);
  });

  it("Freshness: boosts new uploads by score × (1 + boost·e^(−age/decay)) and re-sorts", () => {
    const ranked = tk.ranked(["v1", "v2"], [1, 1]);
    const q = { context: { now: TESTKIT_NOW } } as never;
    const r = createFreshnessStage({ boost: 0.1, decayDays: 30 }).apply(q, ranked, { runtime: tk.runtime, servedEarlier: [], sessionId: "s" });
    for (const c of r.kept) {
      const age = (TESTKIT_NOW - c.video.uploadedAt) / 86_400_000;
      expect(c.score).toBeCloseTo(1 + 0.1 * Math.exp(-age / 30), 9);
    }
    expect(r.kept[0].score).toBeGreaterThanOrEqual(r.kept[1].score);
  });

  it("Exploration: a share of slots, marked, deterministic per seed, keeps the caps", () => {
    const ranked = tk.runStage(createDiversityStage(), tk.ranked(ids(100))).kept;
    const stage = createExplorationStage({ share: 0.1 });
    const a = tk.runStage(stage, ranked, { sessionId: "session-a" }).kept;
    const b = tk.runStage(stage, ranked, { sessionId: "session-a" }).kept;
    const c = tk.runStage(stage, ranked, { sessionId: "session-b" }).kept;
    const explored = a.filter((x) => x.reason.code === "EXPLORATION");
    expect(explored.length).toBeGreaterThanOrEqual(5);
    expect(explored.length).toBeLessThanOrEqual(10);
    expect(a.map((x) => x.videoId)).toEqual(b.map((x) => x.videoId));
    expect(a.map((x) => x.videoId)).not.toEqual(c.map((x) => x.videoId));
    expect(new Set(a.map((x) => x.videoId))).toEqual(new Set(ranked.map((x) => x.videoId)));
    expect(firstCapViolation(a.map((x) => x.video), DEFAULT_CAPS)).toBe(-1);
    // Explored items come from deep in the ranked list.
    for (const x of explored) expect(ranked.findIndex((r) => r.videoId === x.videoId)).toBeGreaterThanOrEqual(20);
    expect(tk.runStage(createExplorationStage({ share: 0 }), ranked).kept).toEqual(ranked);
  });
});
