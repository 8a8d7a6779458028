import { z } from "zod";
import { DAY_MS } from "../features/aggregates";
import { defineSource } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import type { CandidateSource } from "../pipeline/types";

/** Options of the social source. */
export interface SocialSourceOptions {
  /** Engagements older than this many days are ignored. @default 14 */
  sinceDays?: number;
  /** Followee ids named in the reason. @default 3 */
  namedUsers?: number;
}

const schema = z
  .object({ sinceDays: z.number().positive().default(14), namedUsers: z.number().int().min(1).max(10).default(3) })
  .strict();

/** What the people the user follows engaged with recently (graph store), FRIENDS_ENGAGED naming them. */
export function createSocialSource(options: SocialSourceOptions = {}): CandidateSource {
  const { sinceDays, namedUsers } = parseOptions("Social", schema, options);
  return {
    name: "Social",
    requires: ["graph"],
    async fetch(query, ctx) {
      const now = query.context.now;
      // Over-fetch by what the seen set may remove: the graph does not know it.
      const hits = await ctx.runtime.graph.followeesEngaged(query.userId, {
        since: now - sinceDays * DAY_MS,
        now,
        limit: ctx.limit + Math.min(query.seen.size, ctx.limit),
        signal: ctx.signal,
      });
      return hits
        .filter((h) => !query.seen.has(h.videoId))
        .slice(0, ctx.limit)
        .map((h) => ({
          videoId: h.videoId,
          score: h.score,
          reason: { code: "FRIENDS_ENGAGED", params: { userIds: h.userIds.slice(0, namedUsers).join(",") } },
        }));
    },
  };
}

/** The Social source as the pipeline registers it: config entries name it "Social". */
export const socialSource = defineSource({ name: "Social", options: schema, create: createSocialSource });
