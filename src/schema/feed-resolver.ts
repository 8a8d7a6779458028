// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { Arg, Ctx, ID, Int, Query, Resolver } from "type-graphql";
import type { FeedPage, FeedRequest } from "../pipeline/feed-page";
import type { ReelfeedContext } from "./context";
import { SurfaceEnum } from "./enums";
import { FeedContextInput } from "./feed-inputs";
import { FeedConnectionType } from "./feed-types";
import { toFeedConnection } from "./mappers";
import type { ServerMetrics } from "./metrics";
import {
  MAX_SESSION_VIDEO_IDS,
  checkCountry,
  checkCursor,
  checkId,
  checkIdList,
  checkLanguage,
  checkPageSize,
  checkTime,
  notFound,
} from "./validation";

export const DEFAULT_PAGE_SIZE = 20;

/** Arguments → FeedRequest. Pure, so the validation rules are testable without a server. */
export function toFeedRequest(
  args: {
    userId: string;
    surface?: SurfaceEnum | null;
    context?: FeedContextInput | null;
    first?: number | null;
    after?: string | null;
    seedVideoId?: string | null;
    debug?: boolean | null;
    preview?: boolean | null;
  },
  limits: { maxPageSize: number },
): FeedRequest {
  const ctx = args.context ?? {};
  return {
    userId: checkId(args.userId, "userId"),
    surface: args.surface ?? SurfaceEnum.HOME,
    context: {
      device: ctx.device ?? undefined,
      country: checkCountry(ctx.country, "context.country"),
      language: checkLanguage(ctx.language, "context.language"),
      now: checkTime(ctx.time, "context.time"),
      sessionVideoIds: checkIdList(ctx.sessionVideoIds, "context.sessionVideoIds", MAX_SESSION_VIDEO_IDS),
    },
    seedVideoId: args.seedVideoId == null ? undefined : checkId(args.seedVideoId, "seedVideoId"),
    first: checkPageSize(args.first ?? DEFAULT_PAGE_SIZE, limits.maxPageSize),
    after: checkCursor(args.after, "after"),
    debug: args.debug ?? false,
    ...(args.preview ? { preview: true } : {}),
  };
}

function recordFallbacks(metrics: ServerMetrics, page: FeedPage): void {
  for (const f of page.fallbacks) {
    metrics.feedFallbacks.inc({ kind: f.kind });
    if (f.kind === "SOURCE_FAILED") metrics.sourceErrors.inc({ source: f.component, kind: "failed" });
    else if (f.kind === "SOURCE_TIMEOUT") metrics.sourceErrors.inc({ source: f.component, kind: "timeout" });
  }
}

@Resolver()
export class FeedResolver {
  @Query(() => FeedConnectionType, {
    description:
      "A ranked, paginated feed. An unknown user gets a cold-start feed, never an error. `trace` is filled only with `debug: true`.",
  })
  async feed(
    @Arg("userId", () => ID) userId: string,
    @Arg("surface", () => SurfaceEnum, { nullable: true, defaultValue: SurfaceEnum.HOME }) surface: SurfaceEnum | null,
    @Arg("context", () => FeedContextInput, { nullable: true }) context: FeedContextInput | null,
    @Arg("first", () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg("after", () => String, { nullable: true, description: "`pageInfo.endCursor` of the previous page." })
    after: string | null,
    @Arg("seedVideoId", () => ID, { nullable: true, description: "The video being watched (WATCH_NEXT)." })
    seedVideoId: string | null,
    @Arg("debug", () => Boolean, { nullable: true, defaultValue: false }) debug: boolean | null,
    @Arg("preview", () => Boolean, {
      nullable: true,
      defaultValue: false,
      description:
        "Look without recording (needs the debug scope): the page is not marked served, no impression is logged and experiment metrics do not count it. For dashboards and QA tools; an app showing the feed to its user never sets it.",
    })
    preview: boolean | null,
    @Ctx() ctx: ReelfeedContext,
  ): Promise<FeedConnectionType> {
    const request = toFeedRequest(
      { userId, surface, context, first, after, seedVideoId, debug, preview },
      { maxPageSize: ctx.config.server.maxPageSize },
    );
    if (request.seedVideoId !== undefined && !ctx.services.catalog.video(request.seedVideoId)) {
      throw notFound("seedVideoId", `no video "${request.seedVideoId}"`);
    }
    const page = await ctx.services.feed.feed(request);
    recordFallbacks(ctx.metrics, page);
    return toFeedConnection(page, ctx.services.catalog, request.debug);
  }
}
