import { afterEach, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import type { VectorIndex } from "../../src/stores/vector-index";
import { seededRandom } from "../../src/util/random";

/**
 * The behaviour every VectorIndex must have, run against each implementation (embedded exact, embedded IVF,
 * Qdrant). `make` returns a fresh, empty index with dim >= 4; the suite closes it after each test.
 */
export function describeVectorIndexContract(label: string, make: () => Promise<VectorIndex>): void {
  describe(`VectorIndex contract: ${label}`, () => {
    let open: VectorIndex[] = [];
    const fresh = async (): Promise<VectorIndex> => {
      const index = await make();
      open.push(index);
      expect(index.dim).toBeGreaterThanOrEqual(4);
      expect(await index.size()).toBe(0);
      return index;
    };
    afterEach(async () => {
      await Promise.all(open.map((index) => index.close()));
      open = [];
    });
    /** A vector of the index's dim: the given leading components, zeros after. */
    const vec = (index: VectorIndex, ...xs: number[]): Float32Array => {
      const v = new Float32Array(index.dim);
      v.set(xs);
      return v;
    };
    const expectCode = async (promise: Promise<unknown>, code: string): Promise<ReelfeedError> => {
      const err = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ReelfeedError);
      expect((err as ReelfeedError).code).toBe(code);
      return err as ReelfeedError;
    };
    /** Five vectors whose inner products with the query (1,0,0,0) are 5, 4, 3, 2, 1: a known order. */
    const seedFive = async (index: VectorIndex) => {
      await index.upsert([
        { id: "c", vector: vec(index, 3, 1) },
        { id: "a", vector: vec(index, 5, 0, 1) },
        { id: "e", vector: vec(index, 1, 0, 0, 2) },
        { id: "b", vector: vec(index, 4, -1) },
        { id: "d", vector: vec(index, 2, 0, -3) },
      ]);
      return vec(index, 1);
    };

    it("stores vectors and returns copies from get", async () => {
      const index = await fresh();
      const v = vec(index, 0.5, -0.25, 2, 1);
      await index.upsert([{ id: "v1", vector: v }]);
      v[0] = 99; // the caller's array is not the stored one
      const got = await index.get("v1");
      expect(got).toBeInstanceOf(Float32Array);
      expect(Array.from(got!)).toEqual(Array.from(vec(index, 0.5, -0.25, 2, 1)));
      got![1] = 42;
      expect((await index.get("v1"))![1]).toBe(-0.25);
      expect(await index.get("missing")).toBeUndefined();
      expect(await index.size()).toBe(1);
    });

    it("upsert replaces an existing id instead of adding a second copy", async () => {
      const index = await fresh();
      const q = await seedFive(index);
      await index.upsert([{ id: "e", vector: vec(index, 10) }]);
      expect(await index.size()).toBe(5);
      expect(Array.from((await index.get("e"))!)).toEqual(Array.from(vec(index, 10)));
      const hits = await index.search(q, 10);
      expect(hits.map((h) => h.id)).toEqual(["e", "a", "b", "c", "d"]);
      expect(hits.filter((h) => h.id === "e")).toHaveLength(1);
      expect(hits[0].score).toBeCloseTo(10, 5);
    });

    it("keeps the last vector when one batch repeats an id", async () => {
      const index = await fresh();
      await index.upsert([
        { id: "x", vector: vec(index, 1) },
        { id: "x", vector: vec(index, 2) },
      ]);
      expect(await index.size()).toBe(1);
      expect((await index.get("x"))![0]).toBe(2);
    });

    it("search returns hits by descending inner product with exact scores", async () => {
      const index = await fresh();
      const q = await seedFive(index);
      const hits = await index.search(q, 3);
      expect(hits.map((h) => h.id)).toEqual(["a", "b", "c"]);
      expect(hits.map((h) => h.score)).toEqual([expect.closeTo(5, 5), expect.closeTo(4, 5), expect.closeTo(3, 5)]);
      // Inner product, not cosine: scaling the query scales the scores.
      const scaled = await index.search(vec(index, 2), 1);
      expect(scaled[0]).toEqual({ id: "a", score: expect.closeTo(10, 5) });
      // Other components count too: (0,0,0,1) prefers e (its 4th component is 2).
      expect((await index.search(vec(index, 0, 0, 0, 1), 1))[0].id).toBe("e");
    });

    it("agrees with a brute-force computation on random data", async () => {
      const index = await fresh();
      const rand = seededRandom(42);
      const items = Array.from({ length: 300 }, (_, i) => ({
        id: `r${i}`,
        vector: Float32Array.from({ length: index.dim }, () => rand() * 2 - 1),
      }));
      await index.upsert(items);
      for (let t = 0; t < 5; t++) {
        const q = Float32Array.from({ length: index.dim }, () => rand() * 2 - 1);
        const expected = items
          .map((item) => ({ id: item.id, score: item.vector.reduce((s, x, d) => s + x * q[d], 0) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, 10);
        const hits = await index.search(q, 10);
        expect(hits.map((h) => h.id)).toEqual(expected.map((h) => h.id));
        hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i].score, 4));
      }
    });

    it("returns every vector when k exceeds the size, and nothing for k = 0 or an empty index", async () => {
      const index = await fresh();
      expect(await index.search(vec(index, 1), 10)).toEqual([]);
      const q = await seedFive(index);
      const all = await index.search(q, 100);
      expect(all.map((h) => h.id)).toEqual(["a", "b", "c", "d", "e"]);
      expect(await index.search(q, 0)).toEqual([]);
    });

    it("excludeIds removes ids without reducing the number of hits", async () => {
      const index = await fresh();
      const q = await seedFive(index);
      const hits = await index.search(q, 3, { excludeIds: new Set(["a", "c", "not-there"]) });
      expect(hits.map((h) => h.id)).toEqual(["b", "d", "e"]);
      // Fewer hits only when too few vectors are left.
      const rest = await index.search(q, 5, { excludeIds: new Set(["a", "b", "c"]) });
      expect(rest.map((h) => h.id)).toEqual(["d", "e"]);
      expect(await index.search(q, 5, { excludeIds: new Set(["a", "b", "c", "d", "e"]) })).toEqual([]);
    });

    it("delete removes vectors from get, search and size; unknown ids are ignored", async () => {
      const index = await fresh();
      const q = await seedFive(index);
      await index.delete(["a", "d", "nope"]);
      expect(await index.size()).toBe(3);
      expect(await index.get("a")).toBeUndefined();
      expect((await index.search(q, 10)).map((h) => h.id)).toEqual(["b", "c", "e"]);
      // A deleted id can come back.
      await index.upsert([{ id: "a", vector: vec(index, -7) }]);
      expect(await index.size()).toBe(4);
      expect((await index.search(q, 10)).map((h) => h.id)).toEqual(["b", "c", "e", "a"]);
      await index.delete([]);
      expect(await index.size()).toBe(4);
    });

    it("rejects vectors of the wrong length with BAD_USER_INPUT and applies nothing of a bad batch", async () => {
      const index = await fresh();
      await seedFive(index);
      const err = await expectCode(
        index.upsert([
          { id: "ok", vector: vec(index, 1) },
          { id: "bad", vector: new Float32Array(index.dim + 1) },
        ]),
        "BAD_USER_INPUT",
      );
      expect(err.message).toContain(String(index.dim));
      expect(await index.size()).toBe(5);
      expect(await index.get("ok")).toBeUndefined();
      await expectCode(index.search(new Float32Array(index.dim - 1), 3), "BAD_USER_INPUT");
      await expectCode(index.search(vec(index, 1), -1), "BAD_USER_INPUT");
      await expectCode(index.upsert([{ id: "nan", vector: vec(index, Number.NaN) }]), "BAD_USER_INPUT");
    });

    it("an aborted signal rejects the search", async () => {
      const index = await fresh();
      const q = await seedFive(index);
      const controller = new AbortController();
      controller.abort(new Error("timed out"));
      await expect(index.search(q, 3, { signal: controller.signal })).rejects.toThrow("timed out");
    });

    it("close resolves, may be repeated, and later calls fail with a ReelfeedError", async () => {
      const index = await fresh();
      const q = await seedFive(index);
      await index.close();
      await index.close();
      await expect(index.search(q, 3)).rejects.toBeInstanceOf(ReelfeedError);
      await expect(index.upsert([{ id: "z", vector: q }])).rejects.toBeInstanceOf(ReelfeedError);
    });
  });
}

