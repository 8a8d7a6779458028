import "reflect-metadata";
import { createRequire } from "node:module";
import type { GraphQLScalarType as ScalarType, ValueNode } from "graphql";
import { Field, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { EVENT_TYPES } from "../data/types";
import type { EventStatus } from "../events/ingestor";

/**
 * GraphQL shapes of the recordEvents mutation.
 *
 * Every field of EventInput is nullable and of a lenient scalar: GraphQL checks only that each event is an object
 * with known field names, and the event validator (src/data/validate-event.ts, the one the NDJSON endpoint uses)
 * checks everything else per event — an unknown type, a string where a number belongs, a missing id — answering
 * that event REJECTED with a code and the field while the others are stored. With strict input types (an EventType
 * enum, Float, String!) one such event failed variable coercion and with it the whole batch (HTTP 400), although
 * the mutation promises that a bad event never rejects the others. docs/schema.md records the change.
 */

export const EventStatusEnum = { ACCEPTED: "ACCEPTED", DUPLICATE: "DUPLICATE", REJECTED: "REJECTED" } as const satisfies Record<EventStatus, EventStatus>;
registerEnumType(EventStatusEnum, { name: "EventStatus", description: "Outcome of one event of a batch." });

/**
 * The scalar class must come from the same graphql instance type-graphql uses (it checks `instanceof`): under
 * vitest an ESM `import "graphql"` resolves to graphql's .mjs build while type-graphql gets the CommonJS one.
 * `require` yields the CommonJS instance in every runtime (node, tsx, vitest).
 */
const { GraphQLScalarType, valueFromASTUntyped } = createRequire(import.meta.url)("graphql") as typeof import("graphql");

const LENIENT =
  "Any value passes GraphQL; the event validator rejects a wrong one for this event only (status REJECTED, code INVALID_FIELD, field named), so one bad event never fails its batch.";

/**
 * A scalar that takes any input value as given (a literal as its plain value: `like` → "like", 42 → 42) and leaves
 * the judgement to the event validator. Output is never produced (input-only).
 */
function lenientScalar(name: string, description: string, lenience = LENIENT): ScalarType {
  return new GraphQLScalarType({
    name,
    description: `${description} ${lenience}`,
    serialize: (v) => v,
    parseValue: (v) => v,
    parseLiteral: (ast: ValueNode, variables?: { [key: string]: unknown } | null) => valueFromASTUntyped(ast, variables),
  });
}

/** Epoch milliseconds (Int or Float) or an ISO-8601 date-time string; passed through to the validator as given. */
export const EventTimeScalar = lenientScalar("EventTime", "Event time: epoch milliseconds (number) or an ISO-8601 date-time string.");
/** The type name, as a string ("like") or an enum-style literal (`type: like`), which kept the old enum literals valid. */
export const EventTypeNameScalar = lenientScalar(
  "EventTypeName",
  `Kind of user event, as a string or an unquoted name: ${EVENT_TYPES.join(", ")} (see docs/events.md).`,
  "Any value passes GraphQL; an unknown one is rejected for its event only (status REJECTED, code UNKNOWN_TYPE, field type), so one bad event never fails its batch.",
);
export const EventStringScalar = lenientScalar("EventString", "A string.");
export const EventFloatScalar = lenientScalar("EventFloat", "A number.");
export const EventIntScalar = lenientScalar("EventInt", "An integer.");
export const EventBooleanScalar = lenientScalar("EventBoolean", "true or false.");

@InputType({
  description:
    "One user event; the fields an event needs depend on its type (see docs/events.md). Fields are checked per event, not by GraphQL: a bad event is answered REJECTED in its result while the others are recorded.",
})
export class EventInput {
  // `unknown`: GraphQL passes each value through as sent; validateEvent turns it into a typed ReelEvent or a rejection.
  @Field(() => EventStringScalar, { nullable: true, description: "Required. Client-generated unique id: the idempotency key." })
  id?: unknown;
  @Field(() => EventTypeNameScalar, { nullable: true, description: "Required." })
  type?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "Required." })
  userId?: unknown;
  @Field(() => EventTimeScalar, { nullable: true, description: "Required." })
  ts?: unknown;

  @Field(() => EventStringScalar, { nullable: true }) sessionId?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "Served-page tracking id from the feed response." }) trackingId?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "mobile | desktop | tv | tablet | unknown" }) device?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "ISO 3166-1 alpha-2" }) country?: unknown;

  @Field(() => EventStringScalar, { nullable: true }) videoId?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "subscribe, unsubscribe, block_creator" }) creatorId?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "follow" }) followeeId?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "subscribe: the video the user subscribed from" }) sourceVideoId?: unknown;
  @Field(() => EventFloatScalar, { nullable: true, description: "watch" }) watchedSec?: unknown;
  @Field(() => EventFloatScalar, { nullable: true, description: "watch (0 = unknown)" }) videoDurationSec?: unknown;
  @Field(() => EventIntScalar, { nullable: true, description: "progress: 25, 50, 75 or 100" }) percent?: unknown;
  @Field(() => EventIntScalar, { nullable: true, description: "impression (required), click" }) position?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "impression (required), click: home | watch_next | search | subscriptions | trending | shorts | unknown" })
  surface?: unknown;
  @Field(() => EventFloatScalar, { nullable: true, description: "pause, resume" }) positionSec?: unknown;
  @Field(() => EventFloatScalar, { nullable: true, description: "seek" }) fromSec?: unknown;
  @Field(() => EventFloatScalar, { nullable: true, description: "seek" }) toSec?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "search" }) query?: unknown;
  @Field(() => [EventStringScalar], { nullable: "itemsAndList", description: "search" }) clickedVideoIds?: unknown;
  @Field(() => EventFloatScalar, { nullable: true, description: "dwell" }) dwellMs?: unknown;
  @Field(() => EventBooleanScalar, { nullable: true, description: "dwell" }) scrolledPast?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "comment" }) text?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "share: platform or DM" }) target?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "save" }) playlistId?: unknown;
  @Field(() => EventStringScalar, { nullable: true, description: "report" }) reason?: unknown;
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
