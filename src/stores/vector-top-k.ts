import type { VectorHit } from "./vector-index";

/**
 * The best-k selection of a vector search: (score, row) pairs streamed in by the scan, the best k kept by
 * descending score, then ascending id. One concept of the embedded index (vector-index-embedded.ts), kept apart
 * because its number tricks (positions packed into float64 keys, a quickselect on plain numbers) are easier to
 * read and test alone.
 */

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
export class TopK {
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

  /** The best k (fewer when fewer were accepted), best first; their rows go to `rowsOut` when given. */
  hits(rowsOut?: number[]): VectorHit[] {
    this.order();
    const out: VectorHit[] = new Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = { id: this.ids[this.rows[i]] as string, score: this.scores[i] };
    if (rowsOut) for (let i = 0; i < this.size; i++) rowsOut[i] = this.rows[i];
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

/**
 * Orders positions [0, n) by a float32 score each, best first, only as far as asked: the IVF lists by their
 * centroid's score for a query, of which a query probes a few dozen out of thousands. The same packed keys as TopK
 * (position in the low bits, so ties keep a fixed order and no comparator is called back per comparison), and only
 * the scores above a threshold taken from a sample are packed and selected: ranking 8,000 lists had cost a 1M
 * search as much as its probes.
 */
export class ScoreOrder {
  private keys = new Float64Array(0);
  private keyWords = new Uint32Array(0);

  /** Writes to `order[0, m)` the best `m` positions, best first; the rest of `order` only after `orderRest`. */
  orderFirst(scores: Float32Array, n: number, m: number, order: Int32Array): void {
    this.reserve(n);
    const first = Math.min(m, n);
    let candidates = -1;
    if (first * SAMPLE_STRIDE < n && n >= 1024) candidates = this.packAboveSampledThreshold(scores, n, first);
    // Too few passed (or too small to bother): all of them.
    if (candidates < first) candidates = this.packAll(scores, n);
    const { keys, keyWords } = this;
    if (first > 0 && first < candidates) selectLargest(keys, candidates, first);
    if (first > 1) sortDescending(keys, 0, first - 1);
    for (let i = 0; i < first; i++) order[i] = keyWords[2 * i + LOW_WORD] & POSITION_MASK;
  }

  /** After `orderFirst(…, n, m, order)`: all of `order`, best first (its first m unchanged). */
  orderRest(scores: Float32Array, n: number, order: Int32Array): void {
    this.reserve(n);
    this.packAll(scores, n);
    sortDescending(this.keys, 0, n - 1);
    const keyWords = this.keyWords;
    for (let i = 0; i < n; i++) order[i] = keyWords[2 * i + LOW_WORD] & POSITION_MASK;
  }

  private reserve(n: number): void {
    if (n > POSITION_MASK + 1) throw new RangeError(`ScoreOrder: ${n} positions exceed ${POSITION_MASK + 1}`);
    if (this.keys.length < n) {
      this.keys = new Float64Array(n);
      this.keyWords = new Uint32Array(this.keys.buffer);
    }
  }

  private packAll(scores: Float32Array, n: number): number {
    for (let i = 0; i < n; i++) this.pack(i, scores[i], i);
    return n;
  }

  /**
   * Packs the scores at or above a threshold that about twice `first` of a 1-in-SAMPLE_STRIDE sample reach; returns
   * how many. When at least `first` pass, the best `first` are all among them (every other score is below a
   * threshold that `first` scores reach).
   */
  private packAboveSampledThreshold(scores: Float32Array, n: number, first: number): number {
    const samples = Math.floor(n / SAMPLE_STRIDE);
    const want = Math.min(samples, Math.ceil((2 * first) / SAMPLE_STRIDE) + 4);
    for (let j = 0; j < samples; j++) this.pack(j, scores[j * SAMPLE_STRIDE], j);
    selectLargest(this.keys, samples, want);
    let threshold = Infinity;
    for (let j = 0; j < want; j++) {
      const s = scores[(this.keyWords[2 * j + LOW_WORD] & POSITION_MASK) * SAMPLE_STRIDE];
      if (s < threshold) threshold = s;
    }
    // NaN never passes: it ranks last.
    let w = 0;
    for (let i = 0; i < n; i++) {
      const s = scores[i];
      if (s >= threshold) this.pack(w++, s, i);
    }
    return w;
  }

  private pack(at: number, s: number, position: number): void {
    // NaN (a float32 overflow) goes last, as in TopK.
    this.keys[at] = s === Infinity ? INFINITY_KEY : s === -Infinity || s !== s ? -INFINITY_KEY : s;
    this.keyWords[2 * at + LOW_WORD] |= position;
  }
}

/** One score in this many goes into the sample that sets ScoreOrder's threshold. */
const SAMPLE_STRIDE = 8;
