import { z } from "zod";
import { defineSource } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import type { CandidateSource, Reason } from "../pipeline/types";

/** Options of the two-tower retrieval source. */
export interface TwoTowerSourceOptions {
  /** Over-fetch factor on the quota, so that candidates later removed by filters still leave enough. @default 1 */
  overfetch?: number;
}

const schema = z.object({ overfetch: z.number().min(1).max(10).default(1) }).strict();

/**
 * Personalised retrieval: the user tower embeds the hydrated query (history, profile, context: cold-start users
 * too, from context alone) and the two-tower video index returns its nearest videos, seen ones excluded inside the
 * index so they do not eat the quota.
 */
export function createTwoTowerSource(options: TwoTowerSourceOptions = {}): CandidateSource {
  const { overfetch } = parseOptions("TwoTower", schema, options);
  return {
    name: "TwoTower",
    requires: ["userTower", "twoTower"],
    async fetch(query, ctx) {
      const tower = ctx.runtime.models.userTower;
      const index = ctx.runtime.vectors.twoTower;
      if (!tower || !index) return [];
      const vector = await tower.embed(query, ctx.signal);
      const hits = await index.search(vector, Math.ceil(ctx.limit * overfetch), { excludeIds: query.seen.recent, signal: ctx.signal });
      // One reason object for all hits: candidates share reasons by reference and nothing downstream mutates them.
      const reason: Reason = { code: "PERSONALIZED", params: {} };
      return hits.map((h) => ({ videoId: h.id, score: h.score, reason }));
    },
  };
}

/** The TwoTower source as the pipeline registers it: config entries name it "TwoTower". */
export const twoTowerSource = defineSource({ name: "TwoTower", options: schema, create: createTwoTowerSource });
