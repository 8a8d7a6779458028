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

    it(`keeps answering exactly as without it through a stream of uploads, replacements and deletes (${exactThreshold ? "exact" : "IVF"})`, async () => {
      const plain = createEmbeddedVectorIndex({ dim, exactThreshold, nprobe: 4, probeRows: 300, queryCacheSize: 0, rebuildFraction: 10 });
      const cached = createEmbeddedVectorIndex({ dim, exactThreshold, nprobe: 4, probeRows: 300, queryCacheSize: 64, rebuildFraction: 10 });
      plain.bulkLoad(ids, matrix);
      cached.bulkLoad(ids, matrix);
      const rand = seededRandom(17);
      let answered = 0;
      for (let t = 0; t < 400; t++) {
        const q = queries[t % queries.length];
        // Near the cached queries (some beat their lowest hits, most do not), far ones, replacements, deletes.
        const writes = Array.from({ length: 3 }, (_, i) => ({
          id: rand() < 0.3 ? `v${Math.floor(rand() * n)}` : `new${t}_${i}`,
          vector: rand() < 0.5 ? queries[Math.floor(rand() * queries.length)].map((x) => x * (0.5 + rand()) + (rand() - 0.5) * 0.2) : new Float32Array(dim).map(() => rand() - 0.5),
        }));
        const gone = rand() < 0.3 ? [`v${Math.floor(rand() * n)}`, `new${t - 1}_0`] : [];
        for (const index of [plain, cached]) {
          await index.upsert(writes);
          await index.delete(gone);
        }
        const k = [5, 20][t % 2];
        const exclude = new Set(Array.from({ length: Math.floor(rand() * 20) }, () => `v${Math.floor(rand() * n)}`));
        const want = await plain.search(q, k, { excludeIds: exclude });
        expect(await cached.search(q, k, { excludeIds: exclude })).toEqual(want);
        answered++;
      }
      expect(answered).toBe(400);
      // With IVF lists the writes did not wipe the cache: most repeated queries were answered from it. (Exact mode
      // overwrites rows in place and clears it on every write.)
      if (exactThreshold) expect(cached.stats().queryCacheHits).toBe(0);
      else expect(cached.stats().queryCacheHits).toBeGreaterThan(150);
      expect(cached.stats().pendingRows).toBeGreaterThan(1000);
    });
  }
});
