import { describe, expect, it } from "vitest";
import type { FeatureBatch, FeatureSpec } from "../../src/features/spec";
import { createMicroBatcher } from "../../src/ranking/micro-batcher";

const spec: FeatureSpec = {
  categorical: [{ name: "id", vocabSize: 100, dim: 2 }],
  bags: [{ name: "hist", vocabSize: 100, dim: 2, length: 2 }],
  dense: ["x"],
};

function rows(ids: number[]): FeatureBatch {
  return {
    size: ids.length,
    categorical: [Int32Array.from(ids)],
    bags: [Int32Array.from(ids.flatMap((i) => [i, i + 1]))],
    dense: Float32Array.from(ids.map((i) => i / 10)),
  };
}

/** A deterministic "model": per row a score (width 1) and a 3-wide embedding, from every input column. */
async function model(batch: FeatureBatch): Promise<Record<string, Float32Array>> {
  const score = new Float32Array(batch.size);
  const emb = new Float32Array(batch.size * 3);
  for (let r = 0; r < batch.size; r++) {
    const id = batch.categorical[0][r];
    score[r] = id + batch.bags[0][2 * r + 1] * 100 + batch.dense[r];
    emb.set([id, -id, id * 2], r * 3);
  }
  return { score, emb };
}

function counting(run = model) {
  const batches: number[] = [];
  return {
    batches,
    run: async (b: FeatureBatch) => {
      batches.push(b.size);
      return run(b);
    },
  };
}

describe("micro-batcher", () => {
  it("coalesces concurrent requests into one run and splits the outputs back by width", async () => {
    const c = counting();
    const batcher = createMicroBatcher({ spec, run: c.run, windowMs: 5 });
    const requests = [[1, 2, 3], [4], [5, 6]];
    const results = await Promise.all(requests.map((ids) => batcher.submit(rows(ids))));
    expect(c.batches).toEqual([6]);
    expect(batcher.stats()).toEqual({ runs: 1, requests: 3, rows: 6 });
    for (const [i, ids] of requests.entries()) expect(results[i]).toEqual(await model(rows(ids)));
  });

  it("with window 0 batches what arrives in the same tick", async () => {
    const c = counting();
    const batcher = createMicroBatcher({ spec, run: c.run, windowMs: 0 });
    await Promise.all([batcher.submit(rows([1])), batcher.submit(rows([2]))]);
    await batcher.submit(rows([3]));
    expect(c.batches).toEqual([2, 1]);
  });

  it("never exceeds maxBatchRows, except for a single larger request that runs alone", async () => {
    const c = counting();
    const batcher = createMicroBatcher({ spec, run: c.run, windowMs: 5, maxBatchRows: 4 });
    const out = await Promise.all([[1, 2], [3, 4], [5, 6], [7, 8, 9, 10, 11]].map((ids) => batcher.submit(rows(ids))));
    // [1,2]+[3,4] fill a batch and run at once; [5,6] waits for the window; the 5-row request runs alone.
    expect(c.batches.sort()).toEqual([2, 4, 5].sort());
    expect(out[3].score).toEqual((await model(rows([7, 8, 9, 10, 11]))).score);
  });

  it("rejects every request of a failed run, and recovers for the next", async () => {
    let fail = true;
    const batcher = createMicroBatcher({
      spec,
      run: async (b) => {
        if (fail) throw new Error("model exploded");
        return model(b);
      },
      windowMs: 2,
    });
    const settled = await Promise.allSettled([batcher.submit(rows([1])), batcher.submit(rows([2]))]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect((await batcher.submit(rows([3]))).score[0]).toBeCloseTo(3 + 400 + 0.3);
  });

  it("drops a request aborted before its run, without disturbing the others", async () => {
    const c = counting();
    const batcher = createMicroBatcher({ spec, run: c.run, windowMs: 10 });
    const ctl = new AbortController();
    const aborted = batcher.submit(rows([1, 2]), ctl.signal);
    const kept = batcher.submit(rows([3]));
    ctl.abort(new Error("request timed out"));
    await expect(aborted).rejects.toThrow("request timed out");
    expect((await kept).score).toEqual((await model(rows([3]))).score);
    expect(c.batches).toEqual([1]);
    await expect(batcher.submit(rows([4]), ctl.signal)).rejects.toThrow("request timed out");
  });

  it("settles a request aborted during its run only once the run is over, alone in its run or not", async () => {
    for (const others of [0, 1]) {
      let finish!: () => void;
      const gate = new Promise<void>((resolve) => (finish = resolve));
      let ran = false;
      const batcher = createMicroBatcher({
        spec,
        run: async (b) => {
          await gate;
          ran = true;
          return model(b);
        },
        windowMs: others ? 5 : 0,
      });
      const ctl = new AbortController();
      const aborted = batcher.submit(rows([1, 2]), ctl.signal);
      const kept = others ? batcher.submit(rows([3])) : undefined;
      await new Promise((r) => setTimeout(r, 20)); // the run has started
      ctl.abort(new Error("request timed out"));
      let settledEarly = false;
      void aborted.catch(() => (settledEarly = !ran));
      finish();
      await expect(aborted).rejects.toThrow("request timed out");
      expect(settledEarly).toBe(false); // its batch may be reused once it settles: not while the run reads it
      if (kept) expect((await kept).score).toEqual((await model(rows([3]))).score);
    }
  });
});

