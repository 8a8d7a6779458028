import type { VectorHit } from "./vector-index";

/**
 * The embedded index's query cache: the answers to vectors searched again and again. A feed request searches the
 * neighbours of the same few videos over and over (a user's recent watches, the watch-next seed, the same
 * per-category mean vectors on the next page or refresh), and the neighbours of a fixed vector do not change until
 * the index does.
 *
 * An entry holds the best `k` rows, exclusions ignored, of exactly the rows a search of that vector scans when it
 * stops at its probe limit (the nearest lists: `nprobe` of them, `probeRows` rows at least, whatever k is). A later
 * search with exclusions is answered from it only when at least k of its hits are not excluded: then that search
 * would also have stopped at the probe limit (it had k eligible rows there) and returned the best k eligible rows of those lists, which are the first k eligible hits of the entry.
 * Otherwise (and after any write, which must `clear` it) the index searches as usual.
 *
 * A vector is cached on its second search: a one-off query, such as a user-tower embedding that carries the request
 * time, never fills it. Least recently used entries are evicted.
 */
export interface VectorQueryCache {
  /**
   * What to do for a search of `query` for `k` hits without `excludeIds`: the answer itself (fresh objects the
   * caller may keep); "search" to search as usual; or "fill" on the vector's second sighting, when the caller
   * should search `fillK(k)` hits, exclusions ignored and up to the probe limit only, and hand them to `fill`.
   */
  lookup(query: Float32Array, k: number, excludeIds: ReadonlySet<string> | undefined): VectorHit[] | "search" | "fill";
  /** Room for exclusions: an entry holds twice the hits asked for (at most `size`, the index's size). */
  fillK(k: number, size: number): number;
  /**
   * Stores the `hits` of a "fill" search for `wide` (= fillK) hits and answers the search that asked for it from
   * them: its first `k` hits not in `excludeIds`, or undefined when too few are left (search as usual then).
   */
  fill(query: Float32Array, hits: VectorHit[], wide: number, k: number, excludeIds: ReadonlySet<string> | undefined): VectorHit[] | undefined;
  /** Forgets everything: every write to the index calls it. */
  clear(): void;
}

export function createVectorQueryCache(dim: number, capacity: number): VectorQueryCache {
  const cache = new Map<string, { vector: Float32Array; k: number; hits: VectorHit[] }>();
  /** Vectors searched once (their key): cached on the second search. Bounded like the cache. */
  const once = new Set<string>();

  const sameVector = (a: Float32Array, b: Float32Array): boolean => {
    for (let d = 0; d < dim; d++) if (a[d] !== b[d]) return false;
    return true;
  };
  const keyOf = (query: Float32Array): string => {
    // FNV-1a over the float bits: a hash, so an entry is also compared by value before use.
    let h = 0x811c9dc5;
    const bits = new Uint32Array(query.buffer, query.byteOffset, dim);
    for (let d = 0; d < dim; d++) h = Math.imul(h ^ bits[d], 16777619) >>> 0;
    return `${h.toString(36)}`;
  };
  /** The first k of `hits` not excluded, as fresh objects; undefined when fewer are left. */
  const firstEligible = (hits: readonly VectorHit[], k: number, excludeIds: ReadonlySet<string> | undefined): VectorHit[] | undefined => {
    const out: VectorHit[] = [];
    for (const h of hits) {
      if (excludeIds && excludeIds.has(h.id)) continue;
      out.push({ id: h.id, score: h.score });
      if (out.length === k) return out;
    }
    return undefined;
  };

  return {
    lookup(query, k, excludeIds) {
      const key = keyOf(query);
      const entry = cache.get(key);
      if (entry && entry.k >= k && sameVector(entry.vector, query)) {
        // Most recently used goes last.
        cache.delete(key);
        cache.set(key, entry);
        return firstEligible(entry.hits, k, excludeIds) ?? "search";
      }
      if (once.has(key)) return "fill";
      once.add(key);
      if (once.size > capacity) once.delete(once.values().next().value as string);
      return "search";
    },

    fillK(k, size) {
      return Math.min(2 * k, size);
    },

    fill(query, hits, wide, k, excludeIds) {
      const key = keyOf(query);
      // Fewer hits than `wide` means the probed lists hold fewer rows: the entry is still their best `wide`.
      cache.set(key, { vector: query.slice(), k: wide, hits });
      if (cache.size > capacity) cache.delete(cache.keys().next().value as string);
      return firstEligible(hits, k, excludeIds);
    },

    clear() {
      if (cache.size > 0) cache.clear();
      if (once.size > 0) once.clear();
    },
  };
}
