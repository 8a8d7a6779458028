import { describe, expect, it } from "vitest";
import { createTestkit } from "reelfeed/testkit";
import plugin, { FINISHED_CREATOR, moreFromCreatorsSource } from "./index";

describe("more-from-creators plugin", () => {
  it("proposes unseen uploads of creators whose videos the user finished recently, with its own reason code", async () => {
    const tk = createTestkit({ plugins: [plugin], sources: [{ name: "MoreFromCreators" }, { name: "Trending" }] });
    // v1 and v7 are by creator c1; v2 by c2 is abandoned at 10%.
    await tk.record([tk.events.watch("u1", "v1", 1), tk.events.watch("u1", "v2", 0.1)]);
    const out = await tk.runSource(moreFromCreatorsSource, await tk.query("u1"));
    expect(out.length).toBe(3);
    for (const c of out) {
      expect(tk.catalog.video(c.videoId)!.creatorId).toBe("c1");
      expect(c.reason).toEqual({ code: "SIMILAR_TO", qualifiedCode: "more-from-creators/FINISHED_CREATOR", params: { videoId: "v1", creatorId: "c1" } });
    }
    expect(out.some((c) => c.videoId === "v1")).toBe(false);
    const page = await tk.feed({ userId: "u1", first: 10 });
    const mine = page.items.filter((i) => i.sources.includes("MoreFromCreators") && i.sources[0] === "MoreFromCreators");
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((i) => i.reason.qualifiedCode === FINISHED_CREATOR.qualifiedCode)).toBe(true);
  });

  it("returns [] for an unknown user and rejects bad options with BAD_CONFIG", async () => {
    const tk = createTestkit();
    expect(await tk.runSource(moreFromCreatorsSource, await tk.query("nobody"))).toEqual([]);
    await expect(tk.runSource(moreFromCreatorsSource, await tk.query("u1"), { options: { perCreator: -1 } })).rejects.toThrow(
      expect.objectContaining({ code: "BAD_CONFIG", message: expect.stringMatching(/options\.perCreator/) }),
    );
  });

  it("without the plugin registered, its reason would be dropped: the testkit says so", async () => {
    const tk = createTestkit();
    await tk.record([tk.events.watch("u1", "v1", 1)]);
    await expect(tk.runSource(moreFromCreatorsSource, await tk.query("u1"))).rejects.toThrow(/would drop.*defineReason/);
  });
});
