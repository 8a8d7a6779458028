import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/features/aggregates";
import {
  createContentSource,
  createFreshSource,
  createMultiQuerySource,
  createNeighboursSource,
  createSocialSource,
  createSubscriptionsSource,
  createTrendingSource,
  createTwoTowerSource,
} from "../../src/sources";
import { createTestkit, TESTKIT_NOW } from "../../src/testkit";
import { createTinyCatalog } from "../../src/testkit/tiny-catalog";

describe("built-in sources", () => {
  it("every source returns [] (never throws) for an unknown user with nothing to go on", async () => {
    const tk = createTestkit({ videos: [] });
    const q = await tk.query("nobody");
    for (const s of [createNeighboursSource(), createTwoTowerSource(), createMultiQuerySource(), createContentSource(), createTrendingSource(), createSocialSource(), createSubscriptionsSource(), createFreshSource()]) {
      expect(await tk.runSource(s, q), s.name).toEqual([]);
    }
  });

  it("Neighbours: the item neighbours of recent watches, best affinity first, seen excluded, SIMILAR_TO the watch behind it", async () => {
    const tk = createTestkit({ neighbours: "generated" });
    await tk.record([tk.events.watch("u1", "v1"), tk.events.watch("u1", "v6")]); // comedy
    const out = await tk.runSource(createNeighboursSource(), await tk.query("u1"), { limit: 4 });
    expect(out.length).toBeGreaterThan(0);
    expect(out.every((c) => tk.catalog.video(c.videoId)!.category === "comedy" && !["v1", "v6"].includes(c.videoId))).toBe(true);
    expect(out.every((c) => c.reason.code === "SIMILAR_TO" && ["v1", "v6"].includes(c.reason.params.videoId))).toBe(true);
    for (let i = 1; i < out.length; i++) expect(out[i].score).toBeLessThanOrEqual(out[i - 1].score);
    // No neighbours in the runtime, or no history: nothing to propose.
    expect(await createTestkit().runSource(createNeighboursSource(), await tk.query("u1"))).toEqual([]);
    expect(await tk.runSource(createNeighboursSource(), await tk.query("u2"))).toEqual([]);
    expect(() => createNeighboursSource({ minRelativeAffinity: 2 } as never)).toThrow(/minRelativeAffinity/);
  });

  it("TwoTower: nearest videos to the user embedding, seen excluded, PERSONALIZED", async () => {
    const tk = createTestkit();
    await tk.record([tk.events.watch("u1", "v1"), tk.events.watch("u1", "v6"), tk.events.watch("u1", "v11")]); // all comedy
    const out = await tk.runSource(createTwoTowerSource(), await tk.query("u1"), { limit: 5 });
    expect(out).toHaveLength(5);
    expect(out.every((c) => c.reason.code === "PERSONALIZED" && !["v1", "v6", "v11"].includes(c.videoId))).toBe(true);
    expect(out.filter((c) => tk.catalog.video(c.videoId)!.category === "comedy").length).toBeGreaterThanOrEqual(4);
  });

  it("MultiQuery: one query per top category, interleaved, CATEGORY_INTEREST naming it", async () => {
    const tk = createTestkit();
    await tk.record([tk.events.watch("u1", "v1"), tk.events.watch("u1", "v6"), tk.events.watch("u1", "v2")]); // comedy ×2, drama
    const out = await tk.runSource(createMultiQuerySource({ categories: 2 }), await tk.query("u1"), { limit: 6 });
    expect(out.map((c) => c.reason.params.category)).toEqual(["comedy", "drama", "comedy", "drama", "comedy", "drama"]);
    expect(out.every((c) => tk.catalog.video(c.videoId)!.category === c.reason.params.category)).toBe(true);
  });

  it("Content: neighbours of the seed and recent watches, SIMILAR_TO naming the seed", async () => {
    const tk = createTestkit();
    const out = await tk.runSource(createContentSource(), await tk.query("u1", { seedVideoId: "v3" }), { limit: 5 });
    expect(out.length).toBe(5);
    expect(out.every((c) => c.reason.code === "SIMILAR_TO" && c.reason.params.videoId === "v3" && c.videoId !== "v3")).toBe(true);
    expect(out.filter((c) => tk.catalog.video(c.videoId)!.category === "music").length).toBeGreaterThanOrEqual(4);
  });

  it("Trending: the country's board first, then global, then the catalog", async () => {
    const tk = createTestkit();
    await tk.record([{ ...tk.events.watch("u2", "v4"), country: "FR" }, { ...tk.events.watch("u1", "v9"), country: "US" }, { ...tk.events.watch("u3", "v9"), country: "US" }]);
    const out = await tk.runSource(createTrendingSource(), await tk.query("u5", { context: { country: "FR" } }), { limit: 10 });
    expect(out[0]).toMatchObject({ videoId: "v4", reason: { code: "TRENDING_IN", params: { country: "FR" } } });
    expect(out[1]).toMatchObject({ videoId: "v9", reason: { code: "POPULAR" } });
    expect(out).toHaveLength(10);
  });

  it("Social: what followees engaged with, FRIENDS_ENGAGED naming them", async () => {
    const tk = createTestkit();
    await tk.record([tk.events.follow("u1", "u2"), tk.events.follow("u1", "u3"), tk.events.like("u2", "v10"), tk.events.watch("u3", "v10"), tk.events.watch("u3", "v20")]);
    const out = await tk.runSource(createSocialSource(), await tk.query("u1"));
    expect(out[0].videoId).toBe("v10");
    expect(out[0].reason.code).toBe("FRIENDS_ENGAGED");
    expect(out[0].reason.params.userIds.split(",").sort()).toEqual(["u2", "u3"]);
    expect(out.map((c) => c.videoId)).toContain("v20");
  });

  it("Subscriptions: recent uploads of subscribed creators only", async () => {
    const tk = createTestkit();
    await tk.record([tk.events.subscribe("u1", "c2")]);
    const out = await tk.runSource(createSubscriptionsSource({ maxAgeDays: 60, perCreator: 4 }), await tk.query("u1"));
    expect(out).toHaveLength(4);
    expect(out.every((c) => tk.catalog.video(c.videoId)!.creatorId === "c2" && c.reason.params.creatorId === "c2")).toBe(true);
  });

  it("Fresh: uploads within the window, newest and in-language first", async () => {
    const tk = createTestkit();
    const q = await tk.query("u2");
    const out = await tk.runSource(createFreshSource({ maxAgeDays: 10 }), q, { limit: 100 });
    expect(out.length).toBeGreaterThan(0);
    expect(out.every((c) => tk.now() - tk.catalog.video(c.videoId)!.uploadedAt <= 10 * DAY_MS && c.reason.code === "FRESH")).toBe(true);
    expect(tk.catalog.video(out[0].videoId)!.language).toBe("fr");
  });

  it("Fresh: stopping the scan early gives exactly the full scan's best, boosts included, whatever the user's language", async () => {
    const tk = createTestkit({ videos: createTinyCatalog({ now: TESTKIT_NOW, videos: 400 }).videos });
    await tk.record([tk.events.watch("u2", "v3"), tk.events.watch("u2", "v8")]);
    const hydrated = await tk.query("u2");
    const opts = { maxAgeDays: 30, languageBoost: 3, categoryBoost: 2 };
    const top = new Set(Object.keys(hydrated.userAgg!.categoryWatches));
    // The user's language is scanned from its own list first: a common language, a rare one, one with no uploads, none.
    const counts = new Map<string, number>();
    for (const v of tk.catalog.newest()) if (v.language) counts.set(v.language, (counts.get(v.language) ?? 0) + 1);
    const byCount = [...counts].sort((a, b) => b[1] - a[1]).map(([l]) => l);
    expect(byCount.length).toBeGreaterThan(1);
    for (const language of [byCount[0], byCount[byCount.length - 1], "xx", undefined]) {
      const q = { ...hydrated, user: { ...hydrated.user!, language }, context: { ...hydrated.context, language } };
      const expected = tk.catalog
        .newest()
        .filter((v) => v.uploadedAt <= tk.now() && tk.now() - v.uploadedAt <= 30 * DAY_MS && !q.seen.has(v.id))
        .map((v) => {
          const score = (1 - (tk.now() - v.uploadedAt) / (30 * DAY_MS)) * (language !== undefined && v.language === language ? 3 : 1) * (top.has(v.category) ? 2 : 1);
          return { videoId: v.id, score };
        })
        .sort((a, b) => b.score - a.score || (a.videoId < b.videoId ? -1 : 1))
        .slice(0, 15);
      expect(expected.length).toBe(15);
      const out = await tk.runSource(createFreshSource(opts), q, { limit: 15 });
      expect(out.map((c) => c.videoId)).toEqual(expected.map((c) => c.videoId));
      out.forEach((c, i) => expect(c.score).toBeCloseTo(expected[i].score, 12));
    }
  });

  it("factories reject bad options with BAD_CONFIG naming the option", () => {
    expect(() => createFreshSource({ maxAgeDays: -1 })).toThrow(expect.objectContaining({ code: "BAD_CONFIG" }));
    expect(() => createMultiQuerySource({ categories: 0 })).toThrow(/options\.categories/);
  });
});
