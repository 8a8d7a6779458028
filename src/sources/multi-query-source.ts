import { z } from "zod";
import { parseOptions } from "../pipeline/options";
import type { Candidate, CandidateSource } from "../pipeline/types";
import { meanVector, throwIfAborted } from "./vector-math";

/** Options of the multi-query source. */
export interface MultiQuerySourceOptions {
  /** Which video embeddings the per-category queries are built from and searched in. @default "twoTower" */
  index?: "twoTower" | "content";
  /** How many of the user's top categories get a query. @default 3 */
  categories?: number;
  /** Recent watches / likes per category averaged into its query vector. @default 10 */
  seedsPerCategory?: number;
  /** Keep only hits of the query's own category (the reason claims it). @default true */
  sameCategoryOnly?: boolean;
}

const schema = z
  .object({
    index: z.enum(["twoTower", "content"]).default("twoTower"),
    categories: z.number().int().min(1).max(20).default(3),
    seedsPerCategory: z.number().int().min(1).max(50).default(10),
    sameCategoryOnly: z.boolean().default(true),
  })
  .strict();

/**
 * One query per interest instead of one blurred user vector: for each of the user's top categories (by watches),
 * the mean embedding of their recent videos in that category is searched separately, and the result lists are
 * interleaved so a minor interest is not drowned by the main one. A user with no history gets [].
 */
export function createMultiQuerySource(options: MultiQuerySourceOptions = {}): CandidateSource {
  const opts = parseOptions("MultiQuery", schema, options);
  return {
    name: "MultiQuery",
    requires: [opts.index],
    async fetch(query, ctx) {
      const index = ctx.runtime.vectors[opts.index];
      const agg = query.userAgg;
      if (!index || !agg) return [];
      const top = Object.entries(agg.categoryWatches)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, opts.categories)
        .map(([category]) => category);
      if (top.length === 0) return [];
      // Most recent first: recent watches then likes, each video once.
      const history = [...new Set([...agg.recent.map((r) => r.videoId).reverse(), ...[...agg.recentLikes].reverse()])];
      const perCategory = Math.ceil(ctx.limit / top.length);
      const lists = await Promise.all(
        top.map(async (category) => {
          const seeds = history
            .filter((id) => ctx.runtime.catalog.video(id)?.category === category)
            .slice(0, opts.seedsPerCategory);
          const vectors = (await Promise.all(seeds.map((id) => index.get(id)))).filter((v): v is Float32Array => !!v);
          throwIfAborted(ctx.signal);
          const q = meanVector(vectors);
          if (!q) return [];
          const k = opts.sameCategoryOnly ? perCategory * 3 : perCategory;
          const hits = await index.search(q, k, { excludeIds: query.seen, signal: ctx.signal });
          return hits
            .filter((h) => !opts.sameCategoryOnly || ctx.runtime.catalog.video(h.id)?.category === category)
            .slice(0, perCategory)
            .map((h) => ({ id: h.id, category }));
        }),
      );
      // Round-robin interleave; the score is the interleaved rank (1 for the first), which is what merging reads.
      const out: Candidate[] = [];
      const taken = new Set<string>();
      const longest = Math.max(...lists.map((l) => l.length));
      for (let i = 0; i < longest; i++) {
        for (const list of lists) {
          const hit = list[i];
          if (!hit || taken.has(hit.id)) continue;
          taken.add(hit.id);
          out.push({ videoId: hit.id, score: 0, reason: { code: "CATEGORY_INTEREST", params: { category: hit.category } } });
        }
      }
      const n = Math.min(out.length, ctx.limit);
      return out.slice(0, n).map((c, i) => ({ ...c, score: (n - i) / n }));
    },
  };
}
