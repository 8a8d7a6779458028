import { describe, expect, it } from "vitest";
import type { Video } from "../../src/data/types";
import { createWindowCounter, DEFAULT_CAPS, internKeys, violationsBetween } from "../../src/rerank/caps";
import { seededRandom } from "../../src/util/random";

const video = (i: number, category: string, creatorId: string): Video => ({ id: `v${i}`, category, creatorId }) as Video;

describe("window counter", () => {
  it("counts the violating windows around a position exactly like the rescanning check, across swaps", () => {
    const random = seededRandom(11);
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + Math.floor(random() * 60);
      const caps = { windowSize: 2 + Math.floor(random() * 10), maxPerCategory: 1 + Math.floor(random() * 4), maxPerCreator: 1 + Math.floor(random() * 3) };
      const seq = Array.from({ length: n }, (_, i) => video(i, `c${Math.floor(random() * 3)}`, `k${Math.floor(random() * 5)}`));
      const counter = createWindowCounter(internKeys(seq), caps);
      for (let step = 0; step < 20; step++) {
        const a = Math.floor(random() * n);
        const b = Math.floor(random() * n);
        [seq[a], seq[b]] = [seq[b], seq[a]];
        counter.swap(a, b);
        for (let p = 0; p < n; p++) expect(counter.violationsAround(p, n)).toBe(violationsBetween(seq, p, p, caps));
      }
    }
  });

  it("finds the violation a run of one creator makes, and none once it is broken up", () => {
    const caps = { ...DEFAULT_CAPS, maxPerCreator: 2 };
    const seq = [video(0, "a", "x"), video(1, "b", "x"), video(2, "c", "x"), video(3, "d", "y")];
    const counter = createWindowCounter(internKeys(seq), caps);
    expect(counter.violationsAround(2, seq.length)).toBe(violationsBetween(seq, 2, 2, caps));
    expect(counter.violationsAround(2, seq.length)).toBeGreaterThan(0);
    const broken = [seq[0], seq[3], seq[1], seq[2]];
    expect(createWindowCounter(internKeys(broken), { ...DEFAULT_CAPS, windowSize: 2 }).violationsAround(1, 4)).toBe(0);
  });
});
