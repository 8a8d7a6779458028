// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { registerEnumType } from "type-graphql";
import type { Device, Surface } from "../data/types";
import type { FallbackKind } from "../pipeline/feed-page";
import type { ReasonCode } from "../pipeline/types";

/**
 * GraphQL enums. Each TS enum's values are the domain's own strings, so a resolver receives `"watch_next"` for
 * `WATCH_NEXT` and hands it to the pipeline unchanged; the `satisfies` checks keep them in step with the domain.
 */

export enum SurfaceEnum {
  HOME = "home",
  WATCH_NEXT = "watch_next",
  SEARCH = "search",
  SUBSCRIPTIONS = "subscriptions",
  TRENDING = "trending",
  SHORTS = "shorts",
}
SurfaceEnum satisfies Record<string, Surface>;
registerEnumType(SurfaceEnum, { name: "Surface", description: "Where in the client the feed is shown." });

export enum DeviceEnum {
  MOBILE = "mobile",
  DESKTOP = "desktop",
  TV = "tv",
  TABLET = "tablet",
  UNKNOWN = "unknown",
}
DeviceEnum satisfies Record<string, Device>;
registerEnumType(DeviceEnum, { name: "Device" });

export enum ReasonCodeEnum {
  PERSONALIZED = "PERSONALIZED",
  SUBSCRIBED_CREATOR = "SUBSCRIBED_CREATOR",
  SIMILAR_TO = "SIMILAR_TO",
  TRENDING_IN = "TRENDING_IN",
  POPULAR = "POPULAR",
  FRIENDS_ENGAGED = "FRIENDS_ENGAGED",
  FRESH = "FRESH",
  CATEGORY_INTEREST = "CATEGORY_INTEREST",
  EXPLORATION = "EXPLORATION",
}
// Both directions: a new code in REASON_CODES fails to compile here until the schema has it too.
ReasonCodeEnum satisfies Record<ReasonCode, ReasonCode>;
registerEnumType(ReasonCodeEnum, {
  name: "ReasonCode",
  description: "Why a video was proposed; `Reason.params` carries the details (e.g. SIMILAR_TO → videoId).",
});

export enum FallbackKindEnum {
  SOURCE_FAILED = "SOURCE_FAILED",
  SOURCE_TIMEOUT = "SOURCE_TIMEOUT",
  RANKER_UNAVAILABLE = "RANKER_UNAVAILABLE",
  POPULARITY = "POPULARITY",
  STATE_UNAVAILABLE = "STATE_UNAVAILABLE",
  OVERLOADED = "OVERLOADED",
}
FallbackKindEnum satisfies Record<FallbackKind, FallbackKind>;
registerEnumType(FallbackKindEnum, {
  name: "FallbackKind",
  description: "A degraded path the feed took to answer (the feed still answered).",
});

export enum AgeGroupEnum {
  UNDER_18 = "UNDER_18",
  AGE_18_24 = "AGE_18_24",
  AGE_25_34 = "AGE_25_34",
  AGE_35_44 = "AGE_35_44",
  AGE_45_54 = "AGE_45_54",
  AGE_55_PLUS = "AGE_55_PLUS",
  UNKNOWN = "UNKNOWN",
}
registerEnumType(AgeGroupEnum, { name: "AgeGroup", description: "Coarse age band; the raw age is never exposed." });
