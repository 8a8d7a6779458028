import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types";
import { generateSynthetic } from "../../src/data/synthetic";
import { ReelfeedError } from "../../src/errors";
import { buildAllExamples, buildRankerExamples, rankerColdStart, UNIFORM_NEGATIVE_SHARE } from "../../src/training/examples";

/**
 * Ranker rows without impressions (the MovieLens case): how unclicked rows are sampled, and the cold-start copies.
 * A small synthetic platform with its impressions removed, so every watch becomes a clicked row plus sampled ones.
 */
const { dataset: withImpressions } = generateSynthetic({ users: 60, videos: 120, days: 4, seed: 3 });
const dataset: Dataset = { ...withImpressions, events: withImpressions.events.filter((e) => e.type !== "impression") };

/** Video ids with at least one watch strictly before `ts`. */
function watchedBefore(ts: number): Set<string> {
  const out = new Set<string>();
  for (const e of dataset.events) if (e.type === "watch" && e.ts < ts) out.add(e.videoId);
  return out;
}

function negatives(share: number, seed = 7) {
  const ex = buildRankerExamples(dataset, { until: Infinity, uniformNegativeShare: share, seed });
  expect(ex.negatives).toBe("sampled-negatives");
  return ex.inputs.map((input, i) => ({ input, ts: ex.ts[i] })).filter((_, i) => ex.labels.click[i] === 0);
}

describe("sampled ranker negatives", () => {
  it("by default are drawn uniformly from the uploaded catalog, never-watched videos included", () => {
    expect(UNIFORM_NEGATIVE_SHARE).toBe(1);
    const rows = negatives(UNIFORM_NEGATIVE_SHARE);
    expect(rows.length).toBeGreaterThan(100);
    for (const { input, ts } of rows) expect(input.video.uploadedAt).toBeLessThanOrEqual(ts);
    // Popularity-proportional sampling can only return videos already watched; uniform sampling must not be bound to them.
    const unwatched = rows.filter(({ input, ts }) => !watchedBefore(ts).has(input.video.id)).length;
    expect(unwatched).toBeGreaterThan(0);
  });

  it("with share 0 come only from videos already watched (popularity-proportional), as before", () => {
    const rows = negatives(0);
    expect(rows.length).toBeGreaterThan(100);
    for (const { input, ts } of rows) expect(watchedBefore(ts + 1).has(input.video.id)).toBe(true);
  });

  it("are reproducible per seed and differ between seeds", () => {
    const ids = (seed: number) => negatives(1, seed).map((r) => r.input.video.id);
    expect(ids(7)).toEqual(ids(7));
    expect(ids(8)).not.toEqual(ids(7));
  });

  it("buildAllExamples samples the same rows as buildRankerExamples", () => {
    const all = buildAllExamples(dataset, new Map(dataset.videos.map((v, i) => [v.id, i])), { cuts: [], uniformNegativeShare: 1, seed: 7 });
    const single = buildRankerExamples(dataset, { until: Infinity, uniformNegativeShare: 1, seed: 7 });
    expect(all.ranker.inputs.map((i) => i.video.id)).toEqual(single.inputs.map((i) => i.video.id));
    expect(Array.from(all.ranker.labels.click)).toEqual(Array.from(single.labels.click));
  });

  it("rejects a share outside [0, 1] with BAD_USER_INPUT", () => {
    const err = (() => {
      try {
        buildRankerExamples(dataset, { until: Infinity, uniformNegativeShare: 1.5 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ReelfeedError);
    expect((err as ReelfeedError).code).toBe("BAD_USER_INPUT");
    expect((err as Error).message).toContain("uniformNegativeShare");
  });
});

describe("rankerColdStart", () => {
  const examples = buildRankerExamples(dataset, { until: Infinity, seed: 7 });
  const warm = examples.inputs.filter((i) => i.userAgg).length;

  it("shows about `rate` of the rows without history, keeping video, context and labels, and marks their user id", () => {
    const { examples: out, dropUserId } = rankerColdStart(examples, { rate: 0.3, idRate: 0, seed: 1 });
    expect(out.inputs).toHaveLength(examples.inputs.length);
    let cold = 0;
    for (let i = 0; i < out.inputs.length; i++) {
      expect(out.inputs[i].video).toBe(examples.inputs[i].video);
      expect(out.inputs[i].context).toBe(examples.inputs[i].context);
      if (dropUserId[i]) {
        expect(out.inputs[i].userAgg).toBeUndefined();
        if (examples.inputs[i].userAgg) cold++;
      } else expect(out.inputs[i].userAgg).toBe(examples.inputs[i].userAgg);
    }
    expect(cold / warm).toBeGreaterThan(0.22);
    expect(cold / warm).toBeLessThan(0.38);
    expect(out.labels).toBe(examples.labels);
    expect(out.masks).toBe(examples.masks);
    // The input examples are not modified.
    expect(examples.inputs.filter((i) => i.userAgg).length).toBe(warm);
  });

  it("drops the user id of an `idRate` share of the other rows too, reproducibly", () => {
    const a = rankerColdStart(examples, { rate: 0, idRate: 0.5, seed: 2 });
    const dropped = a.dropUserId.reduce((s, x) => s + x, 0) / a.dropUserId.length;
    expect(dropped).toBeGreaterThan(0.4);
    expect(dropped).toBeLessThan(0.6);
    // History is kept for id-only drops.
    expect(a.examples.inputs.filter((i) => i.userAgg).length).toBe(warm);
    expect(Array.from(rankerColdStart(examples, { rate: 0, idRate: 0.5, seed: 2 }).dropUserId)).toEqual(Array.from(a.dropUserId));
    expect(() => rankerColdStart(examples, { rate: -0.1 })).toThrow(/coldStartRate/);
  });
});
