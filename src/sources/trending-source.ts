import { z } from "zod";
import { defineSource } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import type { CandidateSource } from "../pipeline/types";
import { fetchPopular } from "./popular";

/** Options of the trending source. */
export interface TrendingSourceOptions {
  /** Pad with the catalog's newest uploads when the state store has too little trending data. @default true */
  padFromCatalog?: boolean;
}

const schema = z.object({ padFromCatalog: z.boolean().default(true) }).strict();

/**
 * What is being watched now: the state store's time-decayed trending in the request's country first
 * (TRENDING_IN {country}), then globally (POPULAR); on a store with no trending data yet, the catalog's newest.
 * Works for unknown users: it is the cold-start source.
 */
export function createTrendingSource(options: TrendingSourceOptions = {}): CandidateSource {
  const { padFromCatalog } = parseOptions("Trending", schema, options);
  return {
    name: "Trending",
    requires: ["state"],
    fetch: (query, ctx) =>
      fetchPopular(ctx.runtime, { country: query.context.country, limit: ctx.limit, now: query.context.now, padFromCatalog, exclude: query.seen }),
  };
}

/** The Trending source as the pipeline registers it: config entries name it "Trending". */
export const trendingSource = defineSource({ name: "Trending", options: schema, create: createTrendingSource });
