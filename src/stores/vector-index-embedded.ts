import { badInput, ReelfeedError } from "../errors";
import { seededRandom } from "../util/random";
import type { VectorHit, VectorIndex, VectorSearchOptions } from "./vector-index";

/**
 * Options for the in-process vector index: the default, no server needed. Vectors live in one contiguous
 * Float32Array (row-major, grown by doubling); search is exact brute force while the index is small and IVF-flat
 * (k-means coarse quantiser, probe the `nprobe` nearest lists) once it passes `exactThreshold`.
 */
export interface EmbeddedVectorIndexOptions {
  /** Vector length; every upserted vector and every query must have it. */
  dim: number;
  /**
   * Below this many live vectors search is exact brute force; at or above it an IVF-flat index is used.
   * 0 forces IVF at any size, Infinity forces exact search.
   * @default 16384
   */
  exactThreshold?: number;
  /**
   * Inverted lists probed per query. More lists probed: better recall, slower queries. When the probed lists hold
   * fewer than k eligible vectors (after excludeIds) further lists are probed until k are found or none are left.
   * @default 32
   */
  nprobe?: number;
  /** Inverted lists per build; 0 picks about sqrt(N) at each build. @default 0 */
  nlist?: number;
  /**
   * The IVF lists are rebuilt lazily, at the next search, once vectors added, replaced or deleted since the last
   * build exceed this fraction of the indexed count. Until then new vectors are searched exhaustively, so they are
   * never missed. @default 0.2
   */
  rebuildFraction?: number;
  /** Initial row capacity; grows by doubling. @default 1024 */
  initialCapacity?: number;
  /** Seed for the k-means sample and initialisation, so builds (and so results) are reproducible. @default 1 */
  seed?: number;
  /**
   * Query vectors whose results are cached (least recently used evicted); 0 turns the cache off. A feed request
   * searches the neighbours of the same few videos again and again (a user's recent watches, the watch-next seed,
   * the same per-category mean vectors on the next page or refresh), and the neighbours of a fixed vector do not
   * change until the index does. A vector is cached on its second search (a one-off query, such as a user-tower
   * embedding that carries the request time, never fills the cache); every write clears it. Answers are the
   * uncached ones: see `search` below. @default 4096
   */
  queryCacheSize?: number;
}

export interface EmbeddedVectorIndexStats {
  size: number;
  mode: "exact" | "ivf";
  /** Inverted lists in the current build; 0 when there is none. */
  nlist: number;
  /** Vectors laid out in the lists at the last build. */
  indexedRows: number;
  /** Vectors added or replaced since the last build (scanned exhaustively). */
  pendingRows: number;
  /** Deleted or replaced rows still occupying storage. */
  deadRows: number;
}

export interface EmbeddedVectorIndex extends VectorIndex {
  readonly kind: "embedded";
  /**
   * Loads many vectors at once from one row-major matrix (`ids.length × dim`), e.g. a bundle's embedding matrix,
   * without a per-item object. Upsert semantics: an existing id is replaced; a repeated id keeps its last row.
   * Builds the IVF lists right away when the index is then large enough, so the first query does not pay for it.
   */
  bulkLoad(ids: readonly string[], matrix: Float32Array): void;
  /** Builds (or rebuilds) the IVF lists now instead of at the next search; a no-op below `exactThreshold`. */
  buildIndex(): void;
  stats(): EmbeddedVectorIndexStats;
}

/** Argument checks shared by both implementations, so both reject the same calls with the same errors. */
export const checkVectorArgs = {
  vector(argument: string, vector: ArrayLike<number>, dim: number): void {
    if (!vector || vector.length !== dim) {
      throw badInput(argument, `expected a vector of length ${dim}, got ${vector ? vector.length : vector}`);
    }
    for (let d = 0; d < dim; d++) {
      if (!Number.isFinite(vector[d])) throw badInput(argument, `component ${d} is not a finite number`);
    }
  },
  /** The whole batch is checked before any of it is written: a bad item must not leave the batch half applied. */
  items(items: ReadonlyArray<{ id: string; vector: ArrayLike<number> }>, dim: number): void {
    items.forEach((item, i) => {
      if (typeof item?.id !== "string" || item.id === "") throw badInput(`items[${i}].id`, "expected a non-empty string");
      checkVectorArgs.vector(`items[${i}].vector`, item.vector, dim);
    });
  },
  k(k: number): void {
    if (!Number.isInteger(k) || k < 0) throw badInput("k", `expected a non-negative integer, got ${k}`);
  },
};

/** The coarse quantiser of one IVF build: rows [listStart[l], listStart[l+1]) belong to list l. */
interface IvfLayout {
  nlist: number;
  centroids: Float32Array;
  listStart: Int32Array;
  /** Rows [0, indexedRows) are laid out by list; rows past it were appended since and are pending. */
  indexedRows: number;
}

const MAX_NLIST = 4096;
const KMEANS_ITERATIONS = 10;
/** Training points per list: enough for stable centroids, few enough that a 1M build takes seconds, not minutes. */
const TRAIN_POINTS_PER_LIST = 32;

export function createEmbeddedVectorIndex(options: EmbeddedVectorIndexOptions): EmbeddedVectorIndex {
  const {
    dim,
    exactThreshold = 16_384,
    nprobe = 32,
    nlist: fixedNlist = 0,
    rebuildFraction = 0.2,
    initialCapacity = 1024,
    seed = 1,
    queryCacheSize = 4096,
  } = options;
  if (!Number.isInteger(dim) || dim <= 0) throw badInput("dim", `expected a positive integer, got ${dim}`);
  if (!Number.isInteger(nprobe) || nprobe <= 0) throw badInput("nprobe", `expected a positive integer, got ${nprobe}`);
  if (!Number.isInteger(fixedNlist) || fixedNlist < 0) throw badInput("nlist", `expected a non-negative integer, got ${fixedNlist}`);
  if (!(exactThreshold >= 0)) throw badInput("exactThreshold", `expected a non-negative number, got ${exactThreshold}`);

  let capacity = Math.max(1, initialCapacity);
  let data = new Float32Array(capacity * dim);
  /** row → id; undefined marks a dead row (deleted, or replaced by a newer row). */
  let rowIds: (string | undefined)[] = [];
  let rowOf = new Map<string, number>();
  /** High-water mark: rows [0, rows) are used, live or dead. */
  let rows = 0;
  let ivf: IvfLayout | null = null;
  /** Dead rows inside the IVF-indexed region; they count towards the next rebuild. */
  let deadIndexed = 0;
  let closed = false;

  /**
   * Query cache. An entry holds the best `k` rows, exclusions ignored, of exactly the rows a search of that vector
   * scans when it stops at the nprobe nearest lists. A later search with exclusions is answered from it only when at
   * least k of its hits are not excluded: then that search would also have stopped at the nprobe lists (it had k
   * eligible rows there) and returned the best k eligible rows of those lists, which are the first k eligible hits
   * of the entry. Otherwise (and on any write since) it searches as usual.
   */
  const cache = new Map<string, { vector: Float32Array; k: number; hits: VectorHit[] }>();
  /** Vectors searched once (their key): cached on the second search. Bounded like the cache. */
  const once = new Set<string>();
  const invalidate = (): void => {
    if (cache.size > 0) cache.clear();
    if (once.size > 0) once.clear();
  };
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
  const assertOpen = () => {
    if (closed) throw new ReelfeedError("UNAVAILABLE", "embedded vector index is closed");
  };

  const ensureCapacity = (needed: number): void => {
    if (needed <= capacity) return;
    let next = capacity;
    while (next < needed) next *= 2;
    const grown = new Float32Array(next * dim);
    grown.set(data.subarray(0, rows * dim));
    data = grown;
    capacity = next;
  };

  const kill = (row: number): void => {
    invalidate();
    rowIds[row] = undefined;
    if (ivf && row < ivf.indexedRows) deadIndexed++;
  };

  /** Appends or overwrites one vector given as `src[srcOffset .. srcOffset+dim)`. */
  const put = (id: string, src: ArrayLike<number>, srcOffset: number): void => {
    invalidate();
    const existing = rowOf.get(id);
    // A pending row (or any row in exact mode) can be overwritten in place; an indexed row sits in the list of
    // its old vector, so it dies and the new vector is appended as pending.
    if (existing !== undefined && (!ivf || existing >= ivf.indexedRows)) {
      writeRow(existing, src, srcOffset);
      return;
    }
    if (existing !== undefined) kill(existing);
    ensureCapacity(rows + 1);
    writeRow(rows, src, srcOffset);
    rowIds[rows] = id;
    rowOf.set(id, rows);
    rows++;
  };

  const writeRow = (row: number, src: ArrayLike<number>, srcOffset: number): void => {
    if (src instanceof Float32Array) {
      data.set(src.subarray(srcOffset, srcOffset + dim), row * dim);
    } else {
      for (let d = 0; d < dim; d++) data[row * dim + d] = src[srcOffset + d];
    }
  };

  /** Drops dead rows in exact mode, keeping row order; amortised by only running when many rows are dead. */
  const maybeCompact = (): void => {
    const dead = rows - rowOf.size;
    if (ivf || dead < Math.max(1024, rows >> 2)) return;
    let w = 0;
    for (let r = 0; r < rows; r++) {
      const id = rowIds[r];
      if (id === undefined) continue;
      if (w !== r) {
        data.copyWithin(w * dim, r * dim, (r + 1) * dim);
        rowIds[w] = id;
        rowOf.set(id, w);
      }
      w++;
    }
    rowIds.length = w;
    rows = w;
  };

  const buildIvf = (): void => {
    invalidate();
    const live = rowOf.size;
    const liveRows = new Int32Array(live);
    let n = 0;
    for (let r = 0; r < rows; r++) if (rowIds[r] !== undefined) liveRows[n++] = r;
    const nlist = Math.max(1, Math.min(live, fixedNlist || Math.min(MAX_NLIST, Math.round(Math.sqrt(live)))));
    // Seeded: builds must be reproducible.
    const rng = seededRandom(seed);
    const sampleSize = Math.min(live, Math.max(nlist * TRAIN_POINTS_PER_LIST, 1024));
    const sample = gather(data, dim, sampleRows(liveRows, sampleSize, rng));
    const quantiser = trainTwoLevel(sample, dim, nlist, rng);

    // Counting sort of live rows by list into a fresh buffer: each list becomes one contiguous row range, so a
    // probe is a sequential scan.
    const assignment = new Int32Array(live);
    const counts = new Int32Array(quantiser.nlist + 1);
    for (let i = 0; i < live; i++) {
      const list = quantiser.assign(data, liveRows[i] * dim);
      assignment[i] = list;
      counts[list + 1]++;
    }
    const listStart = new Int32Array(quantiser.nlist + 1);
    for (let l = 0; l < quantiser.nlist; l++) listStart[l + 1] = listStart[l] + counts[l + 1];
    const cursor = listStart.slice(0, quantiser.nlist);
    const nextData = new Float32Array(capacity * dim);
    const nextIds: string[] = new Array(live);
    const nextRowOf = new Map<string, number>();
    for (let i = 0; i < live; i++) {
      const from = liveRows[i];
      const to = cursor[assignment[i]]++;
      nextData.set(data.subarray(from * dim, (from + 1) * dim), to * dim);
      const id = rowIds[from] as string;
      nextIds[to] = id;
      nextRowOf.set(id, to);
    }
    data = nextData;
    rowIds = nextIds;
    rowOf = nextRowOf;
    rows = live;
    deadIndexed = 0;
    ivf = { nlist: quantiser.nlist, centroids: quantiser.leaves, listStart, indexedRows: live };
  };

  const ivfIsStale = (layout: IvfLayout): boolean =>
    rows - layout.indexedRows + deadIndexed > rebuildFraction * Math.max(1, layout.indexedRows);

  /** Chooses the search mode for the current size, (re)building the IVF lists when they are missing or stale. */
  const prepare = (): IvfLayout | null => {
    if (rowOf.size < exactThreshold || rowOf.size === 0) {
      if (ivf) {
        ivf = null;
        deadIndexed = 0;
      }
      maybeCompact();
      return null;
    }
    if (!ivf || ivfIsStale(ivf)) buildIvf();
    return ivf;
  };

  const cachedSearch = (query: Float32Array, k: number, excludeIds: ReadonlySet<string> | undefined): VectorHit[] => {
    prepare();
    // A tiny index is scanned whole anyway.
    if (rowOf.size <= k) return search(query, k, excludeIds);
    const key = keyOf(query);
    const entry = cache.get(key);
    if (entry && entry.k >= k && sameVector(entry.vector, query)) {
      cache.delete(key);
      cache.set(key, entry);
      const out: VectorHit[] = [];
      for (const h of entry.hits) {
        if (excludeIds && excludeIds.has(h.id)) continue;
        out.push(h);
        if (out.length === k) return out.map((x) => ({ id: x.id, score: x.score }));
      }
      return search(query, k, excludeIds);
    }
    if (!once.has(key)) {
      once.add(key);
      if (once.size > queryCacheSize) once.delete(once.values().next().value as string);
      return search(query, k, excludeIds);
    }
    // Second sighting: room for exclusions (twice k), exclusions ignored, the nprobe lists only.
    const wide = Math.min(2 * k, rowOf.size);
    const hits = search(query, wide, undefined, true);
    // Fewer hits than `wide` means the probed lists hold fewer rows: the entry is still their best `wide`.
    cache.set(key, { vector: query.slice(), k: wide, hits });
    if (cache.size > queryCacheSize) cache.delete(cache.keys().next().value as string);
    const out: VectorHit[] = [];
    for (const h of hits) {
      if (excludeIds && excludeIds.has(h.id)) continue;
      out.push({ id: h.id, score: h.score });
      if (out.length === k) return out;
    }
    return search(query, k, excludeIds);
  };

  const search = (query: Float32Array, k: number, excludeIds: ReadonlySet<string> | undefined, nprobeOnly = false): VectorHit[] => {
    // First: a (re)build moves rows, so ids are mapped to rows only after it.
    const layout = prepare();
    // Exclusions are checked by id, and only for a row about to enter the heap: no per-query set of rows is built
    // (a user's seen set runs to a thousand or more ids, and a request searches a dozen times). How many excluded
    // ids are indexed matters only when it could leave fewer than k eligible rows.
    const exclude = excludeIds && excludeIds.size > 0 ? excludeIds : undefined;
    let excludedCount = 0;
    if (exclude && rowOf.size - exclude.size < k) for (const id of exclude) if (rowOf.has(id)) excludedCount++;
    const target = Math.min(k, rowOf.size - excludedCount);
    if (target <= 0) return [];
    const heap = new TopK(target);
    // Dead and excluded rows are only checked when a row would enter the heap: the common case pays nothing.
    const scan = (from: number, to: number): void => {
      const q = query;
      const v = data;
      const ids = rowIds;
      for (let r = from; r < to; r++) {
        const off = r * dim;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let d = 0;
        for (; d + 3 < dim; d += 4) {
          s0 += q[d] * v[off + d];
          s1 += q[d + 1] * v[off + d + 1];
          s2 += q[d + 2] * v[off + d + 2];
          s3 += q[d + 3] * v[off + d + 3];
        }
        for (; d < dim; d++) s0 += q[d] * v[off + d];
        const s = s0 + s1 + (s2 + s3);
        if (heap.size < heap.capacity || s > heap.minScore) {
          const id = ids[r];
          if (id === undefined || (exclude !== undefined && exclude.has(id))) continue;
          heap.push(s, r);
        }
      }
    };
    if (!layout) {
      scan(0, rows);
    } else {
      scan(layout.indexedRows, rows);
      const lists = rankLists(layout, query, dim, nprobe);
      for (let i = 0; i < lists.order.length; i++) {
        if (i >= nprobe && (nprobeOnly || heap.size >= target)) break;
        // Past the nprobe nearest lists (only when those held fewer than k eligible rows): the rest, in order.
        if (i === nprobe) lists.sortAll();
        const list = lists.order[i];
        scan(layout.listStart[list], layout.listStart[list + 1]);
      }
    }
    return heap.drain().map(({ score, row }) => ({ id: rowIds[row] as string, score })).sort(byScoreThenId);
  };

  return {
    kind: "embedded",
    dim,

    async upsert(items) {
      assertOpen();
      checkVectorArgs.items(items, dim);
      for (const item of items) put(item.id, item.vector, 0);
    },

    async search(vector, k, options: VectorSearchOptions = {}) {
      assertOpen();
      options.signal?.throwIfAborted();
      checkVectorArgs.vector("vector", vector, dim);
      checkVectorArgs.k(k);
      if (k === 0) return [];
      return queryCacheSize > 0 ? cachedSearch(vector, k, options.excludeIds) : search(vector, k, options.excludeIds);
    },

    async get(id) {
      assertOpen();
      const row = rowOf.get(id);
      return row === undefined ? undefined : data.slice(row * dim, (row + 1) * dim);
    },

    async delete(ids) {
      assertOpen();
      for (const id of ids) {
        const row = rowOf.get(id);
        if (row === undefined) continue;
        rowOf.delete(id);
        kill(row);
      }
      if (!ivf) maybeCompact();
    },

    async size() {
      assertOpen();
      return rowOf.size;
    },

    async close() {
      closed = true;
      data = new Float32Array(0);
      rowIds = [];
      rowOf = new Map();
      rows = 0;
      ivf = null;
    },

    bulkLoad(ids, matrix) {
      assertOpen();
      if (!(matrix instanceof Float32Array)) throw badInput("matrix", "expected a Float32Array");
      if (matrix.length !== ids.length * dim) {
        throw badInput("matrix", `expected ${ids.length} × ${dim} = ${ids.length * dim} values, got ${matrix.length}`);
      }
      ids.forEach((id, i) => {
        if (typeof id !== "string" || id === "") throw badInput(`ids[${i}]`, "expected a non-empty string");
      });
      for (let i = 0; i < matrix.length; i++) {
        if (!Number.isFinite(matrix[i])) {
          throw badInput(`matrix[${Math.floor(i / dim)}]`, `component ${i % dim} is not a finite number`);
        }
      }
      ensureCapacity(rows + ids.length);
      for (let i = 0; i < ids.length; i++) put(ids[i], matrix, i * dim);
      if (rowOf.size >= exactThreshold && rowOf.size > 0) buildIvf();
    },

    buildIndex() {
      assertOpen();
      if (rowOf.size >= exactThreshold && rowOf.size > 0) buildIvf();
    },

    stats() {
      return {
        size: rowOf.size,
        mode: ivf ? "ivf" : "exact",
        nlist: ivf?.nlist ?? 0,
        indexedRows: ivf?.indexedRows ?? 0,
        pendingRows: ivf ? rows - ivf.indexedRows : rows,
        deadRows: rows - rowOf.size,
      };
    },
  };
}

function byScoreThenId(a: VectorHit, b: VectorHit): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Lists by descending inner product of their centroid with the query. Only the first `first` positions are ordered
 * up front (a partial selection: a query nearly always stops there); `sortAll` orders the rest when a query needs
 * more lists. Ties by list number, so the order is the same as a full sort's.
 */
function rankLists(layout: IvfLayout, query: Float32Array, dim: number, first: number): { order: Int32Array; sortAll(): void } {
  const n = layout.nlist;
  const scores = new Float64Array(n);
  const c = layout.centroids;
  for (let l = 0; l < n; l++) {
    let s = 0;
    const off = l * dim;
    for (let d = 0; d < dim; d++) s += query[d] * c[off + d];
    scores[l] = s;
  }
  const order = new Int32Array(n);
  for (let l = 0; l < n; l++) order[l] = l;
  const before = (a: number, b: number): boolean => scores[a] > scores[b] || (scores[a] === scores[b] && a < b);
  const m = Math.min(first, n);
  if (m >= n / 4) {
    order.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    return { order, sortAll() {} };
  }
  // Selection of the m best by one pass with a sorted buffer (insertion), then the rest left unsorted behind them.
  const best = new Int32Array(m);
  let size = 0;
  for (let l = 0; l < n; l++) {
    if (size === m && !before(l, best[m - 1])) continue;
    let i = size < m ? size++ : m - 1;
    while (i > 0 && before(l, best[i - 1])) {
      best[i] = best[i - 1];
      i--;
    }
    best[i] = l;
  }
  const chosen = new Uint8Array(n);
  for (let i = 0; i < m; i++) {
    order[i] = best[i];
    chosen[best[i]] = 1;
  }
  let w = m;
  for (let l = 0; l < n; l++) if (!chosen[l]) order[w++] = l;
  let sorted = false;
  return {
    order,
    sortAll() {
      if (sorted) return;
      sorted = true;
      order.subarray(m).sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    },
  };
}

/** A bounded min-heap of (score, row): keeps the `capacity` best scores seen. */
class TopK {
  readonly scores: Float64Array;
  readonly rows: Int32Array;
  size = 0;
  constructor(readonly capacity: number) {
    this.scores = new Float64Array(capacity);
    this.rows = new Int32Array(capacity);
  }
  get minScore(): number {
    return this.size === 0 ? -Infinity : this.scores[0];
  }
  push(score: number, row: number): void {
    const { scores, rows } = this;
    if (this.size < this.capacity) {
      let i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (scores[parent] <= score) break;
        scores[i] = scores[parent];
        rows[i] = rows[parent];
        i = parent;
      }
      scores[i] = score;
      rows[i] = row;
      return;
    }
    if (score <= scores[0]) return;
    // Replace the root and sift down.
    const n = this.size;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && scores[right] < scores[left] ? right : left;
      if (scores[child] >= score) break;
      scores[i] = scores[child];
      rows[i] = rows[child];
      i = child;
    }
    scores[i] = score;
    rows[i] = row;
  }
  drain(): Array<{ score: number; row: number }> {
    const out: Array<{ score: number; row: number }> = [];
    for (let i = 0; i < this.size; i++) out.push({ score: this.scores[i], row: this.rows[i] });
    this.size = 0;
    return out;
  }
}

/** `count` distinct entries of `from`, chosen uniformly (partial Fisher-Yates on a copy). */
function sampleRows(from: Int32Array, count: number, rng: () => number): Int32Array {
  if (count >= from.length) return from;
  const pool = from.slice();
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng() * (pool.length - i));
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  return pool.subarray(0, count);
}

function gather(src: Float32Array, dim: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++) out.set(src.subarray(rows[i] * dim, (rows[i] + 1) * dim), i * dim);
  return out;
}

/** Index of the centroid nearest in L2 among `[first, last)`: argmax of <x,c> - |c|²/2. */
function nearest(
  x: Float32Array,
  xOff: number,
  centroids: Float32Array,
  halfNorms: Float64Array,
  first: number,
  last: number,
  dim: number,
): number {
  let best = first;
  let bestScore = -Infinity;
  for (let c = first; c < last; c++) {
    const s = dot(x, xOff, centroids, c * dim, dim) - halfNorms[c];
    if (s > bestScore) {
      bestScore = s;
      best = c;
    }
  }
  return best;
}

/** Inner product of two `dim`-long slices; four accumulators let the CPU overlap the multiply-adds. */
function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  for (; d + 3 < dim; d += 4) {
    s0 += a[aOff + d] * b[bOff + d];
    s1 += a[aOff + d + 1] * b[bOff + d + 1];
    s2 += a[aOff + d + 2] * b[bOff + d + 2];
    s3 += a[aOff + d + 3] * b[bOff + d + 3];
  }
  for (; d < dim; d++) s0 += a[aOff + d] * b[bOff + d];
  return s0 + s1 + (s2 + s3);
}

function halfSquaredNorms(centroids: Float32Array, k: number, dim: number): Float64Array {
  const out = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += centroids[c * dim + d] ** 2;
    out[c] = s / 2;
  }
  return out;
}

/** Lloyd's k-means with k-means++ seeding over `n` contiguous points. Returns k × dim centroids. */
function kmeans(points: Float32Array, n: number, dim: number, k: number, rng: () => number): Float32Array {
  const centroids = new Float32Array(k * dim);
  // k-means++ seeding: spread initial centroids so clusters do not start merged.
  const minDist = new Float64Array(n).fill(Infinity);
  let chosen = Math.floor(rng() * n);
  for (let c = 0; c < k; c++) {
    centroids.set(points.subarray(chosen * dim, (chosen + 1) * dim), c * dim);
    if (c === k - 1) break;
    let total = 0;
    for (let i = 0; i < n; i++) {
      let dist = 0;
      for (let d = 0; d < dim; d++) {
        const diff = points[i * dim + d] - centroids[c * dim + d];
        dist += diff * diff;
      }
      if (dist < minDist[i]) minDist[i] = dist;
      total += minDist[i];
    }
    if (total === 0) {
      chosen = Math.floor(rng() * n);
      continue;
    }
    let r = rng() * total;
    chosen = n - 1;
    for (let i = 0; i < n; i++) {
      r -= minDist[i];
      if (r <= 0) {
        chosen = i;
        break;
      }
    }
  }
  const assignment = new Int32Array(n).fill(-1);
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  for (let iter = 0; iter < KMEANS_ITERATIONS; iter++) {
    const halfNorms = halfSquaredNorms(centroids, k, dim);
    let changed = 0;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = nearest(points, i * dim, centroids, halfNorms, 0, k, dim);
      if (c !== assignment[i]) changed++;
      assignment[i] = c;
      counts[c]++;
      for (let d = 0; d < dim; d++) sums[c * dim + d] += points[i * dim + d];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) {
        // An empty cluster is re-seeded on a random point rather than left to waste a list.
        const i = Math.floor(rng() * n);
        centroids.set(points.subarray(i * dim, (i + 1) * dim), c * dim);
        continue;
      }
      for (let d = 0; d < dim; d++) centroids[c * dim + d] = sums[c * dim + d] / counts[c];
    }
    if (changed === 0) break;
  }
  return centroids;
}

interface Quantiser {
  nlist: number;
  leaves: Float32Array;
  /** The list of the vector at `src[offset .. offset+dim)`. */
  assign(src: Float32Array, offset: number): number;
}

/**
 * A two-level coarse quantiser: ~sqrt(nlist) top clusters, each split into leaves in proportion to its share of the
 * sample. Assigning a vector costs ~2·sqrt(nlist) dot products instead of nlist, which is what keeps a 1M-vector
 * build to seconds. Queries still rank all leaves directly, so probing is as precise as a flat quantiser.
 */
function trainTwoLevel(sample: Float32Array, dim: number, nlist: number, rng: () => number): Quantiser {
  const n = sample.length / dim;
  const topK = nlist <= 64 ? 1 : Math.min(nlist, Math.ceil(Math.sqrt(nlist)));
  const topSampleSize = Math.min(n, topK * 64);
  const topSample = topSampleSize === n ? sample : gather(sample, dim, sampleRows(identity(n), topSampleSize, rng));
  const top = topK === 1 ? meanOf(sample, n, dim) : kmeans(topSample, topSampleSize, dim, topK, rng);
  const topHalf = halfSquaredNorms(top, topK, dim);

  const members: number[][] = Array.from({ length: topK }, () => []);
  for (let i = 0; i < n; i++) members[nearest(sample, i * dim, top, topHalf, 0, topK, dim)].push(i);

  const leafParts: Float32Array[] = [];
  const childStart = new Int32Array(topK + 1);
  for (let t = 0; t < topK; t++) {
    const m = members[t].length;
    const k = m === 0 ? 0 : Math.max(1, Math.min(m, Math.round((nlist * m) / n)));
    if (k > 0) leafParts.push(kmeans(gather(sample, dim, Int32Array.from(members[t])), m, dim, k, rng));
    childStart[t + 1] = childStart[t] + k;
  }
  const total = childStart[topK];
  const leaves = new Float32Array(total * dim);
  let offset = 0;
  for (const part of leafParts) {
    leaves.set(part, offset);
    offset += part.length;
  }
  const leafHalf = halfSquaredNorms(leaves, total, dim);
  return {
    nlist: total,
    leaves,
    assign(src, off) {
      if (topK === 1) return nearest(src, off, leaves, leafHalf, 0, total, dim);
      // A top cluster that got no sample points has no leaves: skip it by ranking only non-empty ones.
      let bestTop = -1;
      let bestScore = -Infinity;
      for (let t = 0; t < topK; t++) {
        if (childStart[t + 1] === childStart[t]) continue;
        const s = dot(src, off, top, t * dim, dim) - topHalf[t];
        if (s > bestScore) {
          bestScore = s;
          bestTop = t;
        }
      }
      return nearest(src, off, leaves, leafHalf, childStart[bestTop], childStart[bestTop + 1], dim);
    },
  };
}

function identity(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function meanOf(points: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) out[d] += points[i * dim + d] / n;
  return out;
}
