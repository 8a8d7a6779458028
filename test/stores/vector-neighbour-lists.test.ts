import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fitContentNeighbours, loadContentNeighbours, saveContentNeighbours } from "../../src/features/content-neighbours";
import type { NeighbourLists } from "../../src/features/neighbour-lists";
import type { VectorHit } from "../../src/stores/vector-index";
import { createEmbeddedVectorIndex } from "../../src/stores/vector-index-embedded";
import { withNeighbourLists } from "../../src/stores/vector-neighbour-lists";
import { reelfeedErrorOf } from "../reelfeed-error-of";

const DIM = 16;

/** Unit vectors around a few centres, so neighbours are meaningful (deterministic). */
function vectors(n: number, seed: number): Float32Array {
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1;
  const centres = Array.from({ length: 8 }, () => Array.from({ length: DIM }, rand));
  const m = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const c = centres[i % centres.length];
    let norm = 0;
    for (let d = 0; d < DIM; d++) norm += (m[i * DIM + d] = c[d] + 0.6 * rand()) ** 2;
    for (let d = 0; d < DIM; d++) m[i * DIM + d] /= Math.sqrt(norm);
  }
  return m;
}

/** Exact best k by inner product (float64 sums), ties by id. */
function exact(ids: readonly string[], m: Float32Array, q: Float32Array, k: number, exclude: ReadonlySet<string>): VectorHit[] {
  const hits: VectorHit[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (exclude.has(ids[i])) continue;
    let s = 0;
    for (let d = 0; d < DIM; d++) s += q[d] * m[i * DIM + d];
    hits.push({ id: ids[i], score: s });
  }
  return hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, k);
}

const row = (m: Float32Array, i: number) => m.slice(i * DIM, (i + 1) * DIM);

describe("content neighbour lists", () => {
  const n = 600;
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const matrix = vectors(n, 7);
  let lists: NeighbourLists;
  let dir: string;
  beforeAll(async () => {
    lists = await fitContentNeighbours(ids, matrix, DIM, { k: 20 });
    dir = await mkdtemp(join(tmpdir(), "reelfeed-content-neighbours-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  /** The index as the runtime has it when it wraps it: the bundle's vectors loaded. */
  const loaded = async () => {
    const index = createEmbeddedVectorIndex({ dim: DIM });
    index.bulkLoad(ids, matrix);
    return index;
  };

  it("fits each video's nearest videos by inner product, itself left out, best first", () => {
    for (const i of [0, 17, 333, 599]) {
      const got = [...lists.targets.subarray(lists.offsets[i], lists.offsets[i + 1])].map((t) => lists.itemIds[t]);
      expect(got).toEqual(exact(ids, matrix, row(matrix, i), 20, new Set([ids[i]])).map((h) => h.id));
    }
  });

  it("round-trips through the bundle file and rejects a damaged one with BAD_BUNDLE naming it", async () => {
    const path = join(dir, "content-neighbours.bin");
    await saveContentNeighbours(path, lists);
    const back = await loadContentNeighbours(path);
    expect(back.itemIds).toEqual(lists.itemIds);
    expect([...back.offsets]).toEqual([...lists.offsets]);
    expect([...back.targets]).toEqual([...lists.targets]);
    expect([...back.weights]).toEqual([...lists.weights]);
    await writeFile(path, '{"format":"reelfeed.item-neighbours/1","items":0,"entries":0,"itemIds":[]}\n');
    const err = await reelfeedErrorOf(loadContentNeighbours(path));
    expect(err.code).toBe("BAD_BUNDLE");
    expect(err.message).toContain(path);
  });

  it("answers as a search of the index does, with exclusions, and says when it cannot", async () => {
    const index = withNeighbourLists(await loaded(), lists);
    for (const i of [3, 40, 250, 512]) {
      const exclude = new Set([ids[i], ...Array.from(lists.targets.subarray(lists.offsets[i], lists.offsets[i] + 4), (t) => lists.itemIds[t])]);
      const fromLists = await index.nearestTo(ids[i], row(matrix, i), 10, exclude);
      expect(fromLists?.map((h) => h.id)).toEqual(exact(ids, matrix, row(matrix, i), 10, exclude).map((h) => h.id));
      expect(fromLists?.map((h) => h.id)).toEqual((await index.search(row(matrix, i), 10, { excludeIds: exclude })).map((h) => h.id));
    }
    // More hits than a list holds (20, minus the exclusions): only a search can say.
    expect(await index.nearestTo(ids[3], row(matrix, 3), 18, new Set(Array.from(lists.targets.subarray(lists.offsets[3], lists.offsets[3] + 5), (t) => lists.itemIds[t])))).toBeUndefined();
    // A video the lists do not know.
    expect(await index.nearestTo("new", row(matrix, 3), 5)).toBeUndefined();
    await index.close();
  });

  it("stays exact while videos are added, re-embedded and deleted after the lists were made", async () => {
    const index = withNeighbourLists(await loaded(), lists);
    const current = new Map(ids.map((id, i) => [id, row(matrix, i)]));
    const extra = vectors(30, 99);
    // New uploads (near copies of the seeds below, so they rank among their nearest, and unrelated ones), a
    // re-embedded listed video, and deletions.
    const seeds = [10, 11, 77, 300];
    const nearCopy = (i: number, j: number) => {
      const v = row(matrix, i).map((x, d) => x + 0.05 * extra[j * DIM + d]);
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    };
    const uploads = Array.from({ length: 30 }, (_, j) => ({ id: `new${j}`, vector: j < 8 ? nearCopy(seeds[j % 4], j) : row(extra, j) }));
    await index.upsert(uploads);
    for (const u of uploads) current.set(u.id, u.vector);
    const seedRow = seeds[0];
    const firstNeighbour = lists.itemIds[lists.targets[lists.offsets[seedRow]]];
    const moved = { id: lists.itemIds[lists.targets[lists.offsets[seedRow] + 1]], vector: row(extra, 5) };
    await index.upsert([moved]);
    current.set(moved.id, moved.vector);
    await index.delete([firstNeighbour]);
    current.delete(firstNeighbour);
    const allIds = [...current.keys()];
    const all = new Float32Array(allIds.length * DIM);
    allIds.forEach((id, i) => all.set(current.get(id)!, i * DIM));
    for (const i of seeds) {
      const exclude = new Set([ids[i]]);
      const got = await index.nearestTo(ids[i], row(matrix, i), 12, exclude);
      expect(got?.map((h) => h.id)).toEqual(exact(allIds, all, row(matrix, i), 12, exclude).map((h) => h.id));
      expect(got?.map((h) => h.id)).not.toContain(firstNeighbour);
    }
    // A seed whose own vector changed is searched by the caller.
    expect(await index.nearestTo(moved.id, moved.vector, 5)).toBeUndefined();
    await index.close();
  });

  it("stays exact once the vectors written since the lists outgrow the delta's exact search (its lists built)", async () => {
    const index = withNeighbourLists(await loaded(), lists);
    // Around the same centres as the bundle's (the generator's next rows): they compete with the listed neighbours.
    const written = vectors(n + 5000, 7).slice(n * DIM);
    const uploads = Array.from({ length: 5000 }, (_, j) => ({ id: `w${j}`, vector: row(written, j) }));
    for (let j = 0; j < uploads.length; j += 500) await index.upsert(uploads.slice(j, j + 500));
    await (index as unknown as { whenBuilt(): Promise<void> }).whenBuilt();
    const allIds = [...ids, ...uploads.map((u) => u.id)];
    const all = new Float32Array(allIds.length * DIM);
    all.set(matrix);
    all.set(written, matrix.length);
    let fromDelta = 0;
    for (const i of [10, 77, 300, 599]) {
      const exclude = new Set([ids[i]]);
      const got = await index.nearestTo(ids[i], row(matrix, i), 12, exclude);
      expect(got?.map((h) => h.id)).toEqual(exact(allIds, all, row(matrix, i), 12, exclude).map((h) => h.id));
      fromDelta += got!.filter((h) => h.id.startsWith("w")).length;
    }
    expect(fromDelta).toBeGreaterThan(24);
    await index.close();
  });
});
