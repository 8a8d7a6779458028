import { z } from "zod";
import { DAY_MS } from "../features/aggregates";
import { defineSource } from "../pipeline/components";
import { byCodeUnits } from "../pipeline/steps/merge";
import { parseOptions } from "../pipeline/options";
import type { Candidate, CandidateSource } from "../pipeline/types";

/** Options of the subscriptions source. */
export interface SubscriptionsSourceOptions {
  /** Uploads older than this many days are not proposed. @default 30 */
  maxAgeDays?: number;
  /** Most uploads proposed per subscribed creator. @default 5 */
  perCreator?: number;
  /** Half-life of the recency score, days. @default 3 */
  halfLifeDays?: number;
}

const schema = z
  .object({
    maxAgeDays: z.number().positive().default(30),
    perCreator: z.number().int().min(1).max(100).default(5),
    halfLifeDays: z.number().positive().default(3),
  })
  .strict();

/** Recent uploads of the creators the user subscribes to, newest best (SUBSCRIBED_CREATOR {creatorId}). */
export function createSubscriptionsSource(options: SubscriptionsSourceOptions = {}): CandidateSource {
  const { maxAgeDays, perCreator, halfLifeDays } = parseOptions("Subscriptions", schema, options);
  return {
    name: "Subscriptions",
    async fetch(query, ctx) {
      const now = query.context.now;
      const out: Candidate[] = [];
      for (const creatorId of query.relations.subscriptions) {
        let n = 0;
        // videosByCreator is newest first: stop at the first upload past the age limit.
        for (const video of ctx.runtime.catalog.videosByCreator(creatorId)) {
          if (n >= perCreator) break;
          if (video.uploadedAt > now || query.seen.has(video.id)) continue;
          const age = now - video.uploadedAt;
          if (age > maxAgeDays * DAY_MS) break;
          out.push({ videoId: video.id, score: Math.pow(0.5, age / (halfLifeDays * DAY_MS)), reason: { code: "SUBSCRIBED_CREATOR", params: { creatorId } } });
          n++;
        }
      }
      return out.sort((a, b) => b.score - a.score || byCodeUnits(a.videoId, b.videoId)).slice(0, ctx.limit);
    },
  };
}

/** The Subscriptions source as the pipeline registers it: config entries name it "Subscriptions". */
export const subscriptionsSource = defineSource({ name: "Subscriptions", options: schema, create: createSubscriptionsSource });
