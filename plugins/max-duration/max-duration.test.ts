import { describe, expect, it } from "vitest";
import { createTestkit } from "reelfeed/testkit";
import plugin, { maxDurationStage } from "./index";

describe("max-duration plugin", () => {
  it("removes long videos on the listed devices only", async () => {
    const tk = createTestkit();
    const ranked = tk.ranked(tk.catalog.newest().map((v) => v.id));
    const mobile = await tk.query("u1", { context: { device: "mobile" } });
    const { kept, removed } = tk.runStage(maxDurationStage, ranked, { query: mobile, options: { maxDurationSec: 600 } });
    expect(kept.every((c) => c.video.durationSec <= 600)).toBe(true);
    expect(removed.length).toBeGreaterThan(0);
    expect(removed.every((r) => r.reason === "too_long_for_device" && r.candidate.video.durationSec > 600)).toBe(true);
    expect(kept.length + removed.length).toBe(ranked.length);
    // Order kept: the stage removes, it does not reorder.
    expect(kept.map((c) => c.videoId)).toEqual(ranked.filter((c) => c.video.durationSec <= 600).map((c) => c.videoId));
    const tv = await tk.query("u3", { context: { device: "tv" } });
    expect(tk.runStage(maxDurationStage, ranked, { query: tv, options: { maxDurationSec: 600 } }).kept).toHaveLength(ranked.length);
    expect(tk.runStage(maxDurationStage, ranked, { query: tv, options: { maxDurationSec: 600, devices: ["tv"] } }).kept.length).toBeLessThan(ranked.length);
  });

  it("runs inside the feed in the arrange phase", async () => {
    const tk = createTestkit({ plugins: [plugin], stages: [{ name: "Diversity" }, { name: "MaxDuration", options: { maxDurationSec: 900 } }, { name: "Freshness" }] });
    expect(tk.definition.stages.map((s) => `${s.name}:${s.phase}`)).toEqual(["Freshness:score", "Diversity:arrange", "MaxDuration:arrange"]);
    const page = await tk.feed({ userId: "u1", first: 10, context: { device: "mobile" } });
    expect(page.items.every((i) => i.video.durationSec <= 900)).toBe(true);
    expect(page.trace!.stages.find((s) => s.stage === "rerank:MaxDuration")!.removed?.too_long_for_device).toBeGreaterThan(0);
  });

  it("rejects bad options with BAD_CONFIG naming the option, at start-up", () => {
    const tk = createTestkit();
    expect(() => tk.runStage(maxDurationStage, [], { options: { maxDurationSec: "long" } })).toThrow(expect.objectContaining({ code: "BAD_CONFIG", message: expect.stringMatching(/options\.maxDurationSec/) }));
    expect(() => tk.runStage(maxDurationStage, [], { options: { devices: ["phone"] } })).toThrow(/options\.devices\.0/);
    expect(() => createTestkit({ plugins: [plugin], stages: [{ name: "MaxDuration", options: { maxDurationSecs: 900 } }] })).toThrow(
      expect.objectContaining({
        code: "BAD_CONFIG",
        details: expect.objectContaining({ plugin: "max-duration", key: "pipeline.stages[0].options" }),
        message: expect.stringMatching(/pipeline\.stages\[0\]\.options: plugin "max-duration" unknown option\(s\) "maxDurationSecs"/),
      }),
    );
  });
});
