import type { Candidate, FeedRuntime } from "../pipeline/types";

/**
 * Popular videos: the pipeline's last resort (popularity fill), the Trending source and the `trending` query all
 * read them here, so "popular" means one thing everywhere.
 *
 * Order: the state store's time-decayed trending for the country, then global trending, then, when the store has
 * too little (a fresh install, a store that is down), the catalog's newest uploads, scored by recency. A catalog
 * pad keeps the feed answering even when every real-time signal is missing.
 */
export interface PopularOptions {
  country?: string;
  limit: number;
  now: number;
  /** Pad with the catalog's newest uploads up to `limit`. @default true */
  padFromCatalog?: boolean;
  /** Ids never to return (a Set, or a query's SeenSet); `size` sizes the over-fetch. */
  exclude?: Pick<ReadonlySet<string>, "has" | "size">;
}

export async function fetchPopular(runtime: FeedRuntime, options: PopularOptions): Promise<Candidate[]> {
  const { country, limit, now, padFromCatalog = true, exclude } = options;
  const out: Candidate[] = [];
  const taken = new Set<string>();
  // `known`: the id comes from the catalog itself (the pad), so asking the catalog whether it knows it is skipped.
  const push = (videoId: string, score: number, reason: Candidate["reason"], known = false): void => {
    if (out.length >= limit || taken.has(videoId) || exclude?.has(videoId) || (!known && !runtime.catalog.video(videoId))) return;
    taken.add(videoId);
    out.push({ videoId, score, reason });
  };
  // Over-fetch: excluded and unknown ids are dropped after the store answers.
  const want = limit + (exclude?.size ?? 0);
  const [local, global] = await Promise.all([
    country ? runtime.state.trending(country, want, now) : Promise.resolve([]),
    runtime.state.trending(undefined, want, now),
  ]);
  for (const hit of local) push(hit.videoId, hit.score, { code: "TRENDING_IN", params: { country: country ?? "" } });
  for (const hit of global) push(hit.videoId, hit.score, { code: "POPULAR", params: {} });
  if (padFromCatalog && out.length < limit) {
    // Below the weakest trending score, so a padded video never outranks a really trending one; newest first
    // (by rank, not by age: a catalog of old films would otherwise score all zeros).
    const floor = out.length ? Math.min(...out.map((c) => c.score)) : 1;
    let i = 0;
    for (const video of runtime.catalog.newest()) {
      if (out.length >= limit) break;
      if (video.uploadedAt > now) continue;
      push(video.id, floor / (2 + i++), { code: "POPULAR", params: {} }, true);
    }
  }
  return out;
}
