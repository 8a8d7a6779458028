import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeedService } from "../../src/pipeline/feed-page";
import { ageGroup } from "../../src/schema/mappers";
import { AgeGroupEnum } from "../../src/schema/enums";
import { createTestkit, type Testkit } from "../../src/testkit";
import { createHarness, errorOf, type Harness } from "./harness";

let kit: Testkit;
let h: Harness;
const trendingCalls: Array<string | undefined> = [];
beforeAll(async () => {
  kit = createTestkit();
  const feed: FeedService = {
    feed: (r) => kit.service.feed(r),
    similarVideos: (id, n) => kit.service.similarVideos(id, n),
    trending: (c, n) => {
      trendingCalls.push(c);
      return kit.service.trending(c, n);
    },
  };
  h = await createHarness({ feed, catalog: kit.catalog });
});
afterAll(() => h.stop());

describe("video and user lookups", () => {
  it("returns a video with its creator; null for an unknown id", async () => {
    const v = kit.catalog.video("v7")!;
    const r = await h.exec(`{ video(id: "v7") { id title tags category language durationSec uploadedAt ageRestricted creator { id name } } missing: video(id: "nope") { id } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({
      video: {
        id: "v7",
        title: v.title,
        tags: v.tags,
        category: v.category,
        language: v.language,
        durationSec: v.durationSec,
        uploadedAt: new Date(v.uploadedAt).toISOString(),
        ageRestricted: false,
        creator: { id: v.creatorId, name: kit.catalog.creator(v.creatorId)!.name },
      },
      missing: null,
    });
  });

  it("exposes an age band, never the age", async () => {
    const r = await h.exec(`{ minor: user(id: "u6") { id ageGroup country } unknownAge: user(id: "u7") { ageGroup } nobody: user(id: "zz") { id } }`);
    expect(r.data).toEqual({ minor: { id: "u6", ageGroup: "UNDER_18", country: "US" }, unknownAge: { ageGroup: "UNKNOWN" }, nobody: null });
    const asked = await h.exec(`{ user(id: "u6") { age } }`);
    expect(asked.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("bands ages at the documented boundaries", () => {
    expect([undefined, 0, 17, 18, 24, 25, 54, 55, 90].map(ageGroup)).toEqual([
      AgeGroupEnum.UNKNOWN,
      AgeGroupEnum.UNKNOWN,
      AgeGroupEnum.UNDER_18,
      AgeGroupEnum.AGE_18_24,
      AgeGroupEnum.AGE_18_24,
      AgeGroupEnum.AGE_25_34,
      AgeGroupEnum.AGE_45_54,
      AgeGroupEnum.AGE_55_PLUS,
      AgeGroupEnum.AGE_55_PLUS,
    ]);
  });

  it("rejects an empty id", async () => {
    expect(errorOf(await h.exec(`{ video(id: "") { id } }`))).toEqual({ code: "BAD_USER_INPUT", argument: "id" });
  });
});

describe("similarVideos and trending", () => {
  it("returns similar videos, never the seed itself", async () => {
    const r = await h.exec(`{ similarVideos(videoId: "v1", first: 5) { score video { id category } } }`);
    expect(r.errors).toBeUndefined();
    const list = r.data!.similarVideos as Array<{ score: number; video: { id: string } }>;
    expect(list.length).toBeGreaterThan(0);
    expect(list.length).toBeLessThanOrEqual(5);
    expect(list.map((s) => s.video.id)).not.toContain("v1");
  });

  it("answers NOT_FOUND naming videoId for an unknown video", async () => {
    const r = await h.exec(`{ similarVideos(videoId: "no-such") { score } }`);
    expect(errorOf(r)).toEqual({ code: "NOT_FOUND", argument: "videoId" });
  });

  it("upper-cases the country and bounds first", async () => {
    const r = await h.exec(`{ trending(country: "us", first: 3) { video { id } } }`);
    expect(r.errors).toBeUndefined();
    expect(trendingCalls.at(-1)).toBe("US");
    expect(errorOf(await h.exec(`{ trending(country: "U1") { score } }`))).toEqual({ code: "BAD_USER_INPUT", argument: "country" });
    expect(errorOf(await h.exec(`{ trending(first: 1000) { score } }`))).toEqual({ code: "BAD_USER_INPUT", argument: "first" });
    expect(errorOf(await h.exec(`{ similarVideos(videoId: "v1", first: 0) { score } }`))).toEqual({ code: "BAD_USER_INPUT", argument: "first" });
  });
});

describe("recordEvents on a server without ingestion", () => {
  it("answers UNAVAILABLE instead of crashing", async () => {
    const r = await h.exec(`mutation { recordEvents(events: [{ id: "e1", type: like, userId: "u1", videoId: "v1", ts: 1700000000000 }]) { accepted } }`);
    expect(errorOf(r).code).toBe("UNAVAILABLE");
  });
});
