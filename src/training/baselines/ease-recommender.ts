/**
 * EASE^R (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): an item × item linear model
 * with a zero diagonal, learned in closed form:
 *
 *   P = (XᵀX + λI)⁻¹,   B = I − P · diag(1 / diag(P))   (so B_ij = −P_ij / P_jj, B_ii = 0),
 *   score(u, j) = Σ_i X_ui · B_ij.
 *
 * The inverse is dense and O(n³) in plain TypeScript, so the model is restricted to the `maxItems` items with the
 * most training users. Items outside that set get no EASE score and are never recommended by this model; users
 * whose history has none of them get []. XᵀX + λI is symmetric positive definite (λ > 0), so it is inverted via
 * Cholesky (G = LLᵀ, G⁻¹ = L⁻ᵀL⁻¹): about n³/2 multiply-adds, half of Gauss–Jordan, all in contiguous row loops.
 * See DEFAULT_EASE_MAX_ITEMS for measured fit times.
 */
import { badInput, ReelfeedError } from "../../errors";
import { buildInteractionMatrix } from "./interaction-matrix";
import type { Interactions, Recommender } from "./recommender";
import { topKIndices } from "./top-k";

/**
 * Default cap on EASE's item set. Fit time grows as n³ (≈ n³/2 multiply-adds, and worse once the n × n matrices
 * leave the cache). Measured on MovieLens-small (all ratings, time split) on the 2-core dev box, whose scalar
 * ceiling is ~0.4 G multiply-adds/s: whole fit n = 1000 ≈ 2.5 s, 2000 ≈ 12.7 s (the inverse alone ≈ 0.8 s and
 * ≈ 12 s), 1500 ≈ 12 s under heavy load from other jobs. 2000 items hold ~83 % of the positive interactions.
 */
export const DEFAULT_EASE_MAX_ITEMS = 2000;

/** Options for {@link createEaseRecommender}. */
export interface EaseRecommenderOptions extends EaseFitOptions {
  /** Report key. @default "ease" */
  name?: string;
}

/*
 * The three kernels below are plain row loops over contiguous memory. Two measured tricks (≈3× at n = 1000 on
 * the dev box, whose scalar ceiling is only ~0.4 G multiply-adds/s): the Cholesky dot product keeps four
 * independent accumulators (the add latency chain, not the loads, was the limit), and the two axpy kernels
 * consume two source rows per pass so each destination row is loaded and stored half as often.
 */

/** In-place Cholesky of the lower triangle of the n × n row-major SPD matrix `a`: afterwards its lower part is L. */
function choleskyInPlace(a: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s0 = a[ri + j];
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let k = 0;
      for (; k + 3 < j; k += 4) {
        s0 -= a[ri + k] * a[rj + k];
        s1 -= a[ri + k + 1] * a[rj + k + 1];
        s2 -= a[ri + k + 2] * a[rj + k + 2];
        s3 -= a[ri + k + 3] * a[rj + k + 3];
      }
      for (; k < j; k++) s0 -= a[ri + k] * a[rj + k];
      const s = s0 + s1 + (s2 + s3);
      if (i === j) {
        if (!(s > 0)) throw new ReelfeedError("INTERNAL", `EASE: Gram matrix is not positive definite at ${i} (λ too small?)`);
        a[ri + i] = Math.sqrt(s);
      } else {
        a[ri + j] = s / a[rj + j];
      }
    }
  }
}

/** M = L⁻¹ (lower triangular), by forward substitution one row at a time: row i = (e_i − Σ_k<i L_ik · row k) / L_ii. */
function invertLower(l: Float64Array, n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let k = 0;
    for (; k + 1 < i; k += 2) {
      const c0 = l[ri + k];
      const c1 = l[ri + k + 1];
      const r0 = k * n;
      const r1 = r0 + n;
      for (let j = 0; j <= k; j++) m[ri + j] -= c0 * m[r0 + j] + c1 * m[r1 + j];
      m[ri + k + 1] -= c1 * m[r1 + k + 1];
    }
    for (; k < i; k++) {
      const c = l[ri + k];
      const rk = k * n;
      for (let j = 0; j <= k; j++) m[ri + j] -= c * m[rk + j];
    }
    m[ri + i] += 1;
    const inv = 1 / l[ri + i];
    for (let j = 0; j <= i; j++) m[ri + j] *= inv;
  }
  return m;
}

/** Writes P = MᵀM (full, symmetric) into `out`, accumulating rows k of M into rows i ≤ k of P. */
function gramOfLower(m: Float64Array, n: number, out: Float64Array): void {
  out.fill(0);
  let k = 0;
  for (; k + 1 < n; k += 2) {
    const r0 = k * n;
    const r1 = r0 + n;
    for (let i = 0; i <= k; i++) {
      const c0 = m[r0 + i];
      const c1 = m[r1 + i];
      const ri = i * n;
      for (let j = 0; j <= i; j++) out[ri + j] += c0 * m[r0 + j] + c1 * m[r1 + j];
    }
    // Row k + 1 of P only gets row k + 1 of M (M is lower triangular, so M[k][k + 1] = 0).
    const ri = (k + 1) * n;
    const c1 = m[r1 + k + 1];
    for (let j = 0; j <= k + 1; j++) out[ri + j] += c1 * m[r1 + j];
  }
  for (; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const c = m[rk + i];
      const ri = i * n;
      for (let j = 0; j <= i; j++) out[ri + j] += c * m[rk + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j];
}

/** Options of {@link fitEase}. */
export interface EaseFitOptions {
  /** L2 regularisation λ added to the Gram matrix diagonal. @default 200 */
  lambda?: number;
  /** Only the most popular `maxItems` training items enter the model (O(n³) fit). @default DEFAULT_EASE_MAX_ITEMS */
  maxItems?: number;
  /** Treat every present (user, item) pair as 1, ignoring weights. @default true */
  binary?: boolean;
}

/** A fitted EASE model: the item set (most popular first), each known user's history on it, and the weights B. */
export interface EaseModel {
  itemIds: string[];
  itemIndex: Map<string, number>;
  /** Per known user, their history restricted to the model's items: dense indices and values. */
  history: Map<string, { items: Uint32Array; values: Float64Array }>;
  /** n × n row-major weights B: score(u, j) = Σ_i X_ui · B[i·n + j]. */
  weights: Float64Array;
}

/**
 * Fits EASE in closed form (see the top of this file). Shared by the baseline recommender and the item-neighbour
 * model that serving uses (src/features/item-neighbours.ts keeps each row's strongest weights).
 */
export function fitEase(train: Interactions, options: EaseFitOptions = {}): EaseModel {
  const { lambda = 200, maxItems = DEFAULT_EASE_MAX_ITEMS, binary = true } = options;
  if (!(lambda > 0)) throw badInput("lambda", `must be > 0, got ${lambda}`);
  if (!Number.isInteger(maxItems) || maxItems <= 0) throw badInput("maxItems", `must be a positive integer, got ${maxItems}`);
  const m = buildInteractionMatrix(train, { binary });
  const all = m.itemIds.length;
  // Most users first; ties by id so the item set is reproducible.
  const order = Array.from({ length: all }, (_, i) => i).sort(
    (a, b) =>
      m.itemPtr[b + 1] - m.itemPtr[b] - (m.itemPtr[a + 1] - m.itemPtr[a]) ||
      (m.itemIds[a] < m.itemIds[b] ? -1 : m.itemIds[a] > m.itemIds[b] ? 1 : 0),
  );
  const n = Math.min(maxItems, all);
  const dense = new Int32Array(all).fill(-1);
  const itemIds: string[] = [];
  for (let d = 0; d < n; d++) {
    dense[order[d]] = d;
    itemIds.push(m.itemIds[order[d]]);
  }

  const history = new Map<string, { items: Uint32Array; values: Float64Array }>();
  const g = new Float64Array(n * n);
  for (let u = 0; u < m.userIds.length; u++) {
    const items: number[] = [];
    const values: number[] = [];
    for (let q = m.userPtr[u]; q < m.userPtr[u + 1]; q++) {
      const d = dense[m.itemsOfUser[q]];
      if (d >= 0) {
        items.push(d);
        values.push(m.userValues[q]);
      }
    }
    if (items.length === 0) continue;
    history.set(m.userIds[u], { items: Uint32Array.from(items), values: Float64Array.from(values) });
    // Lower triangle of XᵀX only: Cholesky reads nothing else.
    for (let x = 0; x < items.length; x++) {
      const rx = items[x] * n;
      for (let y = 0; y < items.length; y++) {
        if (items[y] <= items[x]) g[rx + items[y]] += values[x] * values[y];
      }
    }
  }
  for (let i = 0; i < n; i++) g[i * n + i] += lambda;

  choleskyInPlace(g, n);
  const inverseL = invertLower(g, n);
  const p = g; // L is no longer needed: reuse its buffer for P, then for B.
  gramOfLower(inverseL, n, p);
  const invDiag = new Float64Array(n);
  for (let j = 0; j < n; j++) invDiag[j] = 1 / p[j * n + j];
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < n; j++) p[ri + j] = i === j ? 0 : -p[ri + j] * invDiag[j];
  }
  return { itemIds, itemIndex: new Map(itemIds.map((id, d) => [id, d])), history, weights: p };
}

export function createEaseRecommender(options: EaseRecommenderOptions = {}): Recommender {
  const { name = "ease", ...fit } = options;
  if (fit.lambda !== undefined && !(fit.lambda > 0)) throw badInput("lambda", `must be > 0, got ${fit.lambda}`);
  if (fit.maxItems !== undefined && (!Number.isInteger(fit.maxItems) || fit.maxItems <= 0)) throw badInput("maxItems", `must be a positive integer, got ${fit.maxItems}`);
  let fitted: EaseModel | undefined;

  return {
    name,
    fit(train: Interactions) {
      fitted = fitEase(train, fit);
    },
    recommend(userId: string, k: number, exclude: ReadonlySet<string>) {
      if (!fitted) throw new ReelfeedError("INTERNAL", `${name}: recommend() called before fit()`);
      const { itemIds, history, weights } = fitted;
      const h = history.get(userId);
      if (!h || k <= 0) return [];
      const n = itemIds.length;
      const scores = new Float64Array(n);
      for (let t = 0; t < h.items.length; t++) {
        const ri = h.items[t] * n;
        const w = h.values[t];
        for (let j = 0; j < n; j++) scores[j] += w * weights[ri + j];
      }
      // EASE scores can be negative; the user's own items score ≈ 0 and are excluded by the caller if seen.
      return topKIndices(scores, k, (j) => exclude.has(itemIds[j])).map((j) => itemIds[j]);
    },
  };
}
