import type { NeighbourLists } from "../features/neighbour-lists";
import type { VectorHit, VectorIndex } from "./vector-index";
import { createEmbeddedVectorIndex } from "./vector-index-embedded";

/** A vector index whose `nearestTo` answers from precomputed neighbour lists. */
export interface ListedVectorIndex extends VectorIndex {
  nearestTo(seedId: string, seedVector: Float32Array, k: number, excludeIds?: ReadonlySet<string>): Promise<VectorHit[] | undefined>;
}

/** Vectors in the delta up to which its search is exact. */
const DELTA_EXACT_ROWS = 4096;

/**
 * A vector index that also answers "the nearest neighbours of the stored video `seedId`" from neighbour lists
 * precomputed at training time (features/content-neighbours.ts), so a seed costs a few array reads instead of a
 * search of the whole index. Searches, reads and writes go to the index underneath as before.
 *
 * The answers stay what a search of the index returns while the live catalogue writes. Vectors written since the
 * lists were made also go into a small embedded index of their own (the delta; deleted ids are remembered): a
 * listed video whose vector changed or went is skipped, and the delta is searched beside the list (at once while
 * it is empty, a scan of a few rows while it is small). `nearestTo` answers undefined, and the caller searches the
 * whole index, when the lists cannot give the right answer: a seed that is not listed (a new upload) or whose own
 * vector changed, or a list that runs out of eligible hits before k (the lists hold a fixed number per video).
 *
 * Memory: the lists (8 bytes per neighbour) and the delta's copy of each vector written since the bundle.
 */
export function withNeighbourLists(index: VectorIndex, lists: NeighbourLists): ListedVectorIndex {
  // Searched once per seed (up to ten a request). Exact up to the embedded default of 16,384 vectors, it made every
  // request 5–9 ms dearer once a catalogue load had written 15,000 videos; lists from 4,096 vectors on (built in the
  // background) bound a seed's search to about probeRows (4,096) rows: +0.6–0.8 ms (bench/feed-after-uploads.ts,
  // docs/benchmarks.md), with recall@64 1.0 against exact search on 15k and 40k clustered vectors (a probeRows of
  // 2,048 gave 0.91–0.93, so the default stays).
  const delta = createEmbeddedVectorIndex({ dim: index.dim, exactThreshold: DELTA_EXACT_ROWS, syncBuildRows: DELTA_EXACT_ROWS });
  /** Listed videos whose vector was replaced (it is in the delta) or deleted since the lists were made. */
  const changed = new Set<string>();
  // Everything not overridden (kind, dim, search, get, size, and an embedded index's own extras such as stats) is
  // the index's: the implementations are closures, so `this` does not matter.
  const listed = Object.create(index) as ListedVectorIndex;
  listed.upsert = async (items) => {
    await index.upsert(items);
    await delta.upsert(items);
    for (const { id } of items) changed.add(id);
  };
  listed.delete = async (ids) => {
    await index.delete(ids);
    await delta.delete(ids);
    for (const id of ids) changed.add(id);
  };
  // An embedded index's "no rebuild in progress" covers its delta's too.
  const whenBuilt = (index as { whenBuilt?: () => Promise<void> }).whenBuilt;
  if (whenBuilt) {
    (listed as unknown as { whenBuilt: () => Promise<void> }).whenBuilt = async () => {
      await whenBuilt.call(index);
      await delta.whenBuilt();
    };
  }
  listed.close = async () => {
    await delta.close();
    await index.close();
  };
  listed.nearestTo = async (seedId, seedVector, k, excludeIds) => {
    const row = lists.index.get(seedId);
    if (row === undefined || changed.has(seedId)) return undefined;
    const start = lists.offsets[row];
    const end = lists.offsets[row + 1];
    const hits: VectorHit[] = [];
    for (let q = start; q < end && hits.length < k; q++) {
      const id = lists.itemIds[lists.targets[q]];
      if (!changed.has(id) && !excludeIds?.has(id)) hits.push({ id, score: lists.weights[q] });
    }
    // A list holds the best few of its video's neighbours: past them, only a list of the whole catalogue is complete.
    if (hits.length < k && end - start < lists.itemIds.length - 1) return undefined;
    if (changed.size === 0) return hits;
    // k + 1 and the seed left out after: no copy of the caller's exclusions per seed.
    const fresh = (await delta.search(seedVector, k + 1, { excludeIds })).filter((h) => h.id !== seedId);
    if (fresh.length === 0) return hits;
    const merged = [...hits, ...fresh].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (merged.length > k) merged.length = k;
    return merged;
  };
  return listed;
}
