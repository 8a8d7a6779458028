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
 * Otherwise the index searches as usual.
 *
 * Writes to an index with IVF lists do not clear it (a catalogue load writes many times a second, and cleared on
 * every write the cache never answered during one). The probe limit counts the rows laid out at the build only, so
 * a write never changes which lists a search of a cached vector scans, and then:
 * - a row that dies (deleted, or replaced: the new vector is a new row) is skipped at lookup (`live`): the entry's
 *   other hits are still the best of the rows left, as a row can only leave the best k by dying;
 * - a row added to list l (`added`) can change only the entries that scanned l, and only when it scores at least
 *   the entry's lowest hit (or the entry holds fewer hits than it asked for): those are dropped.
 * Everything else (a rebuild, exact mode's writes, which overwrite rows in place, new probes) must `clear` it.
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
  lookup(query: Float32Array, k: number, excludeIds: ReadonlySet<string> | undefined, live: (id: string, row: number) => boolean): VectorHit[] | "search" | "fill";
  /** Room for exclusions: an entry holds twice the hits asked for (at most `size`, the index's size). */
  fillK(k: number, size: number): number;
  /**
   * Stores the `hits` of a "fill" search for `wide` (= fillK) hits, in rows `rows`, that scanned the lists `lists`
   * (null: every row, exact search), and answers the search that asked for it from them: its first `k` hits not in
   * `excludeIds`, or undefined when too few are left (search as usual then).
   */
  fill(
    query: Float32Array,
    hits: VectorHit[],
    rows: readonly number[],
    lists: readonly number[] | null,
    wide: number,
    k: number,
    excludeIds: ReadonlySet<string> | undefined,
  ): VectorHit[] | undefined;
  /** A row was added to list `list` with the vector at `src[offset .. offset+dim)`: drops the entries it can change. */
  added(list: number, src: Float32Array, offset: number): void;
  /** Forgets everything. */
  clear(): void;
}

interface Entry {
  vector: Float32Array;
  k: number;
  hits: VectorHit[];
  rows: Int32Array;
  /** The lists the fill search scanned; null when it scanned every row (exact search). */
  lists: Int32Array | null;
  /** The lowest hit's score; -Infinity when the entry holds fewer hits than it asked for (any added row counts). */
  cutoff: number;
}

export function createVectorQueryCache(dim: number, capacity: number): VectorQueryCache {
  const cache = new Map<string, Entry>();
  /** list → keys of the entries whose search scanned it. */
  const byList = new Map<number, Set<string>>();
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
  const drop = (key: string): void => {
    const entry = cache.get(key);
    if (!entry) return;
    cache.delete(key);
    if (entry.lists) for (const l of entry.lists) byList.get(l)?.delete(key);
  };
  /** The first k of `hits` alive and not excluded, as fresh objects; undefined when fewer are left. */
  const firstEligible = (
    hits: readonly VectorHit[],
    rows: ArrayLike<number> | null,
    k: number,
    excludeIds: ReadonlySet<string> | undefined,
    live: ((id: string, row: number) => boolean) | null,
  ): VectorHit[] | undefined => {
    const out: VectorHit[] = [];
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i];
      if (excludeIds && excludeIds.has(h.id)) continue;
      if (live && rows && !live(h.id, rows[i])) continue;
      out.push({ id: h.id, score: h.score });
      if (out.length === k) return out;
    }
    return undefined;
  };

  return {
    lookup(query, k, excludeIds, live) {
      const key = keyOf(query);
      const entry = cache.get(key);
      if (entry && entry.k >= k && sameVector(entry.vector, query)) {
        // Most recently used goes last.
        cache.delete(key);
        cache.set(key, entry);
        return firstEligible(entry.hits, entry.rows, k, excludeIds, live) ?? "search";
      }
      if (once.has(key)) return "fill";
      once.add(key);
      if (once.size > capacity) once.delete(once.values().next().value as string);
      return "search";
    },

    fillK(k, size) {
      return Math.min(2 * k, size);
    },

    fill(query, hits, rows, lists, wide, k, excludeIds) {
      const key = keyOf(query);
      drop(key);
      // Fewer hits than `wide` means the probed lists hold fewer rows: the entry is still their best `wide`.
      const cutoff = hits.length >= wide && hits.length > 0 ? hits[hits.length - 1].score : -Infinity;
      const entry: Entry = { vector: query.slice(), k: wide, hits, rows: Int32Array.from(rows), lists: lists && Int32Array.from(lists), cutoff };
      cache.set(key, entry);
      if (entry.lists) {
        for (const l of entry.lists) {
          let keys = byList.get(l);
          if (!keys) byList.set(l, (keys = new Set()));
          keys.add(key);
        }
      }
      if (cache.size > capacity) drop(cache.keys().next().value as string);
      return firstEligible(hits, null, k, excludeIds, null);
    },

    added(list, src, offset) {
      const keys = byList.get(list);
      if (!keys || keys.size === 0) return;
      for (const key of [...keys]) {
        const entry = cache.get(key);
        if (!entry) continue;
        const q = entry.vector;
        let score = 0;
        let magnitude = 0;
        for (let d = 0; d < dim; d++) {
          const p = q[d] * src[offset + d];
          score += p;
          magnitude += Math.abs(p);
        }
        // The index sums in float32, in its own order: a bound on that rounding (dim steps of 2^-24 relative
        // error each, doubled) so that a row the index would rank at or above the lowest hit is never missed.
        const rounding = magnitude * dim * 2 ** -23;
        // Written so that NaN (a float32 overflow, ranked last by the index) also drops an entry short of hits.
        if (!(score + rounding < entry.cutoff)) drop(key);
      }
    },

    clear() {
      if (cache.size > 0) cache.clear();
      if (byList.size > 0) byList.clear();
      if (once.size > 0) once.clear();
    },
  };
}
