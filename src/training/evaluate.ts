/**
 * Offline evaluation: retrieval (top-K lists against held-out positives) and ranking heads (probabilities against
 * labels). Every model is scored by the same loop on the same users, so the numbers in a report are comparable.
 */
import { badInput } from "../errors";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";
import { auc, catalogCoverage, hitAtK, logLoss, ndcgAtK, recallAtK } from "./metrics";

/** Anything that can produce a ranked list: a baseline Recommender, or an adapter around the two-tower model. */
export interface RetrievalModel {
  name: string;
  recommend(userId: string, k: number, exclude: ReadonlySet<string>): readonly string[] | Promise<readonly string[]>;
}

export interface RetrievalEvaluationInput {
  recommenders: readonly RetrievalModel[];
  /** Held-out positives per user (the test period). */
  test: ReadonlyMap<string, ReadonlySet<string>>;
  /** What each user already consumed before the test period: excluded from lists and from the relevant set. */
  trainSeen: ReadonlyMap<string, ReadonlySet<string>>;
  /** @default [10, 20, 50, 100, 500] */
  ks?: readonly number[];
  /** Number of recommendable videos, the denominator of coverage@K. */
  catalogSize: number;
  /** @default silentProgress */
  progress?: Progress;
}

/**
 * Per model: "recall@K", "ndcg@K", "hit@K", "coverage@K" for every K (means over evaluated users; coverage is over
 * the union of all users' top-K lists), plus "users" (how many were evaluated) and "msPerUser" (list latency).
 */
export type RetrievalMetrics = Record<string, number>;

const EMPTY: ReadonlySet<string> = new Set();

/**
 * Scores every model on every user that has at least one test positive not already seen in training (others are
 * skipped: they have nothing left to find). Each model is asked once per user for max(ks) items; the lists are
 * cleaned defensively (excluded and repeated ids dropped) so a model that ignores `exclude` cannot gain from it.
 */
export async function evaluateRetrieval(input: RetrievalEvaluationInput): Promise<Record<string, RetrievalMetrics>> {
  const { recommenders, test, trainSeen, ks = [10, 20, 50, 100, 500], catalogSize, progress = silentProgress } = input;
  if (ks.length === 0) throw badInput("ks", "is empty");
  for (const k of ks) if (!Number.isInteger(k) || k <= 0) throw badInput("ks", `must be positive integers, got ${k}`);
  if (!Number.isInteger(catalogSize) || catalogSize <= 0) throw badInput("catalogSize", `must be a positive integer, got ${catalogSize}`);
  const names = new Set<string>();
  for (const r of recommenders) {
    if (names.has(r.name)) throw badInput("recommenders", `two models are named "${r.name}"`);
    names.add(r.name);
  }
  const sortedKs = [...new Set(ks)].sort((a, b) => a - b);
  const maxK = sortedKs[sortedKs.length - 1];

  const users: Array<{ userId: string; relevant: ReadonlySet<string>; exclude: ReadonlySet<string> }> = [];
  for (const [userId, positives] of test) {
    const exclude = trainSeen.get(userId) ?? EMPTY;
    const relevant = new Set<string>();
    for (const id of positives) if (!exclude.has(id)) relevant.add(id);
    if (relevant.size > 0) users.push({ userId, relevant, exclude });
  }

  const out: Record<string, RetrievalMetrics> = {};
  for (const model of recommenders) {
    const step = progress.step(`evaluate ${model.name}`, users.length);
    const sums = new Map<string, number>();
    const add = (key: string, v: number) => sums.set(key, (sums.get(key) ?? 0) + v);
    const topLists = new Map<number, string[][]>(sortedKs.map((k) => [k, []]));
    let elapsed = 0;
    for (const { userId, relevant, exclude } of users) {
      const started = performance.now();
      const raw = await model.recommend(userId, maxK, exclude);
      elapsed += performance.now() - started;
      const list: string[] = [];
      const inList = new Set<string>();
      for (const id of raw) {
        if (list.length >= maxK) break;
        if (exclude.has(id) || inList.has(id)) continue;
        inList.add(id);
        list.push(id);
      }
      for (const k of sortedKs) {
        add(`recall@${k}`, recallAtK(list, relevant, k));
        add(`ndcg@${k}`, ndcgAtK(list, relevant, k));
        add(`hit@${k}`, hitAtK(list, relevant, k));
        topLists.get(k)!.push(list.slice(0, k));
      }
      step.tick();
    }
    step.done();
    const metrics: RetrievalMetrics = {};
    for (const family of ["recall", "ndcg", "hit"]) {
      for (const k of sortedKs) metrics[`${family}@${k}`] = users.length ? sums.get(`${family}@${k}`)! / users.length : 0;
    }
    for (const k of sortedKs) metrics[`coverage@${k}`] = catalogCoverage(topLists.get(k)!, catalogSize);
    metrics.users = users.length;
    metrics.msPerUser = users.length ? elapsed / users.length : 0;
    out[model.name] = metrics;
  }
  return out;
}

/** One ranker head's predictions on the evaluation rows. */
export interface RankerHeadData {
  probs: Float32Array;
  /** In [0, 1]; a label ≥ 0.5 is a positive for AUC and the positive count. */
  labels: Float32Array;
  /** Rows with mask > 0 are evaluated (heads whose label is undefined for some rows, e.g. completion without a watch). */
  mask?: Float32Array;
  /** The training positive rate for this head; overrides options.trainPositiveRate[head] when given. */
  baseRate?: number;
}

export interface RankerHeadMetrics {
  /** null when the evaluated rows hold only one class (AUC is undefined). */
  auc: number | null;
  /** null when no rows were evaluated. */
  logLoss: number | null;
  /** Log loss of always predicting the training positive rate: the bar a useful head must clear. */
  baseRateLogLoss: number | null;
  /** A constant predictor ranks nothing: 0.5 by definition. */
  baseRateAuc: 0.5;
  /** The training positive rate used as the base-rate prediction. */
  baseRate: number;
  n: number;
  positives: number;
}

export interface RankerEvaluationOptions {
  /**
   * Per head, the positive rate in the training data: the base-rate predictor. Every head needs one, here or in
   * its own `baseRate`.
   * @default {}
   */
  trainPositiveRate?: Readonly<Record<string, number>>;
}

/** AUC and log loss per head, next to the base-rate predictor's, over the masked-in rows. */
export function evaluateRanker(
  heads: Readonly<Record<string, RankerHeadData>>,
  options: RankerEvaluationOptions = {},
): Record<string, RankerHeadMetrics> {
  const { trainPositiveRate = {} } = options;
  const out: Record<string, RankerHeadMetrics> = {};
  for (const [head, { probs, labels, mask, baseRate: ownRate }] of Object.entries(heads)) {
    if (probs.length !== labels.length) {
      throw badInput(`heads.${head}.labels`, `has length ${labels.length} but probs has ${probs.length}`);
    }
    if (mask && mask.length !== labels.length) {
      throw badInput(`heads.${head}.mask`, `has length ${mask.length} but labels has ${labels.length}`);
    }
    const baseRate = ownRate ?? trainPositiveRate[head];
    if (baseRate === undefined || !(baseRate >= 0 && baseRate <= 1)) {
      throw badInput(`trainPositiveRate.${head}`, `the training positive rate must be in [0, 1], got ${baseRate}`);
    }
    let p: Float32Array = probs;
    let y: Float32Array = labels;
    if (mask) {
      const keep: number[] = [];
      for (let i = 0; i < mask.length; i++) if (mask[i] > 0) keep.push(i);
      p = Float32Array.from(keep, (i) => probs[i]);
      y = Float32Array.from(keep, (i) => labels[i]);
    }
    const n = p.length;
    let positives = 0;
    for (let i = 0; i < n; i++) if (y[i] >= 0.5) positives++;
    const a = n ? auc(p, y) : NaN;
    out[head] = {
      auc: Number.isNaN(a) ? null : a,
      logLoss: n ? logLoss(p, y) : null,
      baseRateLogLoss: n ? logLoss(new Float32Array(n).fill(baseRate), y) : null,
      baseRateAuc: 0.5,
      baseRate,
      n,
      positives,
    };
  }
  return out;
}
