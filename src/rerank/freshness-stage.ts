import { z } from "zod";
import { DAY_MS } from "../features/aggregates";
import { defineStage } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import { withScore, type RerankStage } from "../pipeline/types";

/** Options of the freshness stage. */
export interface FreshnessStageOptions {
  /** Boost of a video uploaded now: score × (1 + boost·e^(−age_days/decayDays)). @default 0.1 */
  boost?: number;
  /** Age in days over which the boost decays by e. @default 30 */
  decayDays?: number;
}

const schema = z.object({ boost: z.number().min(0).default(0.1), decayDays: z.number().positive().default(30) }).strict();

/**
 * A gentle nudge towards new uploads, which the ranker under-scores (few interactions yet):
 * score × (1 + boost·e^(−age_days/decayDays)), then re-sorted by score (stable). It reorders by score, so the
 * pipeline runs it before the stages that arrange the list (see pipeline-definition.ts).
 */
export function createFreshnessStage(options: FreshnessStageOptions = {}): RerankStage {
  const opts = parseOptions("Freshness", schema, options);
  return {
    name: "Freshness",
    apply(query, ranked, ctx) {
      const { boost, decayDays } = opts;
      const now = query.context.now;
      // Boosted scores and the order are computed on typed arrays; one new candidate per item is all it allocates.
      const scores = new Float64Array(ranked.length);
      const order = new Int32Array(ranked.length);
      for (let i = 0; i < ranked.length; i++) {
        const ageDays = Math.max(0, now - ranked[i].video.uploadedAt) / DAY_MS;
        scores[i] = ranked[i].score * (1 + boost * Math.exp(-ageDays / decayDays));
        order[i] = i;
      }
      order.sort((a, b) => scores[b] - scores[a] || a - b);
      const kept = Array.from(order, (i) => withScore(ranked[i], scores[i]));
      return { kept, removed: [] };
    },
  };
}

/** The Freshness stage as the pipeline registers it: config entries name it "Freshness". */
export const freshnessStage = defineStage({ name: "Freshness", phase: "score", options: schema, create: createFreshnessStage });
