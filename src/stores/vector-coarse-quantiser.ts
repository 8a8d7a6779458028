import { createVectorKernel, KERNEL_BATCH_ROWS, type VectorKernel } from "./vector-kernel";
import { runToEnd, type Steps } from "./vector-time-slices";

/**
 * The coarse quantiser of the embedded index's IVF lists: k-means (k-means++ seeding, Lloyd iterations) trained in
 * two levels, and the assignment of a vector to its list. Every inner product goes through the SIMD kernel
 * (vector-kernel.ts): a k-means step is a kernel call with a point as the query and the centroids as the rows.
 * Training and batch assignment are generators that yield every few milliseconds of work (vector-time-slices.ts),
 * so a rebuild can run between searches; `trainTwoLevel` and `assignRows` run them to the end at once.
 */

/** Points handled between yields in the k-means loops (each costs one kernel call over k centroids). */
const POINTS_PER_STEP = 512;

const KMEANS_ITERATIONS = 10;

/** `count` distinct entries of `from`, chosen uniformly (partial Fisher-Yates on a copy). */
export function sampleRows(from: Int32Array, count: number, rng: () => number): Int32Array {
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

/** The given rows of a matrix whose rows lie `srcStride` apart, as a dense `rows.length × dim` matrix. */
export function gather(src: Float32Array, srcStride: number, dim: number, rows: Int32Array): Float32Array {
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

export function halfSquaredNorms(centroids: Float32Array, k: number, dim: number): Float64Array {
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
function* kmeans(scratch: VectorKernel, points: Float32Array, n: number, dim: number, k: number, rng: () => number): Steps<Float32Array> {
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
    yield;
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
      if (i % POINTS_PER_STEP === POINTS_PER_STEP - 1) yield;
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

export interface Quantiser {
  nlist: number;
  /** The leaf centroids as rows [0, nlist); the top centroids follow them. */
  centroids: VectorKernel;
  /** The list of the vector at `src[offset .. offset+dim)`. */
  assign(src: Float32Array, offset: number): number;
  /**
   * The lists of rows `rows` of `kernel`'s matrix, the same as `assign` gives each: a build assigns every vector,
   * and one kernel call per centroid and 4,096 rows costs far less than two calls per vector.
   */
  assignRows(kernel: VectorKernel, rows: Int32Array): Int32Array;
  /** `assignRows` in steps of one kernel batch: `kernel`'s rows must not change until it is done. */
  assignRowsSteps(kernel: VectorKernel, rows: Int32Array): Steps<Int32Array>;
  /** The trained centroids as plain arrays (to send to another thread); `quantiserFromParts` gives it back. */
  parts(): QuantiserParts;
}

/**
 * A two-level coarse quantiser: ~sqrt(nlist) top clusters, each split into leaves in proportion to its share of the
 * sample. Assigning a vector costs ~2·sqrt(nlist) dot products instead of nlist, which is what keeps a 1M-vector
 * build to seconds. Queries still rank all leaves directly, so probing is as precise as a flat quantiser.
 */
export function trainTwoLevel(sample: Float32Array, dim: number, nlist: number, rng: () => number): Quantiser {
  return runToEnd(trainTwoLevelSteps(sample, dim, nlist, rng));
}

/** `trainTwoLevel` in steps (vector-time-slices.ts). */
export function* trainTwoLevelSteps(sample: Float32Array, dim: number, nlist: number, rng: () => number): Steps<Quantiser> {
  const n = sample.length / dim;
  const topK = nlist <= 64 ? 1 : Math.min(nlist, Math.ceil(Math.sqrt(nlist)));
  const topSampleSize = Math.min(n, topK * 64);
  const topSample = topSampleSize === n ? sample : gather(sample, dim, dim, sampleRows(identity(n), topSampleSize, rng));
  const scratch = createVectorKernel(dim, n + topK);
  try {
    const top = topK === 1 ? meanOf(sample, n, dim) : yield* kmeans(scratch, topSample, topSampleSize, dim, topK, rng);
    const topHalf = halfSquaredNorms(top, topK, dim);

    const members: number[][] = Array.from({ length: topK }, () => []);
    loadRows(scratch, 0, sample, n);
    loadRows(scratch, n, top, topK);
    for (let i = 0; i < n; i++) {
      if (i % POINTS_PER_STEP === POINTS_PER_STEP - 1) yield;
      members[nearest(scratch, i, n, n + topK, topHalf, n) - n].push(i);
    }

    const leafParts: Float32Array[] = [];
    const childStart = new Int32Array(topK + 1);
    for (let t = 0; t < topK; t++) {
      const m = members[t].length;
      const k = m === 0 ? 0 : Math.max(1, Math.min(m, Math.round((nlist * m) / n)));
      if (k > 0) leafParts.push(yield* kmeans(scratch, gather(sample, dim, dim, Int32Array.from(members[t])), m, dim, k, rng));
      childStart[t + 1] = childStart[t] + k;
    }
    const total = childStart[topK];
    const centroids = new Float32Array((total + topK) * dim);
    let offset = 0;
    for (const part of leafParts) {
      centroids.set(part, offset);
      offset += part.length;
    }
    centroids.set(top, total * dim);
    return quantiserFromParts({ dim, nlist: total, topK, centroids, childStart });
  } finally {
    scratch.dispose();
  }
}

/**
 * A trained two-level quantiser as plain arrays: what the build thread (vector-build-worker.ts) sends back, and all
 * `quantiserFromParts` needs to assign exactly as the quantiser that was trained.
 */
export interface QuantiserParts {
  dim: number;
  /** Leaf centroids, one per list. */
  nlist: number;
  /** Top clusters (1: one level, the mean of the sample). */
  topK: number;
  /** (nlist + topK) × dim, dense: the leaves, then the top centroids. */
  centroids: Float32Array;
  /** The leaves of top cluster t are [childStart[t], childStart[t + 1]). */
  childStart: Int32Array;
}

/** The quantiser the parts describe (see QuantiserParts); the parts are kept, not copied. */
export function quantiserFromParts(parts: QuantiserParts): Quantiser {
  const { dim, nlist: total, topK, childStart } = parts;
  const leaves = parts.centroids.subarray(0, total * dim);
  const top = parts.centroids.subarray(total * dim, (total + topK) * dim);
  const topHalf = halfSquaredNorms(top, topK, dim);
  const leafHalf = halfSquaredNorms(leaves, total, dim);
  const centroids = createVectorKernel(dim, total + topK);
  loadRows(centroids, 0, leaves, total);
  loadRows(centroids, total, top, topK);
  // A top cluster that got no sample points has no leaves: an infinite |c|²/2 keeps it from being chosen.
  const assignableTopHalf = topHalf.map((h, t) => (childStart[t + 1] === childStart[t] ? Infinity : h));
  /**
   * For each of `members` (indices into `rows`), the centroid in [first, last) nearest in L2, as `nearest` picks
   * it (first on ties; -1 when every score is -Infinity or NaN): each centroid in turn is the query of `kernel`,
   * scored against the members' rows through its row list. Yields after each batch of rows (the row list and
   * the query slot are filled again for the next one).
   */
  const nearestOf = function* (kernel: VectorKernel, rows: Int32Array, members: Int32Array, first: number, last: number, half: Float64Array, halfFrom: number, out: Int32Array): Steps<void> {
    const best = new Float64Array(KERNEL_BATCH_ROWS);
    const cm = centroids.matrix;
    for (let start = 0; start < members.length; start += KERNEL_BATCH_ROWS) {
      const end = Math.min(members.length, start + KERNEL_BATCH_ROWS);
      const list = kernel.rowList;
      for (let i = start; i < end; i++) list[i - start] = rows[members[i]];
      best.fill(-Infinity);
      for (let i = start; i < end; i++) out[members[i]] = -1;
      for (let c = first; c < last; c++) {
        kernel.setQuery(cm, c * centroids.stride);
        const scores = kernel.dotsAt(end - start);
        const h = half[c - halfFrom];
        for (let i = 0; i < end - start; i++) {
          const score = scores[i] - h;
          if (score > best[i]) {
            best[i] = score;
            out[members[start + i]] = c;
          }
        }
      }
      yield;
    }
  };
  const assign = (src: Float32Array, off: number): number => {
    centroids.setQuery(src, off);
    if (topK === 1) return nearest(centroids, -1, 0, total, leafHalf, 0);
    const bestTop = nearest(centroids, -1, total, total + topK, assignableTopHalf, total) - total;
    const first = childStart[bestTop];
    const last = childStart[bestTop + 1];
    // Only when every top scored -Infinity or NaN (float32 overflow) can the chosen one be empty: all leaves then.
    return first < last ? nearest(centroids, -1, first, last, leafHalf, 0) : nearest(centroids, -1, 0, total, leafHalf, 0);
  };
  const assignRowsSteps = function* (kernel: VectorKernel, rows: Int32Array): Steps<Int32Array> {
    const lists = new Int32Array(rows.length);
    const all = identity(rows.length);
    if (topK === 1) {
      yield* nearestOf(kernel, rows, all, 0, total, leafHalf, 0, lists);
    } else {
      const tops = new Int32Array(rows.length);
      yield* nearestOf(kernel, rows, all, total, total + topK, assignableTopHalf, total, tops);
      // Members of each top, by a counting sort; -1 (every top -Infinity or NaN) is left to `assign`.
      const counts = new Int32Array(topK + 1);
      for (let i = 0; i < rows.length; i++) if (tops[i] >= 0) counts[tops[i] - total + 1]++;
      for (let t = 0; t < topK; t++) counts[t + 1] += counts[t];
      const byTop = new Int32Array(counts[topK]);
      const cursor = counts.slice(0, topK);
      for (let i = 0; i < rows.length; i++) if (tops[i] >= 0) byTop[cursor[tops[i] - total]++] = i;
      for (let t = 0; t < topK; t++) {
        const members = byTop.subarray(counts[t], counts[t + 1]);
        if (members.length > 0) yield* nearestOf(kernel, rows, members, childStart[t], childStart[t + 1], leafHalf, 0, lists);
      }
      for (let i = 0; i < rows.length; i++) if (tops[i] < 0) lists[i] = -1;
    }
    // The rare rest (a score of -Infinity or NaN everywhere it looked): one by one, as `assign` does it.
    for (let i = 0; i < rows.length; i++) {
      if (lists[i] < 0) lists[i] = assign(kernel.matrix, rows[i] * kernel.stride);
    }
    return lists;
  };
  return {
    nlist: total,
    centroids,
    assign,
    assignRowsSteps,
    assignRows: (kernel, rows) => runToEnd(assignRowsSteps(kernel, rows)),
    parts: () => parts,
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
