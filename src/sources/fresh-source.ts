import { z } from "zod";
import { DAY_MS } from "../features/aggregates";
import { parseOptions } from "../pipeline/options";
import type { Candidate, CandidateSource } from "../pipeline/types";

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
      const out: Candidate[] = [];
      let scanned = 0;
      for (const video of ctx.runtime.catalog.newest()) {
        if (scanned++ >= opts.maxScan) break;
        if (video.uploadedAt > now) continue;
        const age = now - video.uploadedAt;
        if (age > opts.maxAgeDays * DAY_MS) break;
        if (query.seen.has(video.id)) continue;
        let score = 1 - age / (opts.maxAgeDays * DAY_MS);
        if (language && video.language === language) score *= opts.languageBoost;
        if (top.has(video.category)) score *= opts.categoryBoost;
        out.push({ videoId: video.id, score, reason: { code: "FRESH", params: {} } });
      }
      return out.sort((a, b) => b.score - a.score || a.videoId.localeCompare(b.videoId)).slice(0, ctx.limit);
    },
  };
}
