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
 */
export type BlendConfig = ReelfeedConfig["ranking"]["blend"] & {
  /** Ranker head names per blend term, for rankers whose heads are named differently. */
  heads?: Partial<Record<BlendTerm, string>>;
};

export type BlendTerm = "click" | "completion" | "like" | "dislike";

export const DEFAULT_BLEND: BlendConfig = { version: "blend-v1", click: 1, completion: 1, like: 0.5, dislike: 1 };

const DEFAULT_HEADS: Record<BlendTerm, string> = { click: "click", completion: "completion", like: "like", dislike: "dislike" };

/** Validates a blend at start-up (BAD_CONFIG naming the key); a blend that can produce NaN never reaches a request. */
export function validateBlend(blend: BlendConfig): BlendConfig {
  if (!blend.version) throw new ReelfeedError("BAD_CONFIG", "config ranking.blend.version: must not be empty", { key: "ranking.blend.version" });
  for (const term of ["click", "completion", "like", "dislike"] as const) {
    const w = blend[term];
    if (!Number.isFinite(w) || w < 0) {
      throw new ReelfeedError("BAD_CONFIG", `config ranking.blend.${term}: expected a finite weight ≥ 0, got ${w}`, { key: `ranking.blend.${term}` });
    }
  }
  return blend;
}

const clamp01 = (p: number): number => (Number.isFinite(p) ? Math.min(1, Math.max(0, p)) : 0);

/** Head names per blend, resolved once per blend object: blendScore runs for every ranked candidate. */
const headNames = new WeakMap<BlendConfig, Record<BlendTerm, string>>();

/** The blended score of one candidate from its head probabilities (see the formula above). Pure. */
export function blendScore(heads: Readonly<Record<string, number>>, blend: BlendConfig = DEFAULT_BLEND): number {
  let names = headNames.get(blend);
  if (!names) headNames.set(blend, (names = { ...DEFAULT_HEADS, ...blend.heads }));
  const p = (term: BlendTerm): number | undefined => {
    const v = heads[names[term]];
    return v === undefined ? undefined : clamp01(v);
  };
  const click = p("click");
  const completion = p("completion");
  const like = p("like");
  const dislike = p("dislike");
  let score = click === undefined ? 1 : Math.pow(click, blend.click);
  if (completion !== undefined) score *= 1 + blend.completion * completion;
  if (like !== undefined) score *= 1 + blend.like * like;
  if (dislike !== undefined) score *= Math.max(0, 1 - blend.dislike * dislike);
  return score;
}
