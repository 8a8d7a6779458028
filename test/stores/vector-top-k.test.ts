import { describe, expect, it } from "vitest";
import { ScoreOrder } from "../../src/stores/vector-top-k";
import { seededRandom } from "../../src/util/random";

/** ScoreOrder ranks the IVF lists for a query: its partial order must agree with a full sort, ties and NaN included. */
describe("ScoreOrder", () => {
  /** The full order (checked to be by descending score below), which the partial one must agree with. */
  const fullOrder = (scores: Float32Array): number[] => {
    const order = new Int32Array(scores.length);
    new ScoreOrder().orderRest(scores, scores.length, order);
    return Array.from(order);
  };

  for (const n of [1, 5, 700, 1024, 8000]) {
    it(`orders the first m of ${n} exactly as a full sort does, for small and large m`, () => {
      const random = seededRandom(n);
      // Rounded to a few levels, so ties are common; a few NaN and infinities.
      const scores = Float32Array.from({ length: n }, () => Math.round((random() - 0.5) * 200) / 100);
      if (n > 10) {
        scores[3] = Number.NaN;
        scores[7] = Infinity;
        scores[9] = -Infinity;
      }
      const full = fullOrder(scores);
      // A full order is by descending score, NaN ranked as -Infinity (last).
      const rankOf = (s: number) => (Number.isNaN(s) ? -Infinity : s);
      for (let i = 1; i < n; i++) expect(rankOf(scores[full[i - 1]])).toBeGreaterThanOrEqual(rankOf(scores[full[i]]));
      expect(new Set(full).size).toBe(n);
      const ordering = new ScoreOrder();
      for (const m of [1, 4, 32, 150, n]) {
        const order = new Int32Array(n).fill(-1);
        ordering.orderFirst(scores, n, m, order);
        const first = Math.min(m, n);
        expect(Array.from(order.subarray(0, first))).toEqual(full.slice(0, first));
        ordering.orderRest(scores, n, order);
        expect(Array.from(order)).toEqual(full);
      }
    });
  }
});
