/**
 * The numeric contract between feature code (src/features) and models (src/training): a model is built from a
 * FeatureSpec, and fed FeatureBatches built by the same functions online and offline.
 *
 * Index 0 of every vocabulary is reserved: 0 = padding / unknown (out-of-vocabulary ids hash into buckets
 * 1..oovBuckets, known ids follow). Bags (multi-valued columns, e.g. watch history or tags) are fixed-length and
 * padded with 0; models mask index 0 out when pooling.
 */
export interface CategoricalColumn {
  name: string;
  vocabSize: number;
  /** Embedding width the model uses for this column. */
  dim: number;
}

export interface BagColumn extends CategoricalColumn {
  /** Fixed number of slots per row. */
  length: number;
}

export interface FeatureSpec {
  categorical: CategoricalColumn[];
  bags: BagColumn[];
  /** Dense columns, already normalised (z-score / log / cyclical) by the feature code. */
  dense: string[];
}

export interface FeatureBatch {
  size: number;
  /** One array per categorical column, each of length `size`. */
  categorical: Int32Array[];
  /** One array per bag column, each of length `size * column.length` (row-major). */
  bags: Int32Array[];
  /** Row-major, `size * spec.dense.length`. */
  dense: Float32Array;
}

/** Concatenates rows (batches of any size) into one batch. */
export function concatBatches(spec: FeatureSpec, parts: readonly FeatureBatch[]): FeatureBatch {
  const out = allocBatch(spec, parts.reduce((s, p) => s + p.size, 0));
  let row = 0;
  for (const p of parts) {
    out.categorical.forEach((a, c) => a.set(p.categorical[c], row));
    out.bags.forEach((a, b) => a.set(p.bags[b], row * spec.bags[b].length));
    out.dense.set(p.dense, row * spec.dense.length);
    row += p.size;
  }
  return out;
}

/** Rows [start, end) of a batch. */
export function sliceBatch(spec: FeatureSpec, batch: FeatureBatch, start: number, end: number): FeatureBatch {
  const d = spec.dense.length;
  return {
    size: end - start,
    categorical: batch.categorical.map((a) => a.subarray(start, end)),
    bags: batch.bags.map((a, b) => a.subarray(start * spec.bags[b].length, end * spec.bags[b].length)),
    dense: batch.dense.subarray(start * d, end * d),
  };
}

/** Rows at the given indices, in that order. */
export function takeRows(spec: FeatureSpec, batch: FeatureBatch, rows: ArrayLike<number>): FeatureBatch {
  const n = rows.length;
  const d = spec.dense.length;
  const out = allocBatch(spec, n);
  out.categorical.forEach((a, c) => {
    for (let i = 0; i < n; i++) a[i] = batch.categorical[c][rows[i]];
  });
  out.bags.forEach((a, b) => {
    const len = spec.bags[b].length;
    for (let i = 0; i < n; i++) a.set(batch.bags[b].subarray(rows[i] * len, rows[i] * len + len), i * len);
  });
  for (let i = 0; i < n; i++) out.dense.set(batch.dense.subarray(rows[i] * d, rows[i] * d + d), i * d);
  return out;
}

/** A zeroed batch of `size` rows of `spec`. */
export function allocBatch(spec: FeatureSpec, size: number): FeatureBatch {
  return {
    size,
    categorical: spec.categorical.map(() => new Int32Array(size)),
    bags: spec.bags.map((c) => new Int32Array(size * c.length)),
    dense: new Float32Array(size * spec.dense.length),
  };
}

/**
 * Batches of one spec kept for reuse, by row count: `take` one, fill every value of it, `give` it back once nothing
 * reads it any more (its model run has settled).
 *
 * Why: a batch's arrays live outside V8's heap (typed-array backing stores), and V8 starts a full mark of the whole
 * heap each time some 64 MB of such memory has been allocated since the last one. A 500-row ranker batch is ~190 KB,
 * so a fresh batch per request made V8 mark the whole serving heap (the catalogue, the stores: 330–780 ms of its
 * helper threads' CPU each time) every few hundred requests (docs/benchmarks-feed.md, round 8).
 */
export interface BatchPool {
  /** A batch of `size` rows: a given-back one if there is one (holding its old values), else a new, zeroed one. */
  take(size: number): FeatureBatch;
  /** Returns a taken batch; beyond `keep` batches of its size, it is left to the garbage collector. */
  give(batch: FeatureBatch): void;
}

export function createBatchPool(spec: FeatureSpec, keep = 4): BatchPool {
  const free = new Map<number, FeatureBatch[]>();
  return {
    take(size) {
      return free.get(size)?.pop() ?? allocBatch(spec, size);
    },
    give(batch) {
      let list = free.get(batch.size);
      if (!list) free.set(batch.size, (list = []));
      if (list.length < keep && !list.includes(batch)) list.push(batch);
    },
  };
}
