import { z } from "zod";
import { defineSource } from "../pipeline/components";
import { byCodeUnits } from "../pipeline/steps/merge";
import { parseOptions } from "../pipeline/options";
import type { Candidate, CandidateSource, Reason } from "../pipeline/types";
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
        .sort((a, b) => b[1] - a[1] || byCodeUnits(a[0], b[0]))
        .slice(0, opts.categories)
        .map(([category]) => category);
      if (top.length === 0) return [];
      // Most recent first: recent watches then likes, each video once.
      const history = [...new Set([...agg.recent.map((r) => r.videoId).reverse(), ...[...agg.recentLikes].reverse()])];
      const perCategory = Math.ceil(ctx.limit / top.length);
      // Two-tower vectors with an item bias (training/two-tower.ts) are a unit-norm head plus an unnormalised bias
      // coordinate (a log-popularity prior, mostly negative): a plain mean carries the seeds' mean bias, and that
      // query favours unpopular videos. Such a query weighs the bias as the user tower does for this user instead:
      // the mean head scaled to the user embedding's head norm, and the user's own last coordinate (0 without a
      // user tower). Only a vector with a bias tail has a unit-norm head and a non-zero last coordinate.
      const biasTail = (v: Float32Array): boolean => {
        let n = 0;
        for (let i = 0; i < v.length - 1; i++) n += v[i] * v[i];
        return Math.abs(Math.sqrt(n) - 1) < 1e-5 && Math.abs(v[v.length - 1]) > 1e-2;
      };
      let user: Promise<Float32Array | undefined> | undefined;
      const queryVector = async (vectors: Float32Array[]): Promise<Float32Array | undefined> => {
        if (opts.index !== "twoTower" || !vectors.some(biasTail)) return meanVector(vectors);
        const d = vectors[0].length - 1;
        const head = meanVector(vectors.map((v) => v.subarray(0, d)))!;
        const tower = ctx.runtime.models.userTower;
        user ??= tower ? tower.embed(query, ctx.signal) : Promise.resolve(undefined);
        const u = await user;
        const last = u && u.length === d + 1 ? u[d] : 0;
        const scale = Math.sqrt(Math.max(0, 1 - last * last));
        const q = new Float32Array(d + 1);
        for (let i = 0; i < d; i++) q[i] = head[i] * scale;
        q[d] = last;
        return q;
      };
      // Seeds per top category in one pass over the history (one catalog lookup per video, not one per category).
      const seedsOf = new Map<string, string[]>(top.map((category) => [category, []]));
      for (const id of history) {
        const video = ctx.runtime.catalog.video(id);
        const seeds = video && seedsOf.get(video.category);
        if (seeds && seeds.length < opts.seedsPerCategory) seeds.push(id);
      }
      const lists = await Promise.all(
        top.map(async (category) => {
          const seeds = seedsOf.get(category)!;
          const vectors = (await Promise.all(seeds.map((id) => index.get(id)))).filter((v): v is Float32Array => !!v);
          throwIfAborted(ctx.signal);
          const q = await queryVector(vectors);
          if (!q) return [];
          const k = opts.sameCategoryOnly ? perCategory * 3 : perCategory;
          const hits = await index.search(q, k, { excludeIds: query.seen.recent, signal: ctx.signal });
          const reason: Reason = { code: "CATEGORY_INTEREST", params: { category } };
          const kept: Array<{ id: string; reason: Reason }> = [];
          for (const h of hits) {
            if (kept.length === perCategory) break;
            if (!opts.sameCategoryOnly || ctx.runtime.catalog.video(h.id)?.category === category) kept.push({ id: h.id, reason });
          }
          return kept;
        }),
      );
      // Round-robin interleave; the score is the interleaved rank (1 for the first), which is what merging reads.
      const order: Array<{ id: string; reason: Reason }> = [];
      const taken = new Set<string>();
      const longest = Math.max(...lists.map((l) => l.length));
      for (let i = 0; i < longest && order.length < ctx.limit; i++) {
        for (const list of lists) {
          const hit = list[i];
          if (!hit || taken.has(hit.id) || order.length === ctx.limit) continue;
          taken.add(hit.id);
          order.push(hit);
        }
      }
      const n = order.length;
      return order.map((hit, i): Candidate => ({ videoId: hit.id, score: (n - i) / n, reason: hit.reason }));
    },
  };
}

/** The MultiQuery source as the pipeline registers it: config entries name it "MultiQuery". */
export const multiQuerySource = defineSource({ name: "MultiQuery", options: schema, create: createMultiQuerySource });
