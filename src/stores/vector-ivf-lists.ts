import { seededRandom } from "../util/random";
import { gather, quantiserFromParts, sampleRows, trainTwoLevelSteps, type Quantiser, type QuantiserParts } from "./vector-coarse-quantiser";
import { createVectorKernel, KERNEL_BATCH_ROWS, type VectorKernel } from "./vector-kernel";
import { runToEnd, type Steps } from "./vector-time-slices";
import { ScoreOrder } from "./vector-top-k";

/**
 * The inverted lists of the embedded index (IVF): every vector belongs to the list of its nearest centroid, and a
 * query scans only the lists whose centroids score best against it. At a build the rows are laid out list by list,
 * so a probe is one sequential scan; a vector written after the build is put in its list at once as a pending row
 * (scattered over the matrix, scored through the kernel's row list), so it is found like the others until the
 * next build lays it out.
 */
export interface IvfLists {
  readonly nlist: number;
  /** The coarse quantiser: the list centroids as kernel rows [0, nlist), and the list of a vector. */
  readonly quantiser: Quantiser;
  /** Rows [listStart[l], listStart[l+1]) were laid out in list l at the build. */
  readonly listStart: Int32Array;
  /** Rows [0, indexedRows) were laid out at the build; rows past it are pending (see `pendingOf`). */
  readonly indexedRows: number;
  /** The pending rows of list l, in the order they were added; undefined when it has none. */
  pendingOf(list: number): readonly number[] | undefined;
  /** Puts row `row` of `matrix` (rows `stride` floats apart), written after the build, in its nearest list; returns the list. */
  addPending(matrix: Float32Array, stride: number, row: number): number;
  /**
   * The lists in descending inner product of their centroid with `query`. Only the first `ordered` (at least
   * `first`) positions are ordered up front (a partial selection: a query nearly always stops there); `extend`
   * orders four times as many when a query needs more lists (most do on clustered data, where the nearest lists
   * are small: ordering all of them each time had cost as much as half the probes). Ties in a fixed order (the list number decides), so the order is the same
   * as a full sort's. The order is valid until the next call.
   */
  rank(query: Float32Array, first: number): RankedLists;
  dispose(): void;
}

export interface RankedLists {
  order: Int32Array;
  /** Positions [0, ordered) of `order` are in order; the rest are not yet. */
  readonly ordered: number;
  /** Orders more positions (the ones before stay as they are), all of them once few are left. */
  extend(): void;
}

/**
 * Lists per build when not fixed: 8·sqrt(N), at most MAX_NLIST. FAISS's rule of thumb is 4 to 16·sqrt(N); with
 * lists ranked by inner product with their centroid (as FAISS does for inner-product search), a list that k-means
 * left straddling two groups of vectors has a centroid between them that scores low for queries from either, and
 * its vectors are missed. Smaller lists straddle less. Measured on 1M × 64 clustered vectors (k = 100, nprobe 32):
 * recall@100 0.929 with sqrt(N) lists, 0.996 with 4·sqrt(N), and faster, as each probed list is smaller; on 100k ×
 * 65 (k = 300) 0.74 with sqrt(N), 0.87 with 4·sqrt(N), 0.94 with 8·sqrt(N). See docs/benchmarks.md.
 */
export const LISTS_PER_SQRT_N = 8;
/** Ranking the lists costs one inner product per list and query: past this it costs more than the probes. */
export const MAX_NLIST = 16_384;
/**
 * Training points per list: enough for stable centroids, few enough that a 1M build takes seconds, not minutes.
 * Training costs points × lists per top-level cluster (~sqrt(nlist)), so with 8·sqrt(N) lists it dominated a 1M
 * build at 32; 16 halved the build for a recall@100 loss of 0.001 (300k × 64) to 0.005 (100k × 65, k = 300).
 */
const TRAIN_POINTS_PER_LIST = 16;

export function defaultNlist(live: number): number {
  return Math.min(MAX_NLIST, Math.round(LISTS_PER_SQRT_N * Math.sqrt(live)));
}

/**
 * Trains the quantiser on a seeded sample of `liveRows` (row numbers in `kernel`'s matrix) and assigns every one of
 * them. Returns the lists and `dest`: dest[i] is where liveRows[i] goes, list by list (a counting sort). The caller
 * moves the rows there (`permuteRows`) and renumbers its ids; nothing here changes the matrix.
 */
export function buildIvfLists(
  kernel: VectorKernel,
  liveRows: Int32Array,
  options: { nlist: number; seed: number },
): { lists: IvfLists; dest: Int32Array } {
  return runToEnd(buildIvfListsSteps(kernel, liveRows, options));
}

/**
 * `buildIvfLists` in steps (vector-time-slices.ts), for a rebuild between searches: `liveRows` of `kernel` must
 * keep their vectors until it is done (the index only appends while it runs).
 */
export function* buildIvfListsSteps(
  kernel: VectorKernel,
  liveRows: Int32Array,
  options: { nlist: number; seed: number },
): Steps<{ lists: IvfLists; dest: Int32Array }> {
  const { dim, stride } = kernel;
  const live = liveRows.length;
  const nlist = Math.max(1, Math.min(live, options.nlist));
  // Seeded: builds must be reproducible.
  const rng = seededRandom(options.seed);
  const sampleSize = Math.min(live, Math.max(nlist * TRAIN_POINTS_PER_LIST, 1024));
  const sample = gather(kernel.matrix, stride, dim, sampleRows(liveRows, sampleSize, rng));
  const quantiser = yield* trainTwoLevelSteps(sample, dim, nlist, rng);
  yield;
  const assignment = yield* quantiser.assignRowsSteps(kernel, liveRows);
  const counts = new Int32Array(quantiser.nlist + 1);
  for (let i = 0; i < live; i++) counts[assignment[i] + 1]++;
  const listStart = new Int32Array(quantiser.nlist + 1);
  for (let l = 0; l < quantiser.nlist; l++) listStart[l + 1] = listStart[l] + counts[l + 1];
  const cursor = listStart.slice(0, quantiser.nlist);
  const dest = new Int32Array(live);
  for (let i = 0; i < live; i++) dest[i] = cursor[assignment[i]]++;
  return { lists: createIvfLists(quantiser, listStart, live), dest };
}

/**
 * The lists laid out again without training: every live row stays in the list it is in now (laid out at the build,
 * or pending since), under a copy of the same centroids. A rebuild's job is mostly the layout (pending rows are
 * scored scattered, dead rows still scanned); training new centroids costs the k-means and one nearest-centroid
 * search per row (seconds of a core at 100k rows), and while the data keeps its shape, centroids trained on
 * fewer rows still send every row to a good list (recall@100 measured the same with 100 % of the rows pending as
 * rebuilt, docs/benchmarks.md). `rows`: the high-water mark of the matrix the lists index; `liveRows` ⊆ [0, rows).
 * Returns the new lists and `dest` as `buildIvfListsSteps` does.
 */
export function* relayoutIvfListsSteps(lists: IvfLists, liveRows: Int32Array, rows: number): Steps<{ lists: IvfLists; dest: Int32Array }> {
  const { nlist, listStart, indexedRows } = lists;
  const listOf = new Int32Array(rows).fill(-1);
  for (let l = 0; l < nlist; l++) listOf.fill(l, listStart[l], listStart[l + 1]);
  for (let l = 0; l < nlist; l++) {
    const pending = lists.pendingOf(l);
    if (pending) for (const r of pending) if (r < rows) listOf[r] = l;
  }
  yield;
  const live = liveRows.length;
  const nextStart = new Int32Array(nlist + 1);
  for (let i = 0; i < live; i++) {
    const l = listOf[liveRows[i]];
    if (l < 0) throw new RangeError(`IVF relayout: row ${liveRows[i]} is in no list (${indexedRows} laid out)`);
    nextStart[l + 1]++;
  }
  for (let l = 0; l < nlist; l++) nextStart[l + 1] += nextStart[l];
  const cursor = nextStart.slice(0, nlist);
  const dest = new Int32Array(live);
  for (let i = 0; i < live; i++) dest[i] = cursor[listOf[liveRows[i]]]++;
  return { lists: createIvfLists(quantiserFromParts(lists.quantiser.parts()), nextStart, live), dest };
}

/**
 * FAISS's imbalance factor of the lists as they are now (laid out and pending rows, dead ones included):
 * nlist · Σ size² / N², 1 when every list is the same size. A search costs about this times what balanced lists
 * would cost, so it says when new data has piled into a few lists and the centroids should follow it.
 */
export function imbalanceFactor(lists: IvfLists): number {
  let total = 0;
  let squares = 0;
  for (let l = 0; l < lists.nlist; l++) {
    const size = lists.listStart[l + 1] - lists.listStart[l] + (lists.pendingOf(l)?.length ?? 0);
    total += size;
    squares += size * size;
  }
  return total === 0 ? 1 : (lists.nlist * squares) / (total * total);
}

/**
 * A build as plain arrays, for a build on another thread (vector-build-worker.ts): the rows it was given, laid out
 * list by list, and what the index needs to swap them in (`ivfListsFromLayout`).
 */
export interface IvfLayout {
  /** The rows, `stride` floats each, laid out: row dest[i] holds input row i. */
  rows: Float32Array;
  /** Where input row i went. */
  dest: Int32Array;
  /** Rows [listStart[l], listStart[l+1]) are list l's. */
  listStart: Int32Array;
  quantiser: QuantiserParts;
}

/**
 * `buildIvfListsSteps` over a dense copy of the live rows (`rows`: `stride` floats each, dim rounded up to 4 and
 * zero-padded, as a kernel holds them), which it then lays out in place, list by list. The same rows in the same
 * order and the same seed give the same lists as `buildIvfListsSteps` over the index's own matrix (the sample is
 * drawn by position), so a build on the build thread equals one in time slices on the serving thread.
 */
export function* buildIvfLayoutSteps(rows: Float32Array, dim: number, options: { nlist: number; seed: number }): Steps<IvfLayout> {
  const stride = Math.ceil(dim / 4) * 4;
  if (rows.length % stride !== 0) throw new RangeError(`IVF build: ${rows.length} floats are not whole rows of ${stride}`);
  const live = rows.length / stride;
  const kernel = createVectorKernel(dim, Math.max(1, live));
  try {
    kernel.matrix.set(rows);
    const liveRows = new Int32Array(live);
    for (let i = 0; i < live; i++) liveRows[i] = i;
    const { lists, dest } = yield* buildIvfListsSteps(kernel, liveRows, options);
    // The kernel holds a copy, so the input can take the layout directly (no permutation in place).
    const m = kernel.matrix;
    for (let i = 0; i < live; i++) {
      if ((i & 8191) === 8191) yield;
      rows.set(m.subarray(i * stride, (i + 1) * stride), dest[i] * stride);
    }
    lists.dispose();
    return { rows, dest, listStart: lists.listStart, quantiser: lists.quantiser.parts() };
  } finally {
    kernel.dispose();
  }
}

/** The lists of a layout (rows [0, dest.length) laid out, none pending yet), with a quantiser of its own. */
export function ivfListsFromLayout(layout: IvfLayout): IvfLists {
  return createIvfLists(quantiserFromParts(layout.quantiser), layout.listStart, layout.dest.length);
}

function createIvfLists(quantiser: Quantiser, listStart: Int32Array, indexedRows: number): IvfLists {
  const nlist = quantiser.nlist;
  const pending: (number[] | undefined)[] = new Array(nlist);
  // Ranking scratch, kept between queries: allocating it cost a query more than filling it.
  const scores = new Float32Array(nlist);
  const order = new Int32Array(nlist);
  const ordering = new ScoreOrder();

  return {
    nlist,
    quantiser,
    listStart,
    indexedRows,

    pendingOf(list) {
      return pending[list];
    },

    addPending(matrix, stride, row) {
      const list = quantiser.assign(matrix, row * stride);
      (pending[list] ??= []).push(row);
      return list;
    },

    rank(query, first) {
      const centroids = quantiser.centroids;
      centroids.setQuery(query);
      for (let start = 0; start < nlist; start += KERNEL_BATCH_ROWS) {
        const end = Math.min(nlist, start + KERNEL_BATCH_ROWS);
        scores.set(centroids.dots(start, end).subarray(0, end - start), start);
      }
      let ordered = Math.min(first, nlist);
      ordering.orderFirst(scores, nlist, ordered, order);
      return {
        order,
        get ordered() {
          return ordered;
        },
        extend() {
          if (ordered >= nlist) return;
          // A longer prefix of the same order: keys are distinct, so the positions ordered before do not move.
          ordered = ordered * 4 >= nlist / 2 ? nlist : ordered * 4;
          if (ordered === nlist) ordering.orderRest(scores, nlist, order);
          else ordering.orderFirst(scores, nlist, ordered, order);
        },
      };
    },

    dispose() {
      quantiser.centroids.dispose();
    },
  };
}

/**
 * Moves row r of the matrix to row dest[r], for a permutation `dest` of [0, dest.length), in place: each cycle of
 * the permutation is followed with one row in hand. A second matrix to copy into would double the memory a
 * build needs (two 1M indexes hold half a GiB each), and its fresh pages cost more to fault in, in a VM, than
 * the copy itself.
 */
export function permuteRows(matrix: Float32Array, stride: number, dest: Int32Array): void {
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
