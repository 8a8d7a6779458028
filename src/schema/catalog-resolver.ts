// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { Arg, Ctx, ID, Int, Query, Resolver } from "type-graphql";
import type { ReelfeedContext } from "./context";
import { ScoredVideoType, UserType, VideoType } from "./catalog-types";
import { DEFAULT_PAGE_SIZE } from "./feed-resolver";
import { toScoredVideos, toUserNode, toVideoNode } from "./mappers";
import { checkCountry, checkId, checkPageSize, notFound } from "./validation";

/**
 * Lookups and non-personalised lists. Lookups of an unknown id answer null (absence is an answer); `similarVideos`
 * of an unknown video is NOT_FOUND, because the caller asked for a computation on something that does not exist.
 */
@Resolver()
export class CatalogResolver {
  @Query(() => VideoType, { nullable: true, description: "A video by id; null when there is none." })
  video(@Arg("id", () => ID) id: string, @Ctx() ctx: ReelfeedContext): VideoType | null {
    const video = ctx.services.catalog.video(checkId(id, "id"));
    // A taken-down video (removeVideos) stays in the catalog flagged, for the filters; to callers it is gone.
    return video && !video.policyFlags?.includes("removed") ? toVideoNode(video, ctx.services.catalog) : null;
  }

  @Query(() => UserType, { nullable: true, description: "A user's public profile; null when there is none." })
  user(@Arg("id", () => ID) id: string, @Ctx() ctx: ReelfeedContext): UserType | null {
    const user = ctx.services.catalog.user(checkId(id, "id"));
    return user ? toUserNode(user) : null;
  }

  @Query(() => [ScoredVideoType], {
    description: "Videos similar to one video (content and two-tower neighbours). NOT_FOUND for an unknown video.",
  })
  async similarVideos(
    @Arg("videoId", () => ID) videoId: string,
    @Arg("first", () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Ctx() ctx: ReelfeedContext,
  ): Promise<ScoredVideoType[]> {
    const id = checkId(videoId, "videoId");
    const n = checkPageSize(first ?? DEFAULT_PAGE_SIZE, ctx.config.server.maxPageSize);
    if (!ctx.services.catalog.video(id) || ctx.services.catalog.video(id)!.policyFlags?.includes("removed")) throw notFound("videoId", `no video "${id}"`);
    return toScoredVideos(await ctx.services.feed.similarVideos(id, n), ctx.services.catalog);
  }

  @Query(() => [ScoredVideoType], { description: "Trending videos, in a country (ISO alpha-2) or globally." })
  async trending(
    @Arg("country", () => String, { nullable: true }) country: string | null,
    @Arg("first", () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Ctx() ctx: ReelfeedContext,
  ): Promise<ScoredVideoType[]> {
    const c = checkCountry(country, "country");
    const n = checkPageSize(first ?? DEFAULT_PAGE_SIZE, ctx.config.server.maxPageSize);
    return toScoredVideos(await ctx.services.feed.trending(c, n), ctx.services.catalog);
  }
}
