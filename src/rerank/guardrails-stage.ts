import { z } from "zod";
import { defineStage } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import type { Removal, RerankStage, ScoredCandidate } from "../pipeline/types";

/** Options of the guardrails stage. */
export interface GuardrailsStageOptions {
  /** Drop an item whose predicted dislike probability is above this (only when the ranker has a dislike head). @default 0.5 */
  maxDislike?: number;
  /** Drop an item whose likes / (likes + dislikes) is below this... @default 0.15 */
  minLikeRatio?: number;
  /** ...once it has at least this many likes + dislikes (fewer is noise). @default 20 */
  minRatings?: number;
  /** Never more than this many consecutive items from one creator. @default 2 */
  maxConsecutivePerCreator?: number;
}

const schema = z
  .object({
    maxDislike: z.number().min(0).max(1).default(0.5),
    minLikeRatio: z.number().min(0).max(1).default(0.15),
    minRatings: z.number().int().min(1).default(20),
    maxConsecutivePerCreator: z.number().int().min(1).default(2),
  })
  .strict();

/**
 * Hard rules on the ranked list, before softer re-ranking: items the model expects users to dislike, items the
 * audience already rates terribly, and runs of one creator. A run is broken by pulling up the next item from
 * another creator; an item that cannot be placed without a run (only one creator left) is removed.
 */
export function createGuardrailsStage(options: GuardrailsStageOptions = {}): RerankStage {
  const opts = parseOptions("Guardrails", schema, options);
  return {
    name: "Guardrails",
    apply(_query, ranked, ctx) {
      const stats = ctx.videoStats;
      const removed: Removal<ScoredCandidate>[] = [];
      const pending: ScoredCandidate[] = [];
      for (const c of ranked) {
        const dislike = c.heads.dislike;
        const s = stats?.get(c.videoId);
        const ratings = s ? s.likes + s.dislikes : 0;
        if (dislike !== undefined && dislike > opts.maxDislike) removed.push({ candidate: c, reason: "predicted_dislike" });
        else if (s && ratings >= opts.minRatings && s.likes / ratings < opts.minLikeRatio) removed.push({ candidate: c, reason: "low_like_ratio" });
        else pending.push(c);
      }
      const kept: ScoredCandidate[] = [];
      const runOf = (creatorId: string): number => {
        let n = 0;
        for (let i = kept.length - 1; i >= 0 && kept[i].video.creatorId === creatorId; i--) n++;
        return n;
      };
      // Placed items are marked, not spliced out of `pending`: the next search starts at the first unplaced item
      // (nearly always the one placed), without shifting a 500-item array per slot.
      const placed = new Uint8Array(pending.length);
      let first = 0;
      for (let left = pending.length; left > 0; left--) {
        while (placed[first]) first++;
        let i = first;
        for (; i < pending.length; i++) if (!placed[i] && runOf(pending[i].video.creatorId) < opts.maxConsecutivePerCreator) break;
        if (i === pending.length) {
          for (let j = first; j < pending.length; j++) if (!placed[j]) removed.push({ candidate: pending[j], reason: "creator_run" });
          break;
        }
        placed[i] = 1;
        kept.push(pending[i]);
      }
      return { kept, removed };
    },
  };
}

/** The Guardrails stage as the pipeline registers it: config entries name it "Guardrails". */
export const guardrailsStage = defineStage({ name: "Guardrails", phase: "arrange", options: schema, create: createGuardrailsStage });
