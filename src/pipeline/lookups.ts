import type { Video } from "../data/types";
import { badInput, ReelfeedError } from "../errors";
import { safetyFilters } from "../filters";
import { fetchPopular } from "../sources/popular";
import { EMPTY_SEEN } from "../stores/seen-set";
import type { VectorIndex } from "../stores/vector-index";
import type { FeedService } from "./feed-page";
import { RequestRun, type FunnelEnv } from "./request-run";
import { EMPTY_RELATIONS } from "./steps/hydrate";
import { runFilters } from "./steps/filters";
import { mergeCandidates, type SourceOutput } from "./steps/merge";
import { createTracer } from "./trace";
import type { FeedQuery, MergedCandidate } from "./types";

/**
 * The two queries beside the feed that serve anyone, with no user history: similar videos (watch-next) and
 * trending. They reuse the merge and the user-independent safety rules, nothing personal, and are never traced.
 */
export function createLookups(env: FunnelEnv): Pick<FeedService, "similarVideos" | "trending"> {
  const { runtime, clock } = env;
  const rrfK = env.definition.merge.rrfK;
  const safety = safetyFilters().map((filter) => ({ filter }));
  const anonymous = (now: number, country?: string): FeedQuery => ({
    userId: "",
    surface: "unknown",
    context: { device: "unknown", country: country?.toUpperCase(), now, sessionVideoIds: [] },
    relations: EMPTY_RELATIONS,
    seen: EMPTY_SEEN,
    pageSize: 0,
  });
  const noTrace = (): RequestRun => new RequestRun(createTracer(false), env.stats);

  async function similarVideos(videoId: string, first: number): Promise<Array<{ video: Video; score: number }>> {
    if (!Number.isInteger(first) || first < 1) throw badInput("first", "must be a positive integer");
    const seed = runtime.catalog.video(videoId);
    // A taken-down video is gone for every caller (it stays in the catalog only so filters and sessions see the flag).
    if (!seed || seed.policyFlags?.includes("removed")) throw new ReelfeedError("NOT_FOUND", `videoId: unknown video "${videoId}"`, { argument: "videoId" });
    const exclude = new Set([videoId]);
    const neighbours = async (source: string, index: VectorIndex | undefined): Promise<SourceOutput | undefined> => {
      if (!index) return undefined;
      const vector = await index.get(videoId);
      if (!vector) return undefined;
      const hits = (await index.nearestTo?.(videoId, vector, first * 2, exclude)) ?? (await index.search(vector, first * 2, { excludeIds: exclude }));
      return { source, weight: 1, candidates: hits.map((h) => ({ videoId: h.id, score: h.score, reason: { code: "SIMILAR_TO", params: { videoId } } })) };
    };
    const outputs = (await Promise.all([neighbours("Content", runtime.vectors.content), neighbours("TwoTower", runtime.vectors.twoTower)])).filter(
      (o): o is SourceOutput => !!o,
    );
    if (outputs.length === 0) {
      // No embedding for this video (a fresh upload): the same creator's, then the same category's newest.
      const sameCreator = runtime.catalog.videosByCreator(seed.creatorId).filter((v) => v.id !== videoId);
      const sameCategory = runtime.catalog.newest().filter((v) => v.category === seed.category && v.id !== videoId && v.creatorId !== seed.creatorId);
      const list = [...sameCreator, ...sameCategory].slice(0, first * 2);
      outputs.push({ source: "Catalog", weight: 1, candidates: list.map((v, i) => ({ videoId: v.id, score: 1 / (1 + i), reason: { code: "SIMILAR_TO", params: { videoId } } })) });
    }
    const { merged } = mergeCandidates(outputs, runtime.catalog, { rrfK });
    const safe = runFilters(safety, anonymous(clock()), merged, env, noTrace());
    return safe.slice(0, first).map((c) => ({ video: c.video, score: c.sourceScore }));
  }

  async function trending(country: string | undefined, first: number): Promise<Array<{ video: Video; score: number }>> {
    if (!Number.isInteger(first) || first < 1) throw badInput("first", "must be a positive integer");
    if (country !== undefined && !/^[A-Za-z]{2}$/.test(country)) throw badInput("country", "expected an ISO 3166-1 alpha-2 code");
    const now = clock();
    const popular = await fetchPopular(runtime, { country: country?.toUpperCase(), limit: first * 2, now });
    const merged = popular.flatMap((c): MergedCandidate[] => {
      const video = runtime.catalog.video(c.videoId);
      return video ? [{ videoId: c.videoId, video, sources: [{ source: "Trending", score: c.score, reason: c.reason }], sourceScore: c.score }] : [];
    });
    const safe = runFilters(safety, anonymous(now, country), merged, env, noTrace());
    return safe.slice(0, first).map((c) => ({ video: c.video, score: c.sourceScore }));
  }

  return { similarVideos, trending };
}
