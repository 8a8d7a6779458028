import { z } from "zod";
import { defineSource } from "../pipeline/components";
import { byCodeUnits } from "../pipeline/steps/merge";
import { parseOptions } from "../pipeline/options";
import type { Candidate, CandidateSource, Reason } from "../pipeline/types";
import { throwIfAborted } from "./vector-math";

/** Options of the content (item-to-item) source. */
export interface ContentSourceOptions {
  /** Which video embeddings neighbours are searched in. @default "content" */
  index?: "content" | "twoTower";
  /** Most recent watches used as seeds. @default 5 */
  recentWatches?: number;
  /** Most recent likes used as seeds. @default 5 */
  recentLikes?: number;
  /** Weight of the watch-next seed video over history seeds (it is what the user is watching now). @default 2 */
  seedWeight?: number;
}

const schema = z
  .object({
    index: z.enum(["content", "twoTower"]).default("content"),
    recentWatches: z.number().int().min(0).max(50).default(5),
    recentLikes: z.number().int().min(0).max(20).default(5),
    seedWeight: z.number().positive().default(2),
  })
  .strict();

/**
 * "More like what you just watched": nearest neighbours of the seed video (watch-next) and of the user's recent
 * watches and likes. A video found from several seeds keeps its best weighted similarity, and the reason names the
 * seed it was found from. A user with no history and no seed gets [].
 */
export function createContentSource(options: ContentSourceOptions = {}): CandidateSource {
  const opts = parseOptions("Content", schema, options);
  return {
    name: "Content",
    requires: [opts.index],
    async fetch(query, ctx) {
      const index = ctx.runtime.vectors[opts.index];
      if (!index) return [];
      const seeds: Array<{ id: string; weight: number }> = [];
      const add = (id: string, weight: number): void => {
        if (!seeds.some((s) => s.id === id)) seeds.push({ id, weight });
      };
      if (query.seedVideoId) add(query.seedVideoId, opts.seedWeight);
      const agg = query.userAgg;
      if (agg) {
        for (const r of agg.recent.slice(-opts.recentWatches).reverse()) add(r.videoId, 1);
        if (opts.recentLikes > 0) for (const id of agg.recentLikes.slice(-opts.recentLikes).reverse()) add(id, 1);
      }
      if (seeds.length === 0) return [];
      const exclude = new Set([...query.seen.recent, ...seeds.map((s) => s.id)]);
      const k = Math.max(1, Math.ceil((ctx.limit * 2) / seeds.length));
      const best = new Map<string, Candidate>();
      await Promise.all(
        seeds.map(async (seed) => {
          const vector = await index.get(seed.id);
          throwIfAborted(ctx.signal);
          if (!vector) return;
          // Precomputed neighbour lists answer most seeds without a search (stores/vector-neighbour-lists.ts).
          const hits = (await index.nearestTo?.(seed.id, vector, k, exclude)) ?? (await index.search(vector, k, { excludeIds: exclude, signal: ctx.signal }));
          const reason: Reason = { code: "SIMILAR_TO", params: { videoId: seed.id } };
          for (const h of hits) {
            const score = h.score * seed.weight;
            const prev = best.get(h.id);
            if (!prev || score > prev.score) best.set(h.id, { videoId: h.id, score, reason });
          }
        }),
      );
      return [...best.values()].sort((a, b) => b.score - a.score || byCodeUnits(a.videoId, b.videoId)).slice(0, ctx.limit);
    },
  };
}

/** The Content source as the pipeline registers it: config entries name it "Content". */
export const contentSource = defineSource({ name: "Content", options: schema, create: createContentSource });
