import { describe, expect, it } from "vitest";
import type { Video } from "../../src/data/types";
import { builtinFilters, createAgeFilter, createPolicyFilter, createRegionFilter, createSeenFilter } from "../../src/filters";
import type { MergedCandidate } from "../../src/pipeline/types";
import { createSeenSet } from "../../src/stores/seen-set";
import { createTestkit } from "../../src/testkit";

const video = (id: string, extra: Partial<Video> = {}): Video => ({ id, creatorId: "c1", title: id, tags: [], category: "x", durationSec: 60, uploadedAt: 0, ...extra });
const merged = (v: Video): MergedCandidate => ({ videoId: v.id, video: v, sources: [], sourceScore: 1 });

describe("filters", () => {
  const tk = createTestkit();
  const list = [
    merged(video("a")),
    merged(video("adult", { ageRestricted: true })),
    merged(video("fr", { blockedRegions: ["FR"] })),
    merged(video("gone", { policyFlags: ["removed"] })),
    merged(video("spam", { policyFlags: ["spam"] })),
    merged(video("seen")),
    merged(video("ni")),
    merged(video("rep")),
    merged(video("blocked", { creatorId: "bad" })),
  ];

  it("each rule removes its case, names the reason, and never mutates its input", async () => {
    const q = await tk.query("u1", {
      seen: createSeenSet({ watched: ["seen"] }),
      relations: { notInterested: ["ni"], blockedCreators: ["bad"], reported: ["rep"], subscriptions: [], follows: [] },
      context: { country: "FR" },
    });
    const before = [...list];
    const reasons: Record<string, string> = {};
    let current = list;
    for (const f of builtinFilters()) {
      const r = f.apply(q, current, tk.runtime);
      for (const x of r.removed) reasons[x.candidate.videoId] = x.reason;
      current = r.kept;
    }
    expect(list).toEqual(before);
    expect(current.map((c) => c.videoId)).toEqual(["a", "adult"]); // u1 is 30: adult content allowed
    expect(reasons).toEqual({ fr: "region_blocked", gone: "removed", spam: "policy:spam", seen: "seen", ni: "not_interested", rep: "reported", blocked: "blocked_creator" });
  });

  it("age: minors and unknown ages do not get age-restricted videos", async () => {
    const f = createAgeFilter();
    for (const user of ["u6", "u7", "stranger"]) expect(f.apply(await tk.query(user), list, tk.runtime).removed.map((r) => r.candidate.videoId)).toEqual(["adult"]);
    expect(f.apply(await tk.query("u4"), list, tk.runtime).removed).toEqual([]);
  });

  it("region: nothing blocked without a country; case-insensitive", async () => {
    expect(createRegionFilter().apply(await tk.query("u1", { context: { country: undefined } }), list, tk.runtime).removed).toEqual([]);
    expect(createRegionFilter().apply(await tk.query("u1", { context: { country: "fr" } }), list, tk.runtime).removed).toHaveLength(1);
  });

  it("seen: also the watch-next seed and this session's videos; policy flags configurable", async () => {
    const q = await tk.query("u1", { seedVideoId: "a", context: { sessionVideoIds: ["rep"] } });
    expect(createSeenFilter().apply(q, list, tk.runtime).removed.map((r) => r.candidate.videoId)).toEqual(["a", "rep"]);
    expect(createPolicyFilter({ flags: [] }).apply(q, list, tk.runtime).removed).toEqual([]);
  });
});
