import { badInput, ReelfeedError } from "../errors";
import { seededRandom } from "../util/random";
import type { VectorHit, VectorIndex, VectorSearchOptions } from "./vector-index";
import { createVectorKernel, KERNEL_BATCH_ROWS, type VectorKernel } from "./vector-kernel";

/**
 * Options for the in-process vector index: the default, no server needed. Vectors live in one row-major float32
 * matrix in WebAssembly memory (grown by doubling), scored by a SIMD kernel (vector-kernel.ts); search is exact
 * brute force while the index is small and IVF-flat (k-means coarse quantiser, probe the `nprobe` nearest lists)
 * once it passes `exactThreshold`. Scores are float32 sums, as in FAISS; hits are ordered by score, then id.
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
  /** The list centroids as rows [0, nlist); the build's top-level centroids follow them. */
  centroids: VectorKernel;
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

  /** The vectors are rows [0, rows) of its matrix. Its views go stale when it grows: never keep one across a write. */
  const kernel = createVectorKernel(dim, Math.max(1, initialCapacity));
  const stride = kernel.stride;
  /** row → id; undefined marks a dead row (deleted, or replaced by a newer row). */
  let rowIds: (string | undefined)[] = [];
  let rowOf = new Map<string, number>();
  /** High-water mark: rows [0, rows) are used, live or dead. */
  let rows = 0;
  let ivf: IvfLayout | null = null;
  /** Dead rows inside the IVF-indexed region; they count towards the next rebuild. */
  let deadIndexed = 0;
  let closed = false;
  /** Per-row "excluded from this search" marks (search below); all zero between searches. */
  let excludedMarks = new Uint8Array(0);
  const topK = new TopK();

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

  // Growing keeps the rows in place (the memory grows under them); only views of the old buffer go stale.
  const ensureCapacity = (needed: number): void => kernel.ensureCapacity(needed);

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

  const writeRow = (row: number, src: ArrayLike<number>, srcOffset: number): void => kernel.setRow(row, src, srcOffset);

  /** Drops dead rows in exact mode, keeping row order; amortised by only running when many rows are dead. */
  const maybeCompact = (): void => {
    const dead = rows - rowOf.size;
    if (ivf || dead < Math.max(1024, rows >> 2)) return;
    const m = kernel.matrix;
    let w = 0;
    for (let r = 0; r < rows; r++) {
      const id = rowIds[r];
      if (id === undefined) continue;
      if (w !== r) {
        // Whole strides: the zero padding moves with the row.
        m.copyWithin(w * stride, r * stride, (r + 1) * stride);
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
    const sample = gather(kernel.matrix, stride, dim, sampleRows(liveRows, sampleSize, rng));
    const quantiser = trainTwoLevel(sample, dim, nlist, rng);

    // Counting sort of live rows by list: each list becomes one contiguous row range, so a probe is a sequential
    // scan.
    const assignment = new Int32Array(live);
    const counts = new Int32Array(quantiser.nlist + 1);
    const m = kernel.matrix;
    for (let i = 0; i < live; i++) {
      const list = quantiser.assign(m, liveRows[i] * stride);
      assignment[i] = list;
      counts[list + 1]++;
    }
    const listStart = new Int32Array(quantiser.nlist + 1);
    for (let l = 0; l < quantiser.nlist; l++) listStart[l + 1] = listStart[l] + counts[l + 1];
    const cursor = listStart.slice(0, quantiser.nlist);
    // Where each row goes: live rows to their list's range, dead rows to the positions past them, then dropped.
    const dest = new Int32Array(rows);
    const nextIds: string[] = new Array(live);
    const nextRowOf = new Map<string, number>();
    for (let i = 0; i < live; i++) {
      const from = liveRows[i];
      const to = cursor[assignment[i]]++;
      dest[from] = to;
      const id = rowIds[from] as string;
      nextIds[to] = id;
      nextRowOf.set(id, to);
    }
    for (let r = 0, spare = live; r < rows; r++) if (rowIds[r] === undefined) dest[r] = spare++;
    // Nothing past this point can fail half way: the index changes all at once.
    permuteRows(m, stride, dest);
    ivf?.centroids.dispose();
    rowIds = nextIds;
    rowOf = nextRowOf;
    rows = live;
    deadIndexed = 0;
    ivf = { nlist: quantiser.nlist, centroids: quantiser.centroids, listStart, indexedRows: live };
  };

  const ivfIsStale = (layout: IvfLayout): boolean =>
    rows - layout.indexedRows + deadIndexed > rebuildFraction * Math.max(1, layout.indexedRows);

  /** Chooses the search mode for the current size, (re)building the IVF lists when they are missing or stale. */
  const prepare = (): IvfLayout | null => {
    if (rowOf.size < exactThreshold || rowOf.size === 0) {
      if (ivf) {
        ivf.centroids.dispose();
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
    // Excluded ids become marks on their rows for this search (cleared after it): the scan checks a few thousand
    // candidate rows per search, and reading a mark is far cheaper than hashing each row's id into the set.
    if (excludedMarks.length < rows) excludedMarks = new Uint8Array(Math.max(rows, 2 * excludedMarks.length));
    const marked: number[] = [];
    if (excludeIds) {
      for (const id of excludeIds) {
        const r = rowOf.get(id);
        if (r !== undefined && excludedMarks[r] === 0) {
          excludedMarks[r] = 1;
          marked.push(r);
        }
      }
    }
    try {
      return scanFor(query, k, rowOf.size - marked.length, layout, nprobeOnly);
    } finally {
      for (const r of marked) excludedMarks[r] = 0;
    }
  };

  const scanFor = (query: Float32Array, k: number, eligible: number, layout: IvfLayout | null, nprobeOnly: boolean): VectorHit[] => {
    const target = Math.min(k, eligible);
    if (target <= 0) return [];
    const marks = excludedMarks;
    const ids = rowIds;
    const best = topK.reset(target, ids);
    kernel.setQuery(query);
    let threshold = best.threshold;
    // Dead and excluded rows are only checked for a row that could enter the top k: the common case pays nothing.
    const scan = (from: number, to: number): void => {
      for (let start = from; start < to; start += KERNEL_BATCH_ROWS) {
        const end = Math.min(to, start + KERNEL_BATCH_ROWS);
        const scores = kernel.dots(start, end);
        // Only rows that can enter the top k come back (NaN included: see below); the threshold may rise
        // while they are pushed, so each is checked again.
        const count = kernel.pickAbove(end - start, threshold);
        const picked = kernel.picked;
        for (let p = 0; p < count; p++) {
          const i = picked[p];
          const s = scores[i];
          if (s < threshold) continue;
          const r = start + i;
          const id = ids[r];
          if (id === undefined || marks[r] === 1) continue;
          // A float32 sum can overflow to ±Infinity and then give NaN (components past ~1e19): ranked last, as
          // NaN has no place in an order.
          threshold = best.push(s === s ? s : -Infinity, r);
        }
      }
    };
    if (!layout) {
      scan(0, rows);
    } else {
      scan(layout.indexedRows, rows);
      const lists = rankLists(layout, query, nprobe);
      for (let i = 0; i < lists.order.length; i++) {
        if (i >= nprobe && (nprobeOnly || best.full)) break;
        // Past the nprobe nearest lists (only when those held fewer than k eligible rows): the rest, in order.
        if (i === nprobe) lists.sortAll();
        const list = lists.order[i];
        scan(layout.listStart[list], layout.listStart[list + 1]);
      }
    }
    return best.hits();
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
      return row === undefined ? undefined : kernel.matrix.slice(row * stride, row * stride + dim);
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
      kernel.dispose();
      ivf?.centroids.dispose();
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

/**
 * Lists by descending inner product of their centroid with the query. Only the first `first` positions are ordered
 * up front (a partial selection: a query nearly always stops there); `sortAll` orders the rest when a query needs
 * more lists. Ties by list number, so the order is the same as a full sort's.
 */
function rankLists(layout: IvfLayout, query: Float32Array, first: number): { order: Int32Array; sortAll(): void } {
  const n = layout.nlist;
  // A copy: the kernel's output slot is overwritten by the next call, and sortAll may run after row scans.
  const scores = new Float32Array(n);
  const centroids = layout.centroids;
  centroids.setQuery(query);
  for (let start = 0; start < n; start += KERNEL_BATCH_ROWS) {
    const end = Math.min(n, start + KERNEL_BATCH_ROWS);
    scores.set(centroids.dots(start, end).subarray(0, end - start), start);
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

/** Which 32-bit word of a float64 holds the low bits of its significand (the first on every platform Node runs on). */
const LOW_WORD = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1 ? 0 : 1;
/**
 * A float32 score widened to float64 has at least 29 low significand bits that are zero: a TopK entry's position
 * goes there, so that entries are ordered by comparing plain numbers (distinct ones, so no tie handling in the
 * sort itself) and each key still says which entry it came from. The position moves the key by less than one
 * float32 step, so keys of different scores keep their order; equal scores are put in id order afterwards.
 */
const POSITION_BITS = 29;
const POSITION_MASK = 2 ** POSITION_BITS - 1;
/** Stands in for ±Infinity in a key (no significand bits to carry a position): beyond every float32. */
const INFINITY_KEY = 2 ** 200;

/**
 * The best `k` of a stream of (score, row) by descending score, then ascending id: the order hits are returned in,
 * so which of several rows tied at the k-th score is kept depends on neither scan order nor list order. Rows are
 * appended to a buffer of about 4k; a full buffer is cut back to its best k, and from the k-th row on, `threshold`
 * is the lowest score a row needs to still make the best k. Appending is a store where a bounded heap sifts on
 * every accepted row, and the cut sorts numbers where a comparator sort calls back into JS per comparison (V8's
 * typed-array sort is no faster): with SIMD scores, the heap and the final sort had cost as much as the scan.
 */
class TopK {
  /** A row scoring below it cannot be among the best k: k accepted rows score at least this. */
  threshold = -Infinity;
  private k = 0;
  private ids: ReadonlyArray<string | undefined> = [];
  private scores = new Float64Array(0);
  private rows = new Int32Array(0);
  /** `take` writes into these, then swaps them with the two above. */
  private spareScores = new Float64Array(0);
  private spareRows = new Int32Array(0);
  private keys = new Float64Array(0);
  private keyWords = new Uint32Array(0);
  /**
   * Entries the buffer holds before it is cut back to k: about 4k. Measured on 100k × 65 at k = 300, 2k cut two
   * or three times a search and cost more than the extra rows that a threshold set less often lets in.
   */
  private limit = 0;
  private size = 0;
  private accepted = 0;

  /**
   * Starts a new selection. One instance serves all searches of an index (a search runs start to end without
   * yielding): its buffers are kept, as allocating them cost a search more than filling them.
   */
  reset(k: number, ids: ReadonlyArray<string | undefined>): this {
    // k is at most the row count, far below 2^28 (4 GiB of rows): the capacity stays within POSITION_BITS.
    const capacity = Math.min(4 * k + 64, POSITION_MASK + 1);
    // Grown when too small; shrunk after a rare huge k, so that it does not hold megabytes for good.
    if (this.scores.length < capacity || this.scores.length > Math.max(8 * capacity, 1 << 16)) {
      this.scores = new Float64Array(capacity);
      this.rows = new Int32Array(capacity);
      this.spareScores = new Float64Array(capacity);
      this.spareRows = new Int32Array(capacity);
      this.keys = new Float64Array(capacity);
      this.keyWords = new Uint32Array(this.keys.buffer);
    }
    this.k = k;
    this.limit = capacity;
    this.ids = ids;
    this.threshold = -Infinity;
    this.size = 0;
    this.accepted = 0;
    return this;
  }

  /** Whether k rows were accepted, i.e. the best k are complete for the rows scanned so far. */
  get full(): boolean {
    return this.accepted >= this.k;
  }

  /**
   * Accepts a row scoring at least `threshold` (the caller's check) with a float32 score or ±Infinity; returns the
   * threshold now in force.
   */
  push(score: number, row: number): number {
    if (this.size === this.limit) this.prune();
    this.scores[this.size] = score;
    this.rows[this.size] = row;
    this.size++;
    if (++this.accepted === this.k) {
      let min = Infinity;
      for (let i = 0; i < this.size; i++) if (this.scores[i] < min) min = this.scores[i];
      this.threshold = min;
    }
    return this.threshold;
  }

  /** The best k (fewer when fewer were accepted), best first. */
  hits(): VectorHit[] {
    this.order();
    const out: VectorHit[] = new Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = { id: this.ids[this.rows[i]] as string, score: this.scores[i] };
    // Not kept alive by the reused instance.
    this.ids = [];
    return out;
  }

  /** Cuts a full buffer back to its best k, unordered, and raises the threshold to the k-th score. */
  private prune(): void {
    const k = this.k;
    const end = this.cut();
    // Rows tied with the k-th score on both sides of the cut: only the id order can say which stay.
    if (end > k) {
      this.order();
      this.threshold = this.scores[k - 1];
      return;
    }
    this.take(k);
    let min = Infinity;
    for (let i = 0; i < k; i++) if (this.scores[i] < min) min = this.scores[i];
    this.size = k;
    this.threshold = min;
  }

  /**
   * Packs the entries into `keys` and moves the k best (by score, ties by position) to the front, followed by the
   * rest of those tied with the k-th score; returns the end of that prefix.
   */
  private cut(): number {
    const n = this.size;
    const { scores, keys, keyWords } = this;
    for (let i = 0; i < n; i++) {
      const s = scores[i];
      keys[i] = s === Infinity ? INFINITY_KEY : s === -Infinity ? -INFINITY_KEY : s;
      keyWords[2 * i + LOW_WORD] |= i;
    }
    const keep = Math.min(n, this.k);
    if (n === keep) return n;
    selectLargest(keys, n, keep);
    let lowest = 0;
    for (let i = 1; i < keep; i++) if (keys[i] < keys[lowest]) lowest = i;
    const cutScore = scores[keyWords[2 * lowest + LOW_WORD] & POSITION_MASK];
    let end = keep;
    for (let i = keep; i < n; i++) {
      if (scores[keyWords[2 * i + LOW_WORD] & POSITION_MASK] === cutScore) {
        const t = keys[end];
        keys[end] = keys[i];
        keys[i] = t;
        end++;
      }
    }
    return end;
  }

  /** Makes the entries named by keys[0, count) the buffer's first `count`, in that order. */
  private take(count: number): void {
    const { scores, rows, keyWords } = this;
    const outScores = this.spareScores;
    const outRows = this.spareRows;
    for (let i = 0; i < count; i++) {
      const p = keyWords[2 * i + LOW_WORD] & POSITION_MASK;
      outScores[i] = scores[p];
      outRows[i] = rows[p];
    }
    this.spareScores = scores;
    this.spareRows = rows;
    this.scores = outScores;
    this.rows = outRows;
  }

  /** Sorts the entries best first (score, then id) and keeps the best k. */
  private order(): void {
    const end = this.cut();
    sortDescending(this.keys, 0, end - 1);
    this.take(end);
    const outScores = this.scores;
    for (let a = 0; a < end; ) {
      let b = a + 1;
      while (b < end && outScores[b] === outScores[a]) b++;
      if (b - a > 1) this.sortRunById(a, b);
      a = b;
    }
    this.size = Math.min(end, this.k);
  }

  /** Equal scores are rare (duplicate vectors): a plain comparator sort of the run's rows. */
  private sortRunById(from: number, to: number): void {
    const ids = this.ids;
    const run = Array.from(this.rows.subarray(from, to)).sort((a, b) => {
      const x = ids[a] as string;
      const y = ids[b] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    this.rows.set(run, from);
  }
}

/** Moves the `count` largest of the distinct numbers `keys[0, n)` to the front, in no order (quickselect). */
function selectLargest(keys: Float64Array, n: number, count: number): void {
  const target = count - 1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    partitionDescending(keys, lo, hi);
    const i = partitionBounds[0];
    const j = partitionBounds[1];
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return;
  }
}

/** Sorts the distinct numbers `keys[lo, hi]` (inclusive) in descending order. */
function sortDescending(keys: Float64Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    partitionDescending(keys, lo, hi);
    const i = partitionBounds[0];
    const j = partitionBounds[1];
    // Recursing into the smaller side bounds the stack depth by log n.
    if (j - lo < hi - i) {
      sortDescending(keys, lo, j);
      lo = i;
    } else {
      sortDescending(keys, i, hi);
      hi = j;
    }
  }
  for (let i = lo + 1; i <= hi; i++) {
    const x = keys[i];
    let j = i - 1;
    while (j >= lo && keys[j] < x) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = x;
  }
}

/**
 * partitionDescending's result (i, j): written here rather than returned as a pair, which allocated an array (and
 * its destructuring an iterator) per partition step, several times per search.
 */
const partitionBounds = new Int32Array(2);

/**
 * Hoare partition of distinct numbers around a median-of-three pivot: afterwards `[lo, j]` are at least the pivot
 * and `[i, hi]` at most it, with j < i; i and j are left in partitionBounds.
 */
function partitionDescending(keys: Float64Array, lo: number, hi: number): void {
  const a = keys[lo];
  const b = keys[(lo + hi) >>> 1];
  const c = keys[hi];
  const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
  let i = lo;
  let j = hi;
  while (i <= j) {
    while (keys[i] > pivot) i++;
    while (keys[j] < pivot) j--;
    if (i <= j) {
      const t = keys[i];
      keys[i] = keys[j];
      keys[j] = t;
      i++;
      j--;
    }
  }
  partitionBounds[0] = i;
  partitionBounds[1] = j;
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

/**
 * Moves row r of the matrix to row dest[r], for a permutation `dest` of [0, dest.length), in place: each cycle of
 * the permutation is followed with one row in hand. A second matrix to copy into would double the memory a
 * build needs (two 1M indexes hold half a GiB each), and its fresh pages cost more to fault in, in a VM, than
 * the copy itself.
 */
function permuteRows(matrix: Float32Array, stride: number, dest: Int32Array): void {
  const placed = new Uint8Array(dest.length);
  let carry = new Float32Array(stride);
  let displaced = new Float32Array(stride);
  for (let start = 0; start < dest.length; start++) {
    if (placed[start]) continue;
    placed[start] = 1;
    if (dest[start] === start) continue;
    for (let d = 0; d < stride; d++) carry[d] = matrix[start * stride + d];
    // Put the row in hand at its place and pick up the one it displaces, until the cycle closes at `start`.
    for (let to = dest[start]; ; to = dest[to]) {
      const at = to * stride;
      if (to !== start) for (let d = 0; d < stride; d++) displaced[d] = matrix[at + d];
      for (let d = 0; d < stride; d++) matrix[at + d] = carry[d];
      placed[to] = 1;
      if (to === start) break;
      const t = carry;
      carry = displaced;
      displaced = t;
    }
  }
}

/** The given rows of a matrix whose rows lie `srcStride` apart, as a dense `rows.length × dim` matrix. */
function gather(src: Float32Array, srcStride: number, dim: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++) out.set(src.subarray(rows[i] * srcStride, rows[i] * srcStride + dim), i * dim);
  return out;
}

/** Writes the `n` dense rows of `points` into kernel rows [at, at + n), growing it when needed. */
function loadRows(kernel: VectorKernel, at: number, points: Float32Array, n: number): void {
  kernel.ensureCapacity(at + n);
  for (let i = 0; i < n; i++) kernel.setRow(at + i, points, i * kernel.dim);
}

/**
 * The kernel row in `[first, last)` nearest in L2 to the query (kernel row `queryRow`, or the query slot when it is
 * -1): argmax of <x,c> - |c|²/2, where `halfNorms[row - normsFrom]` holds |c|²/2. The first on ties.
 */
function nearest(
  kernel: VectorKernel,
  queryRow: number,
  first: number,
  last: number,
  halfNorms: Float64Array,
  normsFrom: number,
): number {
  let best = first;
  let bestScore = -Infinity;
  for (let start = first; start < last; start += KERNEL_BATCH_ROWS) {
    const end = Math.min(last, start + KERNEL_BATCH_ROWS);
    const scores = queryRow < 0 ? kernel.dots(start, end) : kernel.dotsWithRow(queryRow, start, end);
    for (let c = start; c < end; c++) {
      const s = scores[c - start] - halfNorms[c - normsFrom];
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
  }
  return best;
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

/**
 * Lloyd's k-means with k-means++ seeding over `n` contiguous points. Returns k × dim centroids. `scratch` is a
 * kernel this call may overwrite: points go to rows [0, n), centroids to rows [n, n + k), so every inner product
 * is one kernel call with a row as the query and no copying.
 */
function kmeans(scratch: VectorKernel, points: Float32Array, n: number, dim: number, k: number, rng: () => number): Float32Array {
  loadRows(scratch, 0, points, n);
  const centroids = new Float32Array(k * dim);
  // k-means++ seeding: spread initial centroids so clusters do not start merged. Squared distances come from
  // |x|² - 2<x,c> + |c|², one kernel call per centroid over all points; clamped at 0, as rounding can take a
  // point's distance to itself a hair below.
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += points[i * dim + d] ** 2;
    norms[i] = s;
  }
  const minDist = new Float64Array(n).fill(Infinity);
  let chosen = Math.floor(rng() * n);
  for (let c = 0; c < k; c++) {
    centroids.set(points.subarray(chosen * dim, (chosen + 1) * dim), c * dim);
    if (c === k - 1) break;
    let total = 0;
    for (let start = 0; start < n; start += KERNEL_BATCH_ROWS) {
      const end = Math.min(n, start + KERNEL_BATCH_ROWS);
      const dots = scratch.dotsWithRow(chosen, start, end);
      for (let i = start; i < end; i++) {
        const dist = Math.max(0, norms[i] - 2 * dots[i - start] + norms[chosen]);
        if (dist < minDist[i]) minDist[i] = dist;
        total += minDist[i];
      }
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
    loadRows(scratch, n, centroids, k);
    const halfNorms = halfSquaredNorms(centroids, k, dim);
    let changed = 0;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = nearest(scratch, i, n, n + k, halfNorms, n) - n;
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
  /** The leaf centroids as rows [0, nlist); the top centroids follow them. */
  centroids: VectorKernel;
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
  const topSample = topSampleSize === n ? sample : gather(sample, dim, dim, sampleRows(identity(n), topSampleSize, rng));
  const scratch = createVectorKernel(dim, n + topK);
  try {
    const top = topK === 1 ? meanOf(sample, n, dim) : kmeans(scratch, topSample, topSampleSize, dim, topK, rng);
    const topHalf = halfSquaredNorms(top, topK, dim);

    const members: number[][] = Array.from({ length: topK }, () => []);
    loadRows(scratch, 0, sample, n);
    loadRows(scratch, n, top, topK);
    for (let i = 0; i < n; i++) members[nearest(scratch, i, n, n + topK, topHalf, n) - n].push(i);

    const leafParts: Float32Array[] = [];
    const childStart = new Int32Array(topK + 1);
    for (let t = 0; t < topK; t++) {
      const m = members[t].length;
      const k = m === 0 ? 0 : Math.max(1, Math.min(m, Math.round((nlist * m) / n)));
      if (k > 0) leafParts.push(kmeans(scratch, gather(sample, dim, dim, Int32Array.from(members[t])), m, dim, k, rng));
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
    const centroids = createVectorKernel(dim, total + topK);
    loadRows(centroids, 0, leaves, total);
    loadRows(centroids, total, top, topK);
    // A top cluster that got no sample points has no leaves: an infinite |c|²/2 keeps it from being chosen.
    const assignableTopHalf = topHalf.map((h, t) => (childStart[t + 1] === childStart[t] ? Infinity : h));
    return {
      nlist: total,
      centroids,
      assign(src, off) {
        centroids.setQuery(src, off);
        if (topK === 1) return nearest(centroids, -1, 0, total, leafHalf, 0);
        const bestTop = nearest(centroids, -1, total, total + topK, assignableTopHalf, total) - total;
        const first = childStart[bestTop];
        const last = childStart[bestTop + 1];
        // Only when every top scored -Infinity or NaN (float32 overflow) can the chosen one be empty: all leaves then.
        return first < last ? nearest(centroids, -1, first, last, leafHalf, 0) : nearest(centroids, -1, 0, total, leafHalf, 0);
      },
    };
  } finally {
    scratch.dispose();
  }
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
