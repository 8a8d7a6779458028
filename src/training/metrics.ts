/**
 * Offline metrics for retrieval (ranked id lists against a relevant set) and for ranking heads (probabilities
 * against labels). Pure functions, no dependencies: the same code scores the two-tower model, the classical
 * baselines and, later, the full serving funnel, so their numbers are comparable.
 *
 * Conventions, shared by every list metric:
 * - `ranked` is best first; only its first `k` entries count.
 * - An id repeated in `ranked` counts once (its first occurrence), so a sloppy recommender cannot push recall
 *   above 1 by repeating a hit.
 * - Relevance is binary. `relevant` must not be empty: a user with nothing to find has no defined recall, and the
 *   caller (evaluateRetrieval) skips such users instead of counting them as zeros.
 */
import { badInput } from "../errors";

function checkK(k: number): void {
  if (!Number.isInteger(k) || k <= 0) throw badInput("k", `must be a positive integer, got ${k}`);
}

function checkRelevant(relevant: ReadonlySet<string>): void {
  if (relevant.size === 0) throw badInput("relevant", "is empty: the metric is undefined for a user with no positives");
}

/** Number of distinct relevant ids among the first k of `ranked`, and their 0-based positions. */
function hitPositions(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number[] {
  const positions: number[] = [];
  const counted = new Set<string>();
  const end = Math.min(k, ranked.length);
  for (let i = 0; i < end; i++) {
    const id = ranked[i];
    if (relevant.has(id) && !counted.has(id)) {
      counted.add(id);
      positions.push(i);
    }
  }
  return positions;
}

/**
 * Recall@K = |relevant ∩ top-K| / min(K, |relevant|): the truncated recall of the collaborative-filtering
 * literature (Liang et al., "Variational Autoencoders for Collaborative Filtering", WWW 2018), so a perfect list
 * scores 1 whatever the user's number of held-out videos, and the warm protocol's numbers compare with published
 * EASE / item-kNN results (docs/training.md "Protocols").
 */
export function recallAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  checkK(k);
  checkRelevant(relevant);
  return hitPositions(ranked, relevant, k).length / Math.min(k, relevant.size);
}

/** Hit@K (a.k.a. HR@K): 1 when at least one relevant id is in the top K, else 0. */
export function hitAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  checkK(k);
  checkRelevant(relevant);
  const end = Math.min(k, ranked.length);
  for (let i = 0; i < end; i++) if (relevant.has(ranked[i])) return 1;
  return 0;
}

/**
 * NDCG@K with binary relevance: DCG = Σ_{hits at 0-based position i < K} 1 / log2(i + 2), divided by the ideal DCG
 * of a list that puts min(|relevant|, K) relevant ids first. In [0, 1]; 1 means every top slot that could hold a
 * relevant id does.
 */
export function ndcgAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  checkK(k);
  checkRelevant(relevant);
  let dcg = 0;
  for (const i of hitPositions(ranked, relevant, k)) dcg += 1 / Math.log2(i + 2);
  let idcg = 0;
  const ideal = Math.min(relevant.size, k);
  for (let i = 0; i < ideal; i++) idcg += 1 / Math.log2(i + 2);
  return dcg / idcg;
}

/** Fraction of the catalog that appears in at least one list: how much of the catalog a model ever surfaces. */
export function catalogCoverage(recommendationLists: Iterable<readonly string[]>, catalogSize: number): number {
  if (!Number.isInteger(catalogSize) || catalogSize <= 0) {
    throw badInput("catalogSize", `must be a positive integer, got ${catalogSize}`);
  }
  const distinct = new Set<string>();
  for (const list of recommendationLists) for (const id of list) distinct.add(id);
  return Math.min(1, distinct.size / catalogSize);
}

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, aName: string, bName: string): void {
  if (a.length !== b.length) {
    throw badInput(bName, `has length ${b.length} but ${aName} has length ${a.length}`);
  }
}

/**
 * ROC AUC: the probability that a random positive scores above a random negative, ties counting one half.
 * Computed from average ranks (Mann–Whitney U) after one sort: O(n log n), exact with ties.
 * A label counts as positive when ≥ 0.5, so soft labels in [0, 1] are accepted.
 * Returns NaN when there are no positives or no negatives (AUC is undefined there); NaN scores are rejected.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair(scores, labels, "scores", "labels");
  const n = scores.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) throw badInput("scores", `score ${i} is NaN`);
    order[i] = i;
  }
  order.sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSumPositives = 0;
  let i = 0;
  while (i < n) {
    // A run of equal scores shares the average of the 1-based ranks i+1 .. j.
    let j = i + 1;
    while (j < n && scores[order[j]] === scores[order[i]]) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) {
      if (labels[order[t]] >= 0.5) {
        positives++;
        rankSumPositives += averageRank;
      }
    }
    i = j;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Mean binary cross-entropy, −[y·ln p + (1−y)·ln(1−p)], with p clipped to [eps, 1 − eps] so a confident mistake
 * costs a large finite amount instead of Infinity. Labels may be soft (any value in [0, 1]).
 */
export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>, eps = 1e-7): number {
  checkPair(probs, labels, "probs", "labels");
  const n = probs.length;
  if (n === 0) throw badInput("probs", "is empty");
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!(y >= 0 && y <= 1)) throw badInput("labels", `label ${i} is ${y}, expected a value in [0, 1]`);
    const raw = probs[i];
    if (Number.isNaN(raw)) throw badInput("probs", `probability ${i} is NaN`);
    const p = Math.min(1 - eps, Math.max(eps, raw));
    sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
  }
  return sum / n;
}
