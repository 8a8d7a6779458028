import { describe, expect, it } from "vitest";
import { trainTwoLevel } from "../../src/stores/vector-coarse-quantiser";
import { createVectorKernel } from "../../src/stores/vector-kernel";
import { clusteredVectors } from "../../src/testkit/clustered-vectors";
import { seededRandom } from "../../src/util/random";

describe("coarse quantiser", () => {
  for (const nlist of [20, 300]) {
    it(`assignRows gives every row the list assign gives it (${nlist} lists, ${nlist > 64 ? "two levels" : "one level"})`, () => {
      const dim = 13;
      const n = 10_000;
      const data = clusteredVectors(n, dim, 40, nlist);
      const quantiser = trainTwoLevel(data.slice(0, 2000 * dim), dim, nlist, seededRandom(3));
      const kernel = createVectorKernel(dim, n);
      for (let r = 0; r < n; r++) kernel.setRow(r, data, r * dim);
      // Every other row, so the rows are not one contiguous range; more than one kernel batch.
      const rows = Int32Array.from({ length: n / 2 }, (_, i) => 2 * i + 1);
      const batched = quantiser.assignRows(kernel, rows);
      const single = Array.from(rows, (r) => quantiser.assign(kernel.matrix, r * kernel.stride));
      expect(Array.from(batched)).toEqual(single);
      expect(new Set(single).size).toBeGreaterThan(nlist / 2);
      quantiser.centroids.dispose();
      kernel.dispose();
    });
  }
});
