import { expect } from "vitest";
import type { EmbeddedVectorIndex } from "../../src/stores/vector-index-embedded";

/**
 * Helpers the embedded index's rebuild tests share: ids, exactly summable vectors, the brute-force oracle, and the
 * rebuild-under-writes scenario with its checks after the swap.
 */

export const ids = (n: number, prefix = "v") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Small integer components: exact float32 sums, so scores tie often and only the id order can break ties. */
export function integerVector(rand: () => number, dim: number): Float32Array {
  return Float32Array.from({ length: dim }, () => Math.floor(rand() * 7) - 3);
}

/** The oracle: every live vector by inner product, best first, ties by id. */
export function bruteForce(live: ReadonlyMap<string, Float32Array>, query: Float32Array, k: number) {
  const hits = [...live].map(([id, v]) => ({ id, score: v.reduce((s, x, d) => s + x * query[d], 0) }));
  hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return hits.slice(0, k);
}

/** What `writeThroughRebuild` wrote: the live vectors, the ids it deleted, the new ids it added during the rebuild. */
export interface RebuildWrites {
  live: Map<string, Float32Array>;
  deleted: Set<string>;
  addedDuring: string[];
  turns: number;
}

/**
 * The rebuild-under-writes scenario: `n` random integer vectors bulk-loaded, `grow` more upserted (past
 * rebuildFraction: a background rebuild starts), then on every turn until the rebuild is over new ids, replacements
 * of old ones (snapshot rows and rows added meanwhile), deletes of both and a deleted id brought back. Searches are
 * compared with the oracle every `checkEvery` turns and the size on every turn; `pause` is the wait between turns.
 */
export async function writeThroughRebuild(
  index: EmbeddedVectorIndex,
  options: { dim: number; n: number; grow: number; rand: () => number; checkEvery?: number; pause: () => Promise<unknown> },
): Promise<RebuildWrites> {
  const { dim, n, grow, rand, checkEvery = 1, pause } = options;
  const live = new Map<string, Float32Array>();
  const startIds = ids(n);
  const matrix = new Float32Array(n * dim);
  startIds.forEach((id, i) => {
    const v = integerVector(rand, dim);
    matrix.set(v, i * dim);
    live.set(id, v);
  });
  index.bulkLoad(startIds, matrix);
  const grown = ids(grow, "g").map((id) => ({ id, vector: integerVector(rand, dim) }));
  await index.upsert(grown);
  for (const { id, vector } of grown) live.set(id, vector);
  expect(index.stats().rebuilding).toBe(true);

  const deleted = new Set<string>();
  const addedDuring: string[] = [];
  let turn = 0;
  while (index.stats().rebuilding) {
    const writes = Array.from({ length: 20 }, (_, i) => ({ id: `d${turn}_${i}`, vector: integerVector(rand, dim) }));
    const keys = [...live.keys()];
    for (let i = 0; i < 10; i++) writes.push({ id: keys[Math.floor(rand() * keys.length)], vector: integerVector(rand, dim) });
    if (turn > 2) writes.push({ id: `d${turn - 2}_0`, vector: integerVector(rand, dim) });
    await index.upsert(writes);
    for (const w of writes) {
      live.set(w.id, w.vector);
      deleted.delete(w.id);
      if (w.id.startsWith("d")) addedDuring.push(w.id);
    }
    const gone = Array.from({ length: 15 }, () => keys[Math.floor(rand() * keys.length)]).concat(`d${turn}_1`);
    await index.delete(gone);
    for (const id of gone) {
      live.delete(id);
      deleted.add(id);
    }
    if (turn % checkEvery === 0) {
      const query = integerVector(rand, dim);
      expect(await index.search(query, 30)).toEqual(bruteForce(live, query, 30));
    }
    expect(await index.size()).toBe(live.size);
    turn++;
    await pause();
  }
  return { live, deleted, addedDuring, turns: turn };
}

/** After the swap: every live vector where it was written, once; nothing deleted comes back; exclusions exact. */
export async function expectSwapKeptWrites(index: EmbeddedVectorIndex, { live, deleted }: RebuildWrites, rand: () => number, dim: number): Promise<void> {
  for (const [id, v] of live) expect(Array.from((await index.get(id))!)).toEqual(Array.from(v));
  for (const id of deleted) expect(await index.get(id)).toBeUndefined();
  const everything = await index.search(integerVector(rand, dim), live.size + 10);
  expect(everything).toHaveLength(live.size);
  expect(new Set(everything.map((h) => h.id))).toEqual(new Set(live.keys()));
  const excludeIds = new Set([...live.keys()].slice(0, 100));
  const eligible = new Map([...live].filter(([id]) => !excludeIds.has(id)));
  for (let q = 0; q < 5; q++) {
    const query = integerVector(rand, dim);
    expect(await index.search(query, 50, { excludeIds })).toEqual(bruteForce(eligible, query, 50));
  }
}
