import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import type { FeedPage, FeedRequest, FeedService } from "../../src/pipeline/feed-page";
import { toFeedRequest } from "../../src/schema/feed-resolver";
import { SurfaceEnum } from "../../src/schema/enums";
import { INTERNAL_MESSAGE } from "../../src/schema/format-error";
import { createTestkit, type Testkit } from "../../src/testkit";
import { createHarness, errorOf, type Harness } from "./harness";

const FEED = `query Feed($userId: ID!, $first: Int, $after: String, $surface: Surface, $context: FeedContextInput, $debug: Boolean, $seed: ID) {
  feed(userId: $userId, first: $first, after: $after, surface: $surface, context: $context, debug: $debug, seedVideoId: $seed) {
    modelVersion
    fallbacks { kind component message }
    pageInfo { endCursor hasNextPage }
    edges {
      cursor
      node {
        position score trackingId sources
        reason { code params { key value } }
        heads { head probability }
        video { id title category durationSec uploadedAt ageRestricted creator { id name } }
      }
    }
    trace { requestId totalMs modelVersion stages { stage latencyMs input output removed { reason count } error } candidates { videoId sources { source score } removedBy { stage reason } score finalPosition } }
  }
}`;

type Conn = {
  modelVersion: string;
  fallbacks: Array<{ kind: string; component: string }>;
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
  edges: Array<{
    cursor: string | null;
    node: {
      position: number;
      trackingId: string;
      sources: string[];
      reason: { code: string; params: Array<{ key: string; value: string }> };
      video: { id: string; uploadedAt: string; creator: { id: string; name: string | null } };
    };
  }>;
  trace: null | { stages: unknown[]; candidates: unknown[]; modelVersion: string };
};

/** Wraps the real pipeline and records the FeedRequests the resolver built. */
function recording(inner: FeedService): FeedService & { requests: FeedRequest[] } {
  const requests: FeedRequest[] = [];
  return {
    requests,
    feed: (r) => {
      requests.push(r);
      return inner.feed(r);
    },
    similarVideos: (id, n) => inner.similarVideos(id, n),
    trending: (c, n) => inner.trending(c, n),
  };
}

let kit: Testkit;
let feed: ReturnType<typeof recording>;
let h: Harness;
beforeAll(async () => {
  kit = createTestkit();
  feed = recording(kit.service);
  h = await createHarness({ feed, catalog: kit.catalog }, { server: { maxPageSize: 50 } });
});
afterAll(() => h.stop());

describe("feed", () => {
  it("maps arguments to a FeedRequest and the page back to a connection", async () => {
    const r = await h.exec(FEED, {
      userId: "u1",
      first: 5,
      surface: "WATCH_NEXT",
      seed: "v3",
      context: { device: "TABLET", country: "gb", language: "en-GB", time: "2023-11-14T22:13:20Z", sessionVideoIds: ["v1", "v2"] },
    });
    expect(r.errors).toBeUndefined();
    expect(feed.requests.at(-1)).toEqual({
      userId: "u1",
      surface: "watch_next",
      context: { device: "tablet", country: "GB", language: "en", now: Date.parse("2023-11-14T22:13:20Z"), sessionVideoIds: ["v1", "v2"] },
      seedVideoId: "v3",
      first: 5,
      after: undefined,
      debug: false,
    });
    const conn = r.data!.feed as Conn;
    expect(conn.edges).toHaveLength(5);
    expect(conn.modelVersion).toBe("testkit");
    conn.edges.forEach((e, i) => {
      expect(e.node.position).toBe(i);
      expect(e.node.trackingId).toMatch(/\.\d+$/);
      expect(e.node.sources.length).toBeGreaterThan(0);
      expect(e.node.reason.code).toMatch(/^[A-Z_]+$/);
      expect(kit.catalog.video(e.node.video.id)).toBeDefined();
      expect(new Date(e.node.video.uploadedAt).getTime()).toBe(kit.catalog.video(e.node.video.id)!.uploadedAt);
      expect(e.node.video.creator.name).toBe(kit.catalog.creator(kit.catalog.video(e.node.video.id)!.creatorId)!.name);
      expect(e.cursor).toBe(conn.pageInfo.endCursor);
    });
    expect(conn.trace).toBeNull();
  });

  it("applies the documented defaults: HOME, first 20, debug false", async () => {
    const r = await h.exec(`{ feed(userId: "u2") { edges { node { position } } } }`);
    expect(r.errors).toBeUndefined();
    expect(feed.requests.at(-1)).toMatchObject({ userId: "u2", surface: "home", first: 20, debug: false });
    expect((r.data!.feed as Conn).edges).toHaveLength(20);
  });

  it("continues with `after` without repeating an item", async () => {
    const first = (await h.exec(FEED, { userId: "u3", first: 4 })).data!.feed as Conn;
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await h.exec(FEED, { userId: "u3", first: 4, after: first.pageInfo.endCursor })).data!.feed as Conn;
    expect(second.edges.map((e) => e.node.position)).toEqual([4, 5, 6, 7]);
    const ids = new Set(first.edges.map((e) => e.node.video.id));
    for (const e of second.edges) expect(ids.has(e.node.video.id)).toBe(false);
  });

  it("returns the trace only with debug: true", async () => {
    const r = await h.exec(FEED, { userId: "u1", first: 3, debug: true });
    const trace = (r.data!.feed as Conn).trace!;
    expect(trace.modelVersion).toBe("testkit");
    expect(trace.stages.length).toBeGreaterThan(0);
    expect(trace.candidates.length).toBeGreaterThan(0);
  });

  it("gives an unknown user a cold-start feed", async () => {
    const r = await h.exec(FEED, { userId: "nobody-yet", first: 5 });
    expect(r.errors).toBeUndefined();
    expect((r.data!.feed as Conn).edges).toHaveLength(5);
  });

  it.each([
    [{ userId: "u1", first: 0 }, "first"],
    [{ userId: "u1", first: 51 }, "first"],
    [{ userId: "u1", first: -3 }, "first"],
    [{ userId: "" }, "userId"],
    [{ userId: "   " }, "userId"],
    [{ userId: "u1\u0000" }, "userId"],
    [{ userId: "u1", context: { country: "USA" } }, "context.country"],
    [{ userId: "u1", context: { country: "1a" } }, "context.country"],
    [{ userId: "u1", context: { language: "english!" } }, "context.language"],
    [{ userId: "u1", context: { sessionVideoIds: Array.from({ length: 201 }, (_, i) => `v${i}`) } }, "context.sessionVideoIds"],
    [{ userId: "u1", context: { sessionVideoIds: ["v1", ""] } }, "context.sessionVideoIds[1]"],
    [{ userId: "u1", after: "not-a-cursor!" }, "after"],
  ])("rejects %j with BAD_USER_INPUT naming %s", async (vars, argument) => {
    const before = feed.requests.length;
    const r = await h.exec(FEED, vars);
    expect(r.data).toBeNull();
    expect(errorOf(r)).toEqual({ code: "BAD_USER_INPUT", argument });
    expect(r.errors![0].message).toContain(argument);
    // Cursor errors come from the pipeline; every other one is caught before it.
    if (argument !== "after") expect(feed.requests.length).toBe(before);
  });

  it("answers NOT_FOUND for an unknown seed video", async () => {
    const r = await h.exec(FEED, { userId: "u1", seed: "no-such-video", surface: "WATCH_NEXT" });
    expect(errorOf(r)).toEqual({ code: "NOT_FOUND", argument: "seedVideoId" });
  });

  it("rejects an invalid DateTime before the resolver runs", async () => {
    const r = await h.exec(FEED, { userId: "u1", context: { time: "yesterday" } });
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("counts fallbacks and source errors in the metrics", async () => {
    const page: FeedPage = {
      items: [],
      hasNextPage: false,
      modelVersion: "m1",
      fallbacks: [
        { kind: "SOURCE_TIMEOUT", component: "TwoTower", message: "slow" },
        { kind: "SOURCE_FAILED", component: "Social", message: "down" },
        { kind: "RANKER_UNAVAILABLE", component: "ranker", message: "none" },
      ],
    };
    const stub: FeedService = { feed: async () => page, similarVideos: async () => [], trending: async () => [] };
    const r = await h.exec(FEED, { userId: "u1" }, { feed: stub });
    expect((r.data!.feed as Conn).fallbacks.map((f) => f.kind)).toEqual(["SOURCE_TIMEOUT", "SOURCE_FAILED", "RANKER_UNAVAILABLE"]);
    expect(h.metrics.feedFallbacks.get({ kind: "SOURCE_TIMEOUT" })).toBe(1);
    expect(h.metrics.sourceErrors.get({ source: "TwoTower", kind: "timeout" })).toBe(1);
    expect(h.metrics.sourceErrors.get({ source: "Social", kind: "failed" })).toBe(1);
    expect(h.metrics.sourceErrors.get({ source: "ranker", kind: "failed" })).toBe(0);
  });
});

describe("errors from the service", () => {
  const throwing = (err: unknown): FeedService => ({
    feed: async () => {
      throw err;
    },
    similarVideos: async () => [],
    trending: async () => [],
  });

  it("passes a client-facing ReelfeedError through with its code and public details", async () => {
    const r = await h.exec(FEED, { userId: "u1" }, { feed: throwing(new ReelfeedError("UNAVAILABLE", "state store down", { backend: "redis", url: "redis://secret:6379" })) });
    expect(r.errors![0]).toMatchObject({ message: "state store down", path: ["feed"], extensions: { code: "UNAVAILABLE", backend: "redis" } });
    expect(JSON.stringify(r)).not.toContain("secret");
  });

  it.each([
    ["a plain Error", new Error("ENOENT: /srv/bundles/v3/ranker.onnx")],
    ["a server-side ReelfeedError", new ReelfeedError("BAD_BUNDLE", "/srv/bundles/v3: manifest missing", { path: "/srv/bundles/v3" })],
    ["a thrown string", "boom /srv/bundles"],
  ])("hides %s behind INTERNAL_SERVER_ERROR with no stack trace", async (_label, err) => {
    const logged = h.logged.length;
    const r = await h.exec(FEED, { userId: "u1" }, { feed: throwing(err) });
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]).toEqual({ message: INTERNAL_MESSAGE, locations: expect.any(Array), path: ["feed"], extensions: { code: "INTERNAL_SERVER_ERROR" } });
    expect(JSON.stringify(r)).not.toMatch(/srv|stack|at .*\.ts/);
    expect(h.logged.length).toBe(logged + 1);
  });
});

describe("toFeedRequest", () => {
  it("normalises context values", () => {
    const req = toFeedRequest(
      { userId: " u9 ", surface: SurfaceEnum.SHORTS, context: { country: "de", language: "PT_br", sessionVideoIds: [" v1 "] }, first: 1 },
      { maxPageSize: 10 },
    );
    expect(req).toMatchObject({ userId: "u9", surface: "shorts", first: 1, context: { country: "DE", language: "pt", sessionVideoIds: ["v1"] } });
  });
});
