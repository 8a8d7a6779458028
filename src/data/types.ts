/**
 * The domain model every stage of the funnel speaks: importers produce it, validation checks it, features and
 * training read it, the server and the event ingestion write it. External ids are strings, always: a platform's
 * ids are opaque to us, and MovieLens' numeric ids are kept as their decimal text.
 *
 * Times are epoch milliseconds (UTC) throughout.
 */

export type Device = "mobile" | "desktop" | "tv" | "tablet" | "unknown";
export const DEVICES: readonly Device[] = ["mobile", "desktop", "tv", "tablet", "unknown"];

export type Surface = "home" | "watch_next" | "search" | "subscriptions" | "trending" | "shorts" | "unknown";
export const SURFACES: readonly Surface[] = ["home", "watch_next", "search", "subscriptions", "trending", "shorts", "unknown"];

export interface User {
  id: string;
  /** Age in years; undefined when unknown (treated as a minor by the age filter). */
  age?: number;
  gender?: string;
  occupation?: string;
  /** ISO 3166-1 alpha-2, upper case. */
  country?: string;
  /** BCP 47 primary language, lower case ("en"). */
  language?: string;
  /** Account creation time. */
  createdAt?: number;
  device?: Device;
}

export interface Creator {
  id: string;
  name?: string;
  country?: string;
  language?: string;
  createdAt?: number;
}

export type PolicyFlag = "violence" | "adult" | "spam" | "copyright" | "misinformation" | "removed";

export interface Video {
  id: string;
  creatorId: string;
  title: string;
  description?: string;
  tags: string[];
  /** Primary category (MovieLens: the first genre). */
  category: string;
  language?: string;
  /** Seconds. */
  durationSec: number;
  uploadedAt: number;
  ageRestricted?: boolean;
  policyFlags?: PolicyFlag[];
  /** ISO countries where the video must not be shown. */
  blockedRegions?: string[];
}

/** user → user */
export interface Follow {
  followerId: string;
  followeeId: string;
  ts: number;
}

/** user → creator */
export interface Subscription {
  userId: string;
  creatorId: string;
  ts: number;
}

export const EVENT_TYPES = [
  "impression",
  "click",
  "start",
  "watch",
  "progress",
  "pause",
  "resume",
  "seek",
  "search",
  "dwell",
  "like",
  "dislike",
  "comment",
  "share",
  "subscribe",
  "unsubscribe",
  "follow",
  "save",
  "not_interested",
  "report",
  "block_creator",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

interface EventBase<T extends EventType> {
  /** Client-generated, unique: the idempotency key. */
  id: string;
  type: T;
  userId: string;
  ts: number;
  sessionId?: string;
  /** Served-page tracking id (feedback loop: joins outcomes to the impression that caused them). */
  trackingId?: string;
  device?: Device;
  country?: string;
}

interface VideoEventBase<T extends EventType> extends EventBase<T> {
  videoId: string;
}

export interface ImpressionEvent extends VideoEventBase<"impression"> {
  position: number;
  surface: Surface;
  /** Set on impressions the server logs for pages it served (the feedback loop). */
  served?: ServedInfo;
}

/** What the server knew when it served an item: lets training join outcomes to scores and sources. */
export interface ServedInfo {
  modelVersion: string;
  /** Probability per ranker head, e.g. { click: 0.12, completion: 0.4, like: 0.05 }. */
  scores: Record<string, number>;
  /** Final blended score. */
  score: number;
  /** Candidate sources that proposed the item. */
  sources: string[];
  experiment?: string;
}
export interface ClickEvent extends VideoEventBase<"click"> {
  surface?: Surface;
  position?: number;
}
export type StartEvent = VideoEventBase<"start">;
export interface WatchEvent extends VideoEventBase<"watch"> {
  watchedSec: number;
  videoDurationSec: number;
}
export interface ProgressEvent extends VideoEventBase<"progress"> {
  percent: 25 | 50 | 75 | 100;
}
export interface PauseEvent extends VideoEventBase<"pause"> {
  positionSec: number;
}
export interface ResumeEvent extends VideoEventBase<"resume"> {
  positionSec: number;
}
export interface SeekEvent extends VideoEventBase<"seek"> {
  fromSec: number;
  toSec: number;
}
export interface SearchEvent extends EventBase<"search"> {
  query: string;
  clickedVideoIds?: string[];
}
export interface DwellEvent extends VideoEventBase<"dwell"> {
  dwellMs: number;
  scrolledPast: boolean;
}
export type LikeEvent = VideoEventBase<"like">;
export type DislikeEvent = VideoEventBase<"dislike">;
export interface CommentEvent extends VideoEventBase<"comment"> {
  text: string;
}
export interface ShareEvent extends VideoEventBase<"share"> {
  target?: string;
}
export interface SubscribeEvent extends EventBase<"subscribe"> {
  creatorId: string;
  sourceVideoId?: string;
}
export interface UnsubscribeEvent extends EventBase<"unsubscribe"> {
  creatorId: string;
}
export interface FollowEvent extends EventBase<"follow"> {
  followeeId: string;
}
export interface SaveEvent extends VideoEventBase<"save"> {
  playlistId?: string;
}
export type NotInterestedEvent = VideoEventBase<"not_interested">;
export interface ReportEvent extends VideoEventBase<"report"> {
  reason: string;
}
export interface BlockCreatorEvent extends EventBase<"block_creator"> {
  creatorId: string;
}

export type ReelEvent =
  | ImpressionEvent
  | ClickEvent
  | StartEvent
  | WatchEvent
  | ProgressEvent
  | PauseEvent
  | ResumeEvent
  | SeekEvent
  | SearchEvent
  | DwellEvent
  | LikeEvent
  | DislikeEvent
  | CommentEvent
  | ShareEvent
  | SubscribeEvent
  | UnsubscribeEvent
  | FollowEvent
  | SaveEvent
  | NotInterestedEvent
  | ReportEvent
  | BlockCreatorEvent;

export type EventOf<T extends EventType> = Extract<ReelEvent, { type: T }>;

/** Event types that name a video in `videoId`. */
export const VIDEO_EVENT_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  "impression",
  "click",
  "start",
  "watch",
  "progress",
  "pause",
  "resume",
  "seek",
  "dwell",
  "like",
  "dislike",
  "comment",
  "share",
  "save",
  "not_interested",
  "report",
]);

export function eventVideoId(e: ReelEvent): string | undefined {
  return "videoId" in e ? e.videoId : undefined;
}

/** Everything an importer produces: one platform's catalog, people and history. Events are sorted by `ts`. */
export interface Dataset {
  /** Human-readable origin, e.g. "movielens:ml-latest-small". */
  source: string;
  users: User[];
  creators: Creator[];
  videos: Video[];
  follows: Follow[];
  subscriptions: Subscription[];
  events: ReelEvent[];
}

export function assertNever(x: never, what = "value"): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
