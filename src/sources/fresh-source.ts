import { z } from "zod";
import { DAY_MS } from "../features/aggregates";
import { defineSource } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import type { Video } from "../data/types";
import type { Candidate, CandidateSource, Reason } from "../pipeline/types";

/** Options of the fresh-uploads source. */
export interface FreshSourceOptions {
  /** Uploads older than this many days are not fresh. @default 7 */
  maxAgeDays?: number;
  /** Newest uploads examined per request (bounds the cost on a busy catalog). @default 5000 */
  maxScan?: number;
  /** Score multiplier for a video in the user's language. @default 1.5 */
  languageBoost?: number;
  /** Score multiplier for a video in one of the user's top categories. @default 1.5 */
  categoryBoost?: number;
  /** How many top categories count as the user's. @default 5 */
  topCategories?: number;
}

const schema = z
  .object({
    maxAgeDays: z.number().positive().default(7),
    maxScan: z.number().int().positive().default(5000),
    languageBoost: z.number().min(1).default(1.5),
    categoryBoost: z.number().min(1).default(1.5),
    topCategories: z.number().int().min(0).default(5),
  })
  .strict();

/**
 * New uploads nobody has interacted with yet (no embedding-based source can find them): the newest within
 * `maxAgeDays`, scored by recency and boosted when in the user's language or top categories (FRESH).
 */
export function createFreshSource(options: FreshSourceOptions = {}): CandidateSource {
  const opts = parseOptions("Fresh", schema, options);
  return {
    name: "Fresh",
    async fetch(query, ctx) {
      const now = query.context.now;
      const language = query.context.language ?? query.user?.language;
      const top = new Set(
        Object.entries(query.userAgg?.categoryWatches ?? {})
          .sort((a, b) => b[1] - a[1])
          .slice(0, opts.topCategories)
          .map(([c]) => c),
      );
      // Only the best `limit` are kept while scanning (sorted, best first): a large catalog has thousands of fresh
      // uploads per request, and building and sorting a candidate for each was the cost of this source.
      const best: Array<{ video: Video; score: number }> = [];
      const limit = ctx.limit;
      if (!(limit > 0)) return [];
      // Lower score, or the same score and a later id (the full sort's order).
      const worse = (aScore: number, a: Video, bScore: number, b: Video): boolean => aScore < bScore || (aScore === bScore && a.id > b.id);
      // The list is newest first, so the recency score only falls: once even the largest boost cannot lift it
      // above the worst kept item, nothing later can enter and the scan stops (the result is that of a full scan).
      const maxBoost = (language ? opts.languageBoost : 1) * (top.size > 0 ? opts.categoryBoost : 1);
      let scanned = 0;
      for (const video of ctx.runtime.catalog.newest()) {
        if (scanned++ >= opts.maxScan) break;
        if (video.uploadedAt > now) continue;
        const age = now - video.uploadedAt;
        if (age > opts.maxAgeDays * DAY_MS) break;
        const recency = 1 - age / (opts.maxAgeDays * DAY_MS);
        if (best.length >= limit && recency * maxBoost < best[best.length - 1].score) break;
        let score = recency;
        if (language && video.language === language) score *= opts.languageBoost;
        if (top.has(video.category)) score *= opts.categoryBoost;
        // Compared before an item is built, and before the seen set is asked (a Bloom filter's hashing): most scanned
        // uploads do not make the cut.
        if (best.length >= limit && !worse(best[best.length - 1].score, best[best.length - 1].video, score, video)) continue;
        if (query.seen.has(video.id)) continue;
        const item = { video, score };
        // Insert after every item that is not worse than it (stable, like the full sort it replaces).
        let lo = 0;
        let hi = best.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (worse(score, video, best[mid].score, best[mid].video) || !worse(best[mid].score, best[mid].video, score, video)) lo = mid + 1;
          else hi = mid;
        }
        best.splice(lo, 0, item);
        if (best.length > limit) best.pop();
      }
      const reason: Reason = { code: "FRESH", params: {} };
      return best.map(({ video, score }): Candidate => ({ videoId: video.id, score, reason }));
    },
  };
}

/** The Fresh source as the pipeline registers it: config entries name it "Fresh". */
export const freshSource = defineSource({ name: "Fresh", options: schema, create: createFreshSource });
