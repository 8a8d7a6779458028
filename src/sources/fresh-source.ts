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
  /**
   * Newest uploads examined per list (bounds the cost on a busy catalog): the uploads in the user's language, then all
   * uploads. @default 5000
   */
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
      const horizon = opts.maxAgeDays * DAY_MS;
      const categoryMax = top.size > 0 ? opts.categoryBoost : 1;
      /**
       * Offers a newest-first list's fresh uploads to `best`. The recency score only falls along the list: once even
       * the list's largest boost cannot lift it above the worst kept item, nothing later can enter and the scan stops
       * (the result is that of a full scan).
       */
      const scan = (list: readonly Video[], languageBoost: number, skip: string | undefined): void => {
        const maxBoost = languageBoost * categoryMax;
        let scanned = 0;
        for (const video of list) {
          if (scanned++ >= opts.maxScan) break;
          if (video.uploadedAt > now) continue;
          const age = now - video.uploadedAt;
          if (age > horizon) break;
          const recency = 1 - age / horizon;
          if (best.length >= limit && recency * maxBoost < best[best.length - 1].score) break;
          if (skip !== undefined && video.language === skip) continue;
          let score = recency;
          if (languageBoost !== 1) score *= languageBoost;
          if (top.has(video.category)) score *= opts.categoryBoost;
          // Compared before an item is built, and before the seen set is asked (a Bloom filter's hashing): most
          // scanned uploads do not make the cut.
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
      };
      // The user's language first, from its own list: its boosted uploads set a high bar early, and the scan of all
      // uploads after it (the user's language skipped there) stops as soon as the unboosted cannot reach that bar.
      // A user of a language with few uploads otherwise scanned thousands of others to find them (round 9).
      if (language && opts.languageBoost !== 1) {
        scan(ctx.runtime.catalog.newestInLanguage(language), opts.languageBoost, undefined);
        scan(ctx.runtime.catalog.newest(), 1, language);
      } else {
        scan(ctx.runtime.catalog.newest(), 1, undefined);
      }
      const reason: Reason = { code: "FRESH", params: {} };
      return best.map(({ video, score }): Candidate => ({ videoId: video.id, score, reason }));
    },
  };
}

/** The Fresh source as the pipeline registers it: config entries name it "Fresh". */
export const freshSource = defineSource({ name: "Fresh", options: schema, create: createFreshSource });
