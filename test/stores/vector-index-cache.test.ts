import { describe, expect, it } from "vitest";
import { createEmbeddedVectorIndex } from "../../src/stores/vector-index-embedded";
import { seededRandom } from "../../src/util/random";

/** The query cache must never change an answer: cached and uncached indexes are compared on the same calls. */
describe("embedded vector index query cache", () => {
  const dim = 8;
  const n = 3000;
  const random = seededRandom(5);
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const matrix = new Float32Array(n * dim).map(() => random() - 0.5);
  const queries = Array.from({ length: 6 }, () => new Float32Array(dim).map(() => random() - 0.5));

  for (const exactThreshold of [0, Infinity]) {
    it(`answers repeated queries exactly as without it, exclusions and writes included (${exactThreshold ? "exact" : "IVF"})`, async () => {
      const plain = createEmbeddedVectorIndex({ dim, exactThreshold, nprobe: 4, queryCacheSize: 0 });
      const cached = createEmbeddedVectorIndex({ dim, exactThreshold, nprobe: 4, queryCacheSize: 4 });
      plain.bulkLoad(ids, matrix);
      cached.bulkLoad(ids, matrix);
      for (let t = 0; t < 120; t++) {
        const q = queries[t % queries.length];
        const k = [3, 20, 60][t % 3];
        // Up to most of the index excluded: the cache must fall back when too few of its hits survive.
        const exclude = new Set(Array.from({ length: Math.floor(random() * (t % 10 === 0 ? n : 200)) }, () => `v${Math.floor(random() * n)}`));
        expect(await cached.search(q, k, { excludeIds: exclude })).toEqual(await plain.search(q, k, { excludeIds: exclude }));
        if (t === 60) {
          // A write moves a video next to a cached query: the cache must not answer from before it.
          // (Scaled up: scores are inner products, so it now beats every other vector on that query.)
          for (const index of [plain, cached]) await index.upsert([{ id: "v1", vector: queries[0].map((x) => x * 100) }]);
          expect((await cached.search(queries[0], 1))[0].id).toBe("v1");
        }
        if (t === 90) for (const index of [plain, cached]) await index.delete(["v1"]);
      }
    });
  }
});
