import { describe, expect, it } from "vitest";
import { createTestkit } from "../../src/testkit";
import plugin, { maxDurationStage } from "./index";

describe("max-duration plugin", () => {
  it("removes long videos on mobile only", async () => {
    const tk = createTestkit();
    const ids = tk.catalog.newest().map((v) => v.id);
    const ranked = tk.ranked(ids);
    const mobile = await tk.query("u1", { context: { device: "mobile" } });
    const { kept, removed } = tk.runStage(maxDurationStage, ranked, { query: mobile, options: { maxDurationSec: 600 } });
    expect(kept.every((c) => c.video.durationSec <= 600)).toBe(true);
    expect(removed.length).toBeGreaterThan(0);
    expect(removed.every((r) => r.reason === "too_long_for_device" && r.candidate.video.durationSec > 600)).toBe(true);
    expect(kept.length + removed.length).toBe(ranked.length);
    const tv = await tk.query("u3", { context: { device: "tv" } });
    expect(tk.runStage(maxDurationStage, ranked, { query: tv, options: { maxDurationSec: 600 } }).kept).toHaveLength(ranked.length);
  });

  it("runs inside the feed and rejects bad options", async () => {
    const tk = createTestkit({ plugins: [plugin], stages: [{ name: "MaxDuration", options: { maxDurationSec: 900 } }] });
    const page = await tk.feed({ userId: "u1", first: 10, context: { device: "mobile" } });
    expect(page.items.every((i) => i.video.durationSec <= 900)).toBe(true);
    expect(page.trace!.stages.find((s) => s.stage === "rerank:MaxDuration")!.removed?.too_long_for_device).toBeGreaterThan(0);
    expect(() => tk.runStage(maxDurationStage, [], { options: { maxDurationSec: "long" } })).toThrow(/maxDurationSec/);
  });
});
