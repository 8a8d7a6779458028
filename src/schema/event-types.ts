import "reflect-metadata";
import { createRequire } from "node:module";
import { GraphQLError, Kind } from "graphql";
import { Field, Float, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { EVENT_TYPES, type EventType } from "../data/types";
import type { EventStatus } from "../events/ingestor";

/**
 * GraphQL shapes of the recordEvents mutation. Every field but id/type/userId/ts is optional here: which ones an
 * event needs depends on its type, and the event validator (src/data/validate-event.ts) reports a missing or
 * bad one per event (status REJECTED, code, field) instead of failing the whole batch at the GraphQL layer.
 */

/** GraphQL enum values are the event type names themselves ("watch", "not_interested", ...). */
export const EventTypeEnum = Object.fromEntries(EVENT_TYPES.map((t) => [t, t])) as { [K in EventType]: K };
registerEnumType(EventTypeEnum, { name: "EventType", description: "Kind of user event (see docs/events.md)." });

export const EventStatusEnum = { ACCEPTED: "ACCEPTED", DUPLICATE: "DUPLICATE", REJECTED: "REJECTED" } as const satisfies Record<EventStatus, EventStatus>;
registerEnumType(EventStatusEnum, { name: "EventStatus", description: "Outcome of one event of a batch." });

/**
 * The scalar class must come from the same graphql instance type-graphql uses (it checks `instanceof`): under
 * vitest an ESM `import "graphql"` resolves to graphql's .mjs build while type-graphql gets the CommonJS one.
 * `require` yields the CommonJS instance in every runtime (node, tsx, vitest).
 */
const { GraphQLScalarType } = createRequire(import.meta.url)("graphql") as typeof import("graphql");

/** Epoch milliseconds (Int or Float) or an ISO-8601 date-time string; passed through to the validator as given. */
export const EventTimeScalar = new GraphQLScalarType({
  name: "EventTime",
  description: "Event time: epoch milliseconds (number) or an ISO-8601 date-time string.",
  serialize: (v) => v,
  parseValue(v) {
    if (typeof v === "number" || typeof v === "string") return v;
    throw new GraphQLError("EventTime must be epoch milliseconds or an ISO-8601 string");
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.INT || ast.kind === Kind.FLOAT) return Number(ast.value);
    if (ast.kind === Kind.STRING) return ast.value;
    throw new GraphQLError("EventTime must be epoch milliseconds or an ISO-8601 string");
  },
});

@InputType({ description: "One user event; the fields an event needs depend on its type (see docs/events.md)." })
export class EventInput {
  @Field(() => String, { description: "Client-generated unique id: the idempotency key." })
  id!: string;
  @Field(() => EventTypeEnum)
  type!: EventType;
  @Field(() => String)
  userId!: string;
  @Field(() => EventTimeScalar)
  ts!: number | string;

  @Field(() => String, { nullable: true }) sessionId?: string;
  @Field(() => String, { nullable: true, description: "Served-page tracking id from the feed response." }) trackingId?: string;
  @Field(() => String, { nullable: true, description: "mobile | desktop | tv | tablet | unknown" }) device?: string;
  @Field(() => String, { nullable: true, description: "ISO 3166-1 alpha-2" }) country?: string;

  @Field(() => String, { nullable: true }) videoId?: string;
  @Field(() => String, { nullable: true, description: "subscribe, unsubscribe, block_creator" }) creatorId?: string;
  @Field(() => String, { nullable: true, description: "follow" }) followeeId?: string;
  @Field(() => String, { nullable: true, description: "subscribe: the video the user subscribed from" }) sourceVideoId?: string;
  @Field(() => Float, { nullable: true, description: "watch" }) watchedSec?: number;
  @Field(() => Float, { nullable: true, description: "watch (0 = unknown)" }) videoDurationSec?: number;
  @Field(() => Int, { nullable: true, description: "progress: 25, 50, 75 or 100" }) percent?: number;
  @Field(() => Int, { nullable: true, description: "impression (required), click" }) position?: number;
  @Field(() => String, { nullable: true, description: "impression (required), click: home | watch_next | search | subscriptions | trending | shorts | unknown" })
  surface?: string;
  @Field(() => Float, { nullable: true, description: "pause, resume" }) positionSec?: number;
  @Field(() => Float, { nullable: true, description: "seek" }) fromSec?: number;
  @Field(() => Float, { nullable: true, description: "seek" }) toSec?: number;
  @Field(() => String, { nullable: true, description: "search" }) query?: string;
  @Field(() => [String], { nullable: true, description: "search" }) clickedVideoIds?: string[];
  @Field(() => Float, { nullable: true, description: "dwell" }) dwellMs?: number;
  @Field(() => Boolean, { nullable: true, description: "dwell" }) scrolledPast?: boolean;
  @Field(() => String, { nullable: true, description: "comment" }) text?: string;
  @Field(() => String, { nullable: true, description: "share: platform or DM" }) target?: string;
  @Field(() => String, { nullable: true, description: "save" }) playlistId?: string;
  @Field(() => String, { nullable: true, description: "report" }) reason?: string;
}

@ObjectType({ description: "Outcome of one event, in input order." })
export class EventResultType {
  @Field(() => Int, { description: "Position in the batch." }) index!: number;
  @Field(() => String, { nullable: true }) id?: string;
  @Field(() => EventStatusEnum) status!: EventStatus;
  @Field(() => String, { nullable: true, description: "MISSING_FIELD, INVALID_FIELD, UNKNOWN_TYPE, FUTURE_TIMESTAMP, STALE_TIMESTAMP, ..." })
  code?: string;
  @Field(() => String, { nullable: true, description: "The offending field." }) field?: string;
  @Field(() => String, { nullable: true }) message?: string;
}

@ObjectType()
export class RecordEventsPayload {
  @Field(() => Int) accepted!: number;
  @Field(() => Int, { description: "Events already recorded (retries): not counted twice." }) duplicates!: number;
  @Field(() => Int) rejected!: number;
  @Field(() => [EventResultType]) results!: EventResultType[];
}
