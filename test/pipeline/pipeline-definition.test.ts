import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { blendScore, DEFAULT_BLEND, validateBlend } from "../../src/ranking/blend";
import { decodeCursor, encodeCursor } from "../../src/pipeline/cursor";
import { mergeCandidates } from "../../src/pipeline/steps/merge";
import { definePipeline, describePipeline, settingsFromConfig } from "../../src/pipeline/pipeline-definition";
import { createRegistry } from "../../src/pipeline/registry";
import { createSessionCache } from "../../src/pipeline/session-cache";
import { createTestkit } from "../../src/testkit";

const pipeline = (p: unknown) => configSchema.parse({ pipeline: p }).pipeline;

describe("pipeline definition", () => {
  const full = createTestkit({ neighbours: "generated" }).runtime;
  const bare = createTestkit({ twoTower: false, content: false }).runtime;

  it("builds the default config into a table of contents, stages ordered by phase", () => {
    const def = definePipeline({ pipeline: pipeline({}), registry: createRegistry(), runtime: full });
    expect(def.sources.map((s) => [s.name, s.quota, s.enabled])).toEqual([
      ["Neighbours", 300, true],
      ["TwoTower", 300, true],
      ["MultiQuery", 150, true],
      ["Content", 150, true],
      ["Trending", 150, true],
      ["Social", 100, true],
      ["Subscriptions", 100, true],
      ["Fresh", 50, true],
    ]);
    expect(def.stages.map((s) => s.name)).toEqual(["Freshness", "Guardrails", "Diversity", "Exploration"]);
    // The defaults are listed in the order they run: nothing to warn about at start-up.
    expect(def.warnings).toEqual([]);
    expect(describePipeline(def)).toMatch(/✓ TwoTower\s+quota  300 {2}weight 1 {2}timeout 100ms {2}fail-open/);
  });

  it("describes the whole funnel as configured: every step in run order with its settings", () => {
    const config = configSchema.parse({
      ranking: { candidatesToRank: 300, timeoutMs: 80 },
      pipeline: { sessions: { ttlMs: 600_000 }, rewatchSurfaces: ["subscriptions"], stages: [{ name: "Diversity", options: { windowSize: 8 } }] },
    });
    const def = definePipeline({ pipeline: config.pipeline, registry: createRegistry(), runtime: full, settings: settingsFromConfig(config) });
    const toc = describePipeline(def);
    const steps = toc.split("\n").filter((l) => /^\d /.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(steps).toEqual(["hydrate", "sources", "merge", "filters", "rank", "stages", "fill", "page"]);
    expect(toc).toMatch(/rewatch surfaces: subscriptions/);
    expect(toc).toMatch(/shed to the fill past 16 concurrent rankings or 50ms/);
    expect(toc).toMatch(/best 300 by source score → ranker heads \(80ms\) → blend blend-v2/);
    expect(toc).toMatch(/✓ Seen\s+\[builtin\]\n/);
    expect(toc).toMatch(/✓ AgeRestricted\s+\[builtin\]\s+\{"unknownAge":"minor"\}/);
    const adult = definePipeline({ pipeline: { ...config.pipeline, unknownAge: "adult" }, registry: createRegistry(), runtime: full });
    expect(describePipeline(adult)).toMatch(/AgeRestricted\s+\[builtin\]\s+\{"unknownAge":"adult"\}/);
    const restricted = { ...full.catalog.newest()[0], id: "x", ageRestricted: true };
    const ageRule = (d: typeof adult) => d.filters.find((f) => f.name === "AgeRestricted")!.filter;
    const merged = [{ videoId: "x", video: restricted, sources: [], sourceScore: 1 }];
    const anonymous = { context: {}, user: undefined } as never;
    expect([ageRule(def).apply(anonymous, merged, full).kept.length, ageRule(adult).apply(anonymous, merged, full).kept.length]).toEqual([0, 1]);
    expect(toc).toMatch(/✓ Diversity\s+phase arrange\s+\[builtin\]\s+\{"windowSize":8\}/);
    expect(toc).toMatch(/sessions kept 600s idle \(at most 10000\)/);
    expect([def.rank.candidatesToRank, def.page.sessionTtlMs, def.overload.maxConcurrentRankings]).toEqual([300, 600_000, 16]);
    expect(() => definePipeline({ pipeline: config.pipeline, registry: createRegistry(), runtime: full, settings: { rank: { candidatesToRank: 0 } } })).toThrow(
      /config ranking\.candidatesToRank: expected a positive integer/,
    );
  });

  it("runs stages by phase and warns when the config lists them in another order", () => {
    const stages = ["Guardrails", "Diversity", "Freshness", "Exploration"].map((name) => ({ name }));
    const def = definePipeline({ pipeline: pipeline({ stages }), registry: createRegistry(), runtime: full });
    expect(def.stages.map((s) => s.name)).toEqual(["Freshness", "Guardrails", "Diversity", "Exploration"]);
    expect(def.warnings.join("\n")).toMatch(/Freshness runs at position 1/);
  });

  it("disables fail-open sources whose store is missing, with a warning; fail-closed ones are BAD_CONFIG", () => {
    const def = definePipeline({ pipeline: pipeline({}), registry: createRegistry(), runtime: bare });
    expect(def.sources.filter((s) => !s.enabled).map((s) => s.name)).toEqual(["Neighbours", "TwoTower", "MultiQuery", "Content"]);
    expect(def.warnings).toContain("source Neighbours disabled: the runtime has no neighbours");
    expect(def.warnings).toContain("source Content disabled: the runtime has no content");
    expect(() => definePipeline({ pipeline: pipeline({ sources: [{ name: "Content", failOpen: false }] }), registry: createRegistry(), runtime: bare })).toThrow(
      expect.objectContaining({ code: "BAD_CONFIG", message: expect.stringMatching(/pipeline\.sources\[0\].*fail-closed.*no content/) }),
    );
  });

  it("rejects unknown and duplicate names and bad options with BAD_CONFIG naming the key", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ sources: [{ name: "Trending" }, { name: "TwoTowr" }] }, /pipeline\.sources\[1\]\.name: unknown source "TwoTowr"/],
      [{ sources: [{ name: "Trending" }, { name: "Trending" }] }, /pipeline\.sources\[1\]\.name: "Trending" is listed twice/],
      [{ stages: [{ name: "Diversity" }, { name: "Nope" }] }, /pipeline\.stages\[1\]\.name: unknown stage "Nope"/],
      [{ stages: [{ name: "Diversity", options: { windowSise: 5 } }] }, /pipeline\.stages\[0\]\.options: unknown option\(s\) "windowSise"/],
      [{ stages: [{ name: "Diversity", options: { windowSize: 1 } }] }, /pipeline\.stages\[0\]\.options\.windowSize/],
      [{ sources: [{ name: "Fresh", options: { maxAgeDays: "seven" } }] }, /pipeline\.sources\[0\]\.options\.maxAgeDays/],
    ];
    for (const [p, message] of cases) {
      expect(() => definePipeline({ pipeline: pipeline(p), registry: createRegistry(), runtime: full })).toThrow(
        expect.objectContaining({ code: "BAD_CONFIG", message: expect.stringMatching(message) }),
      );
    }
  });
});

describe("merge, cursor, session cache, blend", () => {
  it("merges: dedupes, keeps every attribution, rewards agreement, drops unknown videos", () => {
    const { catalog } = createTestkit().runtime;
    const r = (code: "PERSONALIZED" | "POPULAR") => ({ code, params: {} });
    const { merged, unknown } = mergeCandidates(
      [
        { source: "A", weight: 1, candidates: [{ videoId: "v1", score: 0.9, reason: r("PERSONALIZED") }, { videoId: "v2", score: 0.8, reason: r("PERSONALIZED") }, { videoId: "zz", score: 1, reason: r("PERSONALIZED") }] },
        { source: "B", weight: 2, candidates: [{ videoId: "v2", score: 100, reason: r("POPULAR") }, { videoId: "v3", score: 5, reason: r("POPULAR") }] },
      ],
      catalog,
    );
    expect(unknown).toBe(1);
    expect(merged.map((m) => m.videoId)).toEqual(["v2", "v3", "v1"]);
    expect(merged[0].sources.map((a) => a.source)).toEqual(["B", "A"]);
    expect(merged[0].sourceScore).toBeCloseTo(2 + 61 / 63, 6);
  });

  it("merges a video a source lists twice once, at its best rank, and drops an unknown one (counted once, its ranks taken)", () => {
    const { catalog } = createTestkit().runtime;
    const reason = { code: "PERSONALIZED" as const, params: {} };
    const list = (...ids: string[]) => ids.map((videoId, i) => ({ videoId, score: 10 - i, reason }));
    const { merged, unknown } = mergeCandidates(
      [
        { source: "A", weight: 1, candidates: list("v1", "zz", "v1", "zz", "v2") },
        { source: "B", weight: 1, candidates: list("zz", "v2", "v2", "v1") },
      ],
      catalog,
    );
    expect(unknown).toBe(1); // zz: listed by A (twice) and B, one unknown video
    expect(merged.map((m) => m.videoId).sort()).toEqual(["v1", "v2"]);
    const score = (id: string) => merged.find((m) => m.videoId === id)!;
    // A ranks v1 1st, zz 2nd, v2 3rd (the repeats take no rank); B ranks zz 1st, v2 2nd, v1 3rd.
    const rrf = (rank: number) => 61 / (60 + rank);
    expect(score("v1").sourceScore).toBeCloseTo(rrf(1) + rrf(3), 9);
    expect(score("v2").sourceScore).toBeCloseTo(rrf(3) + rrf(2), 9);
    expect(score("v1").sources.map((a) => a.source)).toEqual(["A", "B"]);
    expect(score("v2").sources.map((a) => a.source)).toEqual(["B", "A"]);
  });

  it("round-trips cursors and rejects tampering and expiry", () => {
    const c = { sessionId: "abcdefghijkl", offset: 20, issuedAt: 1000, userTag: "x1" };
    expect(decodeCursor(encodeCursor(c), 2000, 10_000)).toEqual(c);
    expect(() => decodeCursor(encodeCursor(c), 20_000, 10_000)).toThrow(/expired/);
    expect(() => decodeCursor(encodeCursor({ ...c, sessionId: "../x" }), 2000, 10_000)).toThrow(/malformed/);
  });

  it("session cache expires idle entries and evicts the least recently used", () => {
    let t = 0;
    const cache = createSessionCache<number>({ ttlMs: 100, maxEntries: 2, clock: () => t });
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    t = 150;
    expect(cache.get("a")).toBeUndefined();
  });

  it("blend-v1: pClick gates, completion and like add, dislike subtracts; missing heads are neutral", () => {
    expect(blendScore({ click: 0.2, completion: 0.5, like: 0.2, dislike: 0.1 })).toBeCloseTo(0.2 * 1.5 * 1.1 * 0.9, 9);
    expect(blendScore({ click: 0.2 })).toBeCloseTo(0.2, 9);
    expect(blendScore({ click: 0.5, dislike: 1 }, { ...DEFAULT_BLEND, dislike: 2 })).toBe(0);
    expect(blendScore({ ctr: 0.3 }, { ...DEFAULT_BLEND, heads: { click: "ctr" } })).toBeCloseTo(0.3, 9);
    // Clickbait loses to a video people finish.
    expect(blendScore({ click: 0.3, completion: 0.05 })).toBeLessThan(blendScore({ click: 0.25, completion: 0.6 }));
    expect(() => validateBlend({ ...DEFAULT_BLEND, like: -1 })).toThrow(/ranking\.blend\.like/);
  });

  it("blend-v2: collaborative affinity multiplies by exp(affinity · relative); 0 leaves blend-v1; cold users are unchanged", () => {
    const heads = { click: 0.2, completion: 0.5, like: 0.2, dislike: 0.1 };
    const v1 = blendScore(heads, { ...DEFAULT_BLEND, affinity: 0 });
    expect(blendScore(heads)).toBeCloseTo(v1, 12); // affinity 0: a user without history
    expect(blendScore(heads, DEFAULT_BLEND, 0.5)).toBeCloseTo(v1 * Math.exp(DEFAULT_BLEND.affinity * 0.5), 6);
    // A candidate at the user's best affinity beats a far likelier click without any.
    expect(blendScore({ click: 0.01 }, DEFAULT_BLEND, 1)).toBeGreaterThan(blendScore({ click: 0.9 }, DEFAULT_BLEND, 0));
    // Between close affinities, the heads decide.
    expect(blendScore({ click: 0.3 }, DEFAULT_BLEND, 0.8)).toBeGreaterThan(blendScore({ click: 0.1 }, DEFAULT_BLEND, 0.81));
    expect(() => validateBlend({ ...DEFAULT_BLEND, affinity: -1 })).toThrow(/ranking\.blend\.affinity/);
    expect(validateBlend({ version: "old", click: 1, completion: 1, like: 0.5, dislike: 1 } as typeof DEFAULT_BLEND)).toBeTruthy();
  });
});
