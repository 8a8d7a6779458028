import type { ReelfeedConfig } from "../config";
import { ReelfeedError } from "../errors";

/**
 * The score blend: how the ranker's per-head probabilities become one number to sort by. It is configuration,
 * versioned (`version` is logged with every served item through the trace and the impression's `served` info), so
 * an offline replay of logged heads under another blend is exact.
 *
 * blend-v1:
 *
 *   score = pClick^click × (1 + completion·pCompletion) × (1 + like·pLike) × max(0, 1 − dislike·pDislike)
 *
 * - pClick is the gate: a video nobody clicks earns nothing, whatever its post-click heads say. The exponent
 *   tempers (< 1) or sharpens (> 1) it; 0 removes it.
 * - completion / like are post-click heads (trained on clicked rows only), so they multiply as bonuses: a weight
 *   of 1 lets a surely-completed video score up to twice a surely-abandoned one with the same pClick. That is what
 *   trades clickbait for watch time.
 * - dislike is a penalty factor, clamped at 0, and applies only when the ranker declares a dislike head.
 * A head the ranker does not declare contributes a neutral factor (1), so a click-only ranker still sorts by pClick.
 *
 * blend-v2 adds the user's collaborative affinity to the candidate (features/item-neighbours.ts, relative to the
 * user's best: ≤ 1, 0 for a user without history or a video no neighbour list reaches):
 *
 *   score = blend-v1 × exp(affinity · relativeAffinity)
 *
 * Why a declared term and not only a ranker feature: on users with history the item neighbours alone rank better
 * than the ranker does with them as features (MovieLens, per-user temporal hold-out: NDCG@20 within the same
 * candidates 0.158 alone, 0.096 by pClick, 0.155 with affinity 16; docs/training.md). The ranker's time features
 * (trending, recency) describe the moment it ranks, and an offline run over long-lived data ranks everyone at one
 * moment; affinity has no clock. With affinity 16, a candidate at the user's best affinity outweighs pClick odds
 * of e^16, so warm users are ordered by affinity and the heads arbitrate between close ones; cold users (affinity
 * 0 everywhere) are ordered by blend-v1 exactly. 0 turns the term off (blend-v1).
 */
export type BlendConfig = ReelfeedConfig["ranking"]["blend"] & {
  /** Ranker head names per blend term, for rankers whose heads are named differently. */
  heads?: Partial<Record<BlendTerm, string>>;
};

export type BlendTerm = "click" | "completion" | "like" | "dislike";

export const DEFAULT_BLEND: BlendConfig = { version: "blend-v2", click: 1, completion: 1, like: 0.5, dislike: 1, affinity: 16 };

const DEFAULT_HEADS: Record<BlendTerm, string> = { click: "click", completion: "completion", like: "like", dislike: "dislike" };

/** Validates a blend at start-up (BAD_CONFIG naming the key); a blend that can produce NaN never reaches a request. */
export function validateBlend(blend: BlendConfig): BlendConfig {
  if (!blend.version) throw new ReelfeedError("BAD_CONFIG", "config ranking.blend.version: must not be empty", { key: "ranking.blend.version" });
  for (const term of ["click", "completion", "like", "dislike", "affinity"] as const) {
    const w = term === "affinity" ? (blend.affinity ?? 0) : blend[term];
    if (!Number.isFinite(w) || w < 0) {
      throw new ReelfeedError("BAD_CONFIG", `config ranking.blend.${term}: expected a finite weight ≥ 0, got ${w}`, { key: `ranking.blend.${term}` });
    }
  }
  return blend;
}

const clamp01 = (p: number): number => (Number.isFinite(p) ? Math.min(1, Math.max(0, p)) : 0);

/** Head names per blend, resolved once per blend object: blendScore runs for every ranked candidate. */
const headNames = new WeakMap<BlendConfig, Record<BlendTerm, string>>();

/** The head's probability clamped to [0, 1]; undefined when the ranker has no such head. */
function headProbability(heads: Readonly<Record<string, number>>, name: string): number | undefined {
  const v = heads[name];
  return v === undefined ? undefined : clamp01(v);
}

/**
 * The blended score of one candidate from its head probabilities and the user's relative affinity to it (see the
 * formula above; 0 when unknown). Pure.
 */
export function blendScore(heads: Readonly<Record<string, number>>, blend: BlendConfig = DEFAULT_BLEND, affinity = 0): number {
  let names = headNames.get(blend);
  if (!names) headNames.set(blend, (names = { ...DEFAULT_HEADS, ...blend.heads }));
  // Plain calls, not a closure made per call: blendScore runs for every ranked candidate, and a named closure costs
  // an allocation plus, under tsx, a defineProperty for its name (measured: ~0.25 ms of a 500-candidate request).
  const click = headProbability(heads, names.click);
  const completion = headProbability(heads, names.completion);
  const like = headProbability(heads, names.like);
  const dislike = headProbability(heads, names.dislike);
  let score = click === undefined ? 1 : Math.pow(click, blend.click);
  if (completion !== undefined) score *= 1 + blend.completion * completion;
  if (like !== undefined) score *= 1 + blend.like * like;
  if (dislike !== undefined) score *= Math.max(0, 1 - blend.dislike * dislike);
  if (blend.affinity > 0 && affinity !== 0 && Number.isFinite(affinity)) score *= Math.exp(blend.affinity * Math.min(1, affinity));
  return score;
}
