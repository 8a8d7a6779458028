import { createEmbeddedVectorIndex } from "../stores/vector-index-embedded";
import type { Progress } from "../util/progress";
import { loadNeighbourLists, saveNeighbourLists, type NeighbourLists } from "./neighbour-lists";

/**
 * Content neighbours: for each video of a bundle, its nearest videos by content embedding, fitted once at training
 * time and shipped beside the embeddings. The Content source asks for the neighbours of up to 11 seed videos per
 * request (the watch-next video, recent watches and likes): read from these lists, that is a few array reads per
 * seed instead of a vector search each (stores/vector-neighbour-lists.ts keeps the answers exact while the live
 * catalogue adds, edits and removes videos).
 */

const FORMAT = "reelfeed.content-neighbours/1";

/**
 * Neighbours kept per video. The Content source asks each seed for ceil(2 · quota / seeds) hits (the default quota
 * of 150: 28 with 11 seeds, 60 with 5), and the user's recently seen videos are skipped on top: 64 answers users
 * with five seeds or more from the lists; fewer seeds need more hits than a list holds, and those search.
 */
export const CONTENT_NEIGHBOURS_K = 64;

/**
 * The `k` nearest videos of each row of `matrix` (`ids.length × dim`, row-major), itself excluded, by inner product
 * (content embeddings are L2-normalised: cosine), best first. Searched in the embedded index the server uses, so
 * the lists are what the server's own search would return: exact up to its exact-search size, IVF beyond.
 */
export async function fitContentNeighbours(
  ids: readonly string[],
  matrix: Float32Array,
  dim: number,
  options: { k?: number; progress?: Progress } = {},
): Promise<NeighbourLists> {
  const { k = CONTENT_NEIGHBOURS_K, progress } = options;
  const index = createEmbeddedVectorIndex({ dim, queryCacheSize: 0 });
  const step = progress?.step(`content neighbours: ${ids.length} × ${k}`, ids.length);
  try {
    index.bulkLoad(ids, matrix);
    // Typed arrays sized for full lists (a JS array of numbers per entry would take several times the memory).
    const offsets = new Uint32Array(ids.length + 1);
    const targets = new Uint32Array(ids.length * k);
    const weights = new Float32Array(ids.length * k);
    const rowOf = new Map(ids.map((id, i) => [id, i]));
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const hits = await index.search(matrix.subarray(i * dim, (i + 1) * dim), k, { excludeIds: new Set([ids[i]]) });
      for (const h of hits) {
        targets[n] = rowOf.get(h.id)!;
        weights[n++] = h.score;
      }
      offsets[i + 1] = n;
      if ((i & 1023) === 1023) step?.tick(1024);
    }
    step?.done();
    // Shorter lists (a catalogue of k videos or fewer) leave the end unused: cut to what was written.
    return { itemIds: ids, index: rowOf, offsets, targets: targets.slice(0, n), weights: weights.slice(0, n) };
  } finally {
    await index.close();
  }
}

export async function saveContentNeighbours(path: string, lists: NeighbourLists): Promise<void> {
  await saveNeighbourLists(path, FORMAT, lists);
}

/** Reads a bundle's content neighbours; anything wrong throws BAD_BUNDLE naming the file. */
export async function loadContentNeighbours(path: string): Promise<NeighbourLists> {
  return (await loadNeighbourLists(path, FORMAT)).lists;
}
