import { describe, expect, it } from "vitest";
import type { Video } from "../../src/data/types";
import { ReelfeedError } from "../../src/errors";
import type { FeedPage } from "../../src/pipeline/feed-page";
import { definePlugin, defineSource, type FeedQuery, type RankerModel } from "../../src/plugin";
import { DEFAULT_CAPS, firstCapViolation } from "../../src/rerank/caps";
import type { StateStore } from "../../src/stores/state-store";
import { createTestkit, createTinyCatalog, TESTKIT_NOW } from "../../src/testkit";

const now = TESTKIT_NOW;

/** A catalog with enough creators that diversity caps never starve the feed, and the hard-rule cases marked. */
function catalog(): Video[] {
  return createTinyCatalog({ now, videos: 150, creators: 25 }).videos.map((v, i) => ({
    ...v,
    ageRestricted: i % 9 === 4 ? true : undefined,
    blockedRegions: i % 8 === 3 ? ["FR"] : undefined,
    policyFlags: i % 13 === 6 ? ["removed"] : i % 17 === 5 ? ["spam"] : undefined,
  }));
}

const throwing = defineSource({
  name: "Exploding",
  create: () => ({
    async fetch() {
      throw new Error("backend on fire");
    },
  }),
});
const hanging = defineSource({
  name: "Hanging",
  create: () => ({
    fetch: (_q, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => setTimeout(() => reject(new Error("late")), 500))),
  }),
});
const ignoresSignal = defineSource({ name: "Deaf", create: () => ({ fetch: () => new Promise(() => {}) }) });
const faults = definePlugin({ name: "faults", version: "0.0.1", sources: [throwing, hanging, ignoresSignal] });

async function allPages(get: (after?: string) => Promise<FeedPage>, max = 50): Promise<FeedPage[]> {
  const pages: FeedPage[] = [];
  let after: string | undefined;
  for (let i = 0; i < max; i++) {
    const page = await get(after);
    pages.push(page);
    if (!page.hasNextPage) break;
    after = page.endCursor;
  }
  return pages;
}

describe("feed pipeline: failure handling", () => {
  it("answers a full page when one source throws, another hangs past its timeout, a third ignores its signal", async () => {
    const tk = createTestkit({
      videos: catalog(),
      plugins: [faults],
      sources: [
        { name: "TwoTower" },
        { name: "Trending" },
        { name: "Exploding" },
        { name: "Hanging", timeoutMs: 30 },
        { name: "Deaf", timeoutMs: 30 },
      ],
    });
    const started = Date.now();
    const page = await tk.feed({ userId: "u1", first: 10 });
    expect(Date.now() - started).toBeLessThan(400);
    expect(page.items).toHaveLength(10);
    const kinds = page.fallbacks.map((f) => `${f.kind}:${f.component}`);
    expect(kinds).toContain("SOURCE_FAILED:Exploding");
    expect(kinds).toContain("SOURCE_TIMEOUT:Hanging");
    expect(kinds).toContain("SOURCE_TIMEOUT:Deaf");
    expect(page.trace!.stages.find((s) => s.stage === "source:Exploding")!.error).toMatch(/backend on fire/);
    const stats = tk.service.stats();
    expect(stats.sources.Exploding.failed).toBe(1);
    expect(stats.sources.Hanging.timedOut).toBe(1);
  });

  it("fails the request when a fail-closed source fails", async () => {
    const tk = createTestkit({ videos: catalog(), plugins: [faults], sources: [{ name: "Trending" }, { name: "Exploding", failOpen: false }] });
    await expect(tk.feed({ userId: "u1" })).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });

  it("answers from popularity when every source fails", async () => {
    // No Exploration stage here: it swaps random slots (seeded by the random session id) and this test is about order.
    const stages = [{ name: "Freshness" }, { name: "Guardrails" }, { name: "Diversity" }];
    const tk = createTestkit({ videos: catalog(), plugins: [faults], stages, sources: [{ name: "Exploding" }, { name: "Hanging", timeoutMs: 20 }] });
    await tk.record([tk.events.watch("u2", "v10"), tk.events.watch("u3", "v10"), tk.events.watch("u3", "v20")]);
    const page = await tk.feed({ userId: "u1", first: 12 });
    expect(page.items).toHaveLength(12);
    expect(page.fallbacks.map((f) => f.kind)).toEqual(expect.arrayContaining(["SOURCE_FAILED", "SOURCE_TIMEOUT", "POPULARITY"]));
    expect(page.items.every((i) => i.sources.includes("Popularity"))).toBe(true);
    // Trending first: the two watched videos lead (v10 watched twice).
    expect(page.items[0].video.id).toBe("v10");
    // Unfiltered popular must still pass the filters: no removed / spam / age-restricted (u1 is adult, so allowed).
    expect(page.items.some((i) => i.video.policyFlags?.length)).toBe(false);
  });

  it("says RANKER_UNAVAILABLE and orders by source score without a ranker", async () => {
    const tk = createTestkit({ videos: catalog() });
    const page = await tk.feed({ userId: "u1", first: 10 });
    expect(page.items).toHaveLength(10);
    expect(page.fallbacks.map((f) => f.kind)).toContain("RANKER_UNAVAILABLE");
    expect(page.items.every((i) => Object.keys(i.heads).length === 0)).toBe(true);
  });

  it("says RANKER_UNAVAILABLE when the ranker throws, and blends heads when it works", async () => {
    const heads = ["click", "completion", "like", "dislike"] as const;
    const byDuration: RankerModel = {
      heads,
      version: "test-ranker-1",
      async score(_q, videos) {
        // Short videos are clicked more: a real signal the blend must turn into order.
        const click = Float32Array.from(videos, (v) => 1 / (1 + v.durationSec / 300));
        return { click, completion: click.map((c) => c / 2), like: new Float32Array(videos.length).fill(0.1), dislike: new Float32Array(videos.length).fill(0.05) };
      },
    };
    const tk = createTestkit({ videos: catalog(), models: { ranker: byDuration }, stages: [] });
    const page = await tk.feed({ userId: "u1", first: 10 });
    expect(page.fallbacks.map((f) => f.kind)).not.toContain("RANKER_UNAVAILABLE");
    expect(page.modelVersion).toBe("test-ranker-1");
    expect(Object.keys(page.items[0].heads).sort()).toEqual([...heads].sort());
    const durations = page.items.map((i) => i.video.durationSec);
    expect(durations).toEqual([...durations].sort((a, b) => a - b));
    expect(page.trace!.stages.some((s) => s.stage.startsWith("Rank (test-ranker-1, blend-v2)"))).toBe(true);

    const broken: RankerModel = { heads, version: "x", score: async () => ({ click: new Float32Array(1) }) };
    const tk2 = createTestkit({ videos: catalog(), models: { ranker: broken } });
    const page2 = await tk2.feed({ userId: "u1", first: 10 });
    expect(page2.items).toHaveLength(10);
    expect(page2.fallbacks.find((f) => f.kind === "RANKER_UNAVAILABLE")!.message).toMatch(/head "click" missing or of the wrong length|completion/);
  });

  it("serves with empty state and says STATE_UNAVAILABLE when the state store is down", async () => {
    const down = (): Promise<never> => Promise.reject(new Error("connection refused"));
    const tk0 = createTestkit({ videos: catalog() });
    const broken: StateStore = { ...tk0.state, getUser: down, getRelations: down, getSeen: down, getVideos: down, markServed: down, trending: down };
    const tk = createTestkit({ videos: catalog(), runtime: { state: broken } });
    const page = await tk.feed({ userId: "u1", first: 10 });
    expect(page.items).toHaveLength(10);
    expect(page.fallbacks.filter((f) => f.kind === "STATE_UNAVAILABLE").length).toBeGreaterThan(0);
    expect(page.fallbacks.map((f) => f.component)).toContain("state");
  });
});

describe("feed pipeline: hard rules", () => {
  it("never serves not-interested, reported, blocked-creator, removed or flagged videos", async () => {
    const tk = createTestkit({ videos: catalog() });
    await tk.record([
      tk.events.watch("u1", "v1"),
      tk.events.notInterested("u1", "v2"),
      tk.events.notInterested("u1", "v12"),
      tk.events.report("u1", "v22"),
      tk.events.blockCreator("u1", "c3"),
    ]);
    const items = (await allPages((after) => tk.feed({ userId: "u1", first: 20, after }))).flatMap((p) => p.items);
    expect(items.length).toBeGreaterThan(60);
    const ids = new Set(items.map((i) => i.video.id));
    for (const id of ["v1", "v2", "v12", "v22"]) expect(ids.has(id)).toBe(false);
    expect(items.some((i) => i.video.creatorId === "c3")).toBe(false);
    expect(items.some((i) => i.video.policyFlags?.length)).toBe(false);
    // The trace says why: the not-interested video, proposed by a source, was removed by the filter.
    const first = await tk.feed({ userId: "u1", first: 5, context: { now: now + 1 } });
    const c = first.trace!.candidates.filter((t) => t.removedBy?.stage === "filter:BlockedCreator");
    expect(c.length).toBeGreaterThan(0);
  });

  it("keeps age-restricted videos from minors and unknown ages, and region-blocked videos from their region", async () => {
    const tk = createTestkit({ videos: catalog() });
    const served = async (userId: string, country?: string) =>
      (await allPages((after) => tk.feed({ userId, first: 25, after, context: { country } }))).flatMap((p) => p.items.map((i) => i.video));
    for (const minor of ["u6", "u7"]) expect((await served(minor)).some((v) => v.ageRestricted)).toBe(false);
    expect((await served("u1")).some((v) => v.ageRestricted)).toBe(true);
    const fr = await served("u5", "FR");
    expect(fr.length).toBeGreaterThan(50);
    expect(fr.some((v) => v.blockedRegions?.includes("FR"))).toBe(false);
    expect((await served("u4", "US")).some((v) => v.blockedRegions?.includes("FR"))).toBe(true);
  });
});

describe("feed pipeline: sessions and pages", () => {
  it("pages through a session without repeats, caps spanning pages, unique tracking ids, positions in order", async () => {
    const tk = createTestkit({ videos: catalog() });
    await tk.record([tk.events.watch("u1", "v5"), tk.events.watch("u1", "v30"), tk.events.like("u1", "v55")]);
    const served: Array<{ page: FeedPage; query: FeedQuery }> = [];
    const tk2 = createTestkit({ videos: catalog(), service: { onServed: (page, query) => void served.push({ page, query }) } });
    for (const t of [tk, tk2]) {
      const pages = await allPages((after) => t.feed({ userId: "u1", first: 7, after }));
      const items = pages.flatMap((p) => p.items);
      expect(pages.length).toBeGreaterThan(5);
      expect(new Set(items.map((i) => i.video.id)).size).toBe(items.length);
      expect(new Set(items.map((i) => i.trackingId)).size).toBe(items.length);
      expect(items.map((i) => i.position)).toEqual(items.map((_, i) => i));
      // Diversity caps hold over the concatenation of all pages, not only inside each page.
      expect(firstCapViolation(items.map((i) => i.video), DEFAULT_CAPS)).toBe(-1);
    }
    expect(served.length).toBeGreaterThan(5);
    expect(served[0].query.userId).toBe("u1");
    expect(served[0].page.items[0].trackingId).toMatch(/^[A-Za-z0-9_-]+\.0$/);
  });

  it("records served pages: a new request does not repeat what was served", async () => {
    const tk = createTestkit({ videos: catalog() });
    const a = await tk.feed({ userId: "u2", first: 10 });
    const b = await tk.feed({ userId: "u2", first: 10 });
    const first = new Set(a.items.map((i) => i.video.id));
    expect(b.items.some((i) => first.has(i.video.id))).toBe(false);
    expect((await tk.state.getSeen("u2")).size).toBe(20);
  });

  it("marks exploration items, deterministically per session", async () => {
    const tk = createTestkit({ videos: catalog(), stages: [{ name: "Diversity" }, { name: "Exploration", options: { share: 0.2 } }] });
    const page = await tk.feed({ userId: "u3", first: 30 });
    const explored = page.items.filter((i) => i.reason.code === "EXPLORATION");
    expect(explored.length).toBeGreaterThanOrEqual(3);
    expect(explored[0].reason.params.kind).toMatch(/^(fresh|random)$/);
    const tkAgain = createTestkit({ videos: catalog(), stages: [{ name: "Diversity" }, { name: "Exploration", options: { share: 0.2, seed: "s" } }] });
    const tkAgain2 = createTestkit({ videos: catalog(), stages: [{ name: "Diversity" }, { name: "Exploration", options: { share: 0.2, seed: "s" } }] });
    const x = (await tkAgain.feed({ userId: "u3", first: 30 })).items.map((i) => i.video.id);
    const y = (await tkAgain2.feed({ userId: "u3", first: 30 })).items.map((i) => i.video.id);
    expect(x).toEqual(y);
  });

  it("rejects bad cursors with BAD_USER_INPUT naming \"after\"", async () => {
    const tk = createTestkit({ videos: catalog(), service: { cursorTtlMs: 60_000 } });
    const page = await tk.feed({ userId: "u1", first: 5 });
    const bad = async (after: string, userId = "u1") => {
      const err = await tk.feed({ userId, first: 5, after }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ReelfeedError);
      expect(err).toMatchObject({ code: "BAD_USER_INPUT", details: { argument: "after" } });
      return err as ReelfeedError;
    };
    await bad("not a cursor!");
    await bad("eyJ2IjoxfQ"); // {"v":1}
    await bad(Buffer.from(JSON.stringify({ v: 1, s: "abcdefghij", o: -3, t: now, u: "x" })).toString("base64url"));
    const decoded = JSON.parse(Buffer.from(page.endCursor!, "base64url").toString("utf8"));
    await bad(Buffer.from(JSON.stringify({ ...decoded, o: 9999 })).toString("base64url"));
    expect((await bad(page.endCursor!, "u2")).message).toMatch(/another user/);
    tk.advance(61_000);
    expect((await bad(page.endCursor!)).message).toMatch(/expired/);
  });

  it("re-ranks an expired session from the cursor's offset without repeating what was served", async () => {
    const tk = createTestkit({ videos: catalog(), service: { sessionTtlMs: 1000 } });
    const p1 = await tk.feed({ userId: "u4", first: 10 });
    tk.advance(5000);
    const p2 = await tk.feed({ userId: "u4", first: 10, after: p1.endCursor });
    expect(p2.items).toHaveLength(10);
    expect(p2.items[0].position).toBe(10);
    const seen = new Set(p1.items.map((i) => i.video.id));
    expect(p2.items.some((i) => seen.has(i.video.id))).toBe(false);
    expect(tk.service.stats().sessionsRanked).toBe(2);
  });

  it("past maxConcurrentRankings, answers at once with popular videos (OVERLOADED) and ranks that user's next page", async () => {
    // A source that holds its ranking open until released: the first request occupies the only slot.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = defineSource({ name: "Slow", create: () => ({ fetch: async () => (await held, []) }) });
    const tk = createTestkit({
      videos: catalog(),
      plugins: [definePlugin({ name: "slow", version: "0.0.1", sources: [slow] })],
      sources: [{ name: "Trending" }, { name: "Slow", timeoutMs: 10_000 }],
      service: { overload: { maxConcurrentRankings: 1 } },
    });
    const first = tk.feed({ userId: "u1", first: 10 });
    const shed = await tk.feed({ userId: "u2", first: 10 });
    expect(shed.items).toHaveLength(10);
    expect(shed.fallbacks.map((f) => f.kind)).toEqual(["OVERLOADED", "POPULARITY"]);
    expect(shed.fallbacks[0].message).toMatch(/1 sessions were being ranked \(limit 1\)/);
    release();
    expect((await first).fallbacks.map((f) => f.kind)).not.toContain("OVERLOADED");
    // The shed session was not kept: its next page is ranked now that there is room, without repeating page 1.
    const next = await tk.feed({ userId: "u2", first: 10, after: shed.endCursor });
    expect(next.fallbacks.map((f) => f.kind)).not.toContain("OVERLOADED");
    expect(next.items[0].position).toBe(10);
    const served = new Set(shed.items.map((i) => i.video.id));
    expect(next.items.some((i) => served.has(i.video.id))).toBe(false);
    expect(tk.service.stats()).toMatchObject({ sessionsRanked: 2, fallbacks: { OVERLOADED: 1 } });
  });

  it("sheds new rankings while the event loop runs later than overload.maxEventLoopLagMs", async () => {
    let lag = 80;
    const tk = createTestkit({ videos: catalog(), service: { overload: { maxEventLoopLagMs: 50, eventLoopLag: () => lag } } });
    const shed = await tk.feed({ userId: "u3", first: 10 });
    expect(shed.items).toHaveLength(10);
    expect(shed.fallbacks[0]).toMatchObject({ kind: "OVERLOADED", component: "pipeline", message: expect.stringMatching(/event loop ran 80 ms late \(limit 50 ms\)/) });
    lag = 5;
    const ranked = await tk.feed({ userId: "u3", first: 10 });
    expect(ranked.fallbacks.map((f) => f.kind)).not.toContain("OVERLOADED");
    expect(tk.service.stats().sessionsRanked).toBe(1);
  });

  it("validates request arguments", async () => {
    const tk = createTestkit();
    await expect(tk.feed({ userId: "u1", first: 0 })).rejects.toMatchObject({ code: "BAD_USER_INPUT", details: { argument: "first" } });
    await expect(tk.feed({ userId: "" })).rejects.toMatchObject({ details: { argument: "userId" } });
    await expect(tk.feed({ userId: "u1", seedVideoId: "nope" })).rejects.toMatchObject({ details: { argument: "seedVideoId" } });
  });

  it("answers unknown users (cold start) with a full page", async () => {
    const tk = createTestkit({ videos: catalog() });
    const page = await tk.feed({ userId: "stranger", first: 10 });
    expect(page.items).toHaveLength(10);
    expect(page.items.some((i) => i.video.ageRestricted)).toBe(false);
  });

  it("traces every stage with counts and every candidate with sources, removal and positions", async () => {
    const tk = createTestkit({ videos: catalog() });
    await tk.record([tk.events.notInterested("u1", "v7"), tk.events.watch("u1", "v8")]);
    const page = await tk.feed({ userId: "u1", first: 5, debug: true });
    const trace = page.trace!;
    expect(trace.modelVersion).toBe("testkit");
    const names = trace.stages.map((s) => s.stage);
    expect(names).toEqual(expect.arrayContaining(["Hydrate", "source:Trending", "Merge", "filter:Seen", "rerank:Diversity", "Page"]));
    const served = trace.candidates.filter((c) => c.finalPosition !== undefined).sort((a, b) => a.finalPosition! - b.finalPosition!);
    expect(served.map((c) => c.videoId)).toEqual(page.items.map((i) => i.video.id));
    expect(served.every((c) => c.sources.length > 0 && c.rankedPosition !== undefined)).toBe(true);
    const seenStage = trace.stages.find((s) => s.stage === "filter:NotInterested")!;
    expect(seenStage.input - seenStage.output).toBe(seenStage.removed?.not_interested ?? 0);
    const noDebug = await tk.feed({ userId: "u1", first: 5, debug: false });
    expect(noDebug.trace).toBeUndefined();
  });
});

describe("similarVideos and trending", () => {
  it("returns neighbours of a video, never itself, and NOT_FOUND for an unknown one", async () => {
    const tk = createTestkit({ videos: catalog() });
    const similar = await tk.service.similarVideos("v1", 5);
    expect(similar).toHaveLength(5);
    expect(similar.some((s) => s.video.id === "v1")).toBe(false);
    const v1 = tk.catalog.video("v1")!;
    expect(similar.filter((s) => s.video.category === v1.category).length).toBeGreaterThanOrEqual(3);
    await expect(tk.service.similarVideos("nope", 5)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("returns trending for a country, safe for anyone", async () => {
    const tk = createTestkit({ videos: catalog() });
    await tk.record([
      { ...tk.events.watch("u2", "v9"), country: "DE" },
      { ...tk.events.watch("u3", "v9"), country: "DE" },
      { ...tk.events.watch("u3", "v2"), country: "US" },
    ]);
    const de = await tk.service.trending("DE", 5);
    expect(de[0].video.id).toBe("v9");
    expect(de).toHaveLength(5);
    expect(de.some((t) => t.video.ageRestricted || t.video.policyFlags?.length)).toBe(false);
    await expect(tk.service.trending("Germany", 5)).rejects.toMatchObject({ details: { argument: "country" } });
  });
});
