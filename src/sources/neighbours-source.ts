import { z } from "zod";
import { userAffinity } from "../features/item-neighbours";
import { defineSource } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import type { Candidate, CandidateSource, Reason } from "../pipeline/types";

/** Options of the item-neighbours source. */
export interface NeighboursSourceOptions {
  /** Candidates must have at least this share of the user's best affinity (0: any positive affinity). @default 0 */
  minRelativeAffinity?: number;
}

const schema = z.object({ minRelativeAffinity: z.number().min(0).max(1).default(0) }).strict();

/**
 * Collaborative retrieval for users with history: the videos most engaged with together with what the user
 * watched recently (recent watches weigh more), from the item neighbours fitted at training time
 * (features/item-neighbours.ts). One sparse pass over the history, no vector search; the same affinity the ranker
 * receives as features, computed once per request. Users without history get [] (other sources serve them).
 * The reason names the watched video that contributed most: SIMILAR_TO { videoId }.
 */
export function createNeighboursSource(options: NeighboursSourceOptions = {}): CandidateSource {
  const { minRelativeAffinity } = parseOptions("Neighbours", schema, options);
  return {
    name: "Neighbours",
    requires: ["neighbours"],
    async fetch(query, ctx) {
      const model = ctx.runtime.models.neighbours;
      if (!model) return [];
      const affinity = userAffinity(model, query.userAgg?.recent);
      const floor = minRelativeAffinity * affinity.max;
      const out: Candidate[] = [];
      // Reasons are shared per "because" video: candidates share reasons by reference and nothing mutates them.
      const reasons = new Map<number, Reason>();
      for (let r = 0; r < affinity.positive && out.length < ctx.limit; r++) {
        const score = affinity.scores[r];
        if (score <= floor) break;
        const videoId = model.itemIds[affinity.items[r]];
        if (query.seen.has(videoId)) continue;
        const from = affinity.because[r];
        let reason = reasons.get(from);
        if (!reason) reasons.set(from, (reason = { code: "SIMILAR_TO", params: { videoId: model.itemIds[from] } }));
        out.push({ videoId, score, reason });
      }
      return out;
    },
  };
}

/** The Neighbours source as the pipeline registers it: config entries name it "Neighbours". */
export const neighboursSource = defineSource({ name: "Neighbours", options: schema, create: createNeighboursSource });
