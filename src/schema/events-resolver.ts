import "reflect-metadata";
import { GraphQLError } from "graphql";
import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import { ReelfeedError } from "../errors";
import type { EventIngestor } from "../events/ingestor";
import { summarizeResults } from "../events/ingest";
import { EventInput, RecordEventsPayload } from "./event-types";

/** The part of the GraphQL context this resolver needs. */
export interface EventsContext {
  ingestor: EventIngestor;
}

/**
 * recordEvents: a thin mapping onto the EventIngestor (validation, idempotency and durability live there). The input
 * is lenient (see event-types.ts), so a bad event reaches the validator and comes back as its own REJECTED result;
 * its message starts with the argument path (`events[3].type: ...`) so a client can find the value it sent.
 */
@Resolver()
export class EventsResolver {
  @Mutation(() => RecordEventsPayload, {
    description: "Records a batch of user events. One result per event, in order; a bad event never rejects the others. Idempotent by event id.",
  })
  async recordEvents(@Arg("events", () => [EventInput]) events: EventInput[], @Ctx() ctx: EventsContext): Promise<RecordEventsPayload> {
    try {
      // Plain objects: the validator treats the class instance's explicit nulls as absent.
      const results = (await ctx.ingestor.ingest(events.map((e) => ({ ...e })))).map((r) =>
        r.status === "REJECTED" && r.message !== undefined
          ? { ...r, message: `events[${r.index}]${r.field === undefined ? "" : `.${r.field}`}: ${r.message}` }
          : r,
      );
      return { ...summarizeResults(results), results };
    } catch (err) {
      if (err instanceof ReelfeedError) {
        throw new GraphQLError(err.message, {
          originalError: err,
          extensions: { code: err.code, ...(err.code === "UNAVAILABLE" && { retryable: true }), ...err.details },
        });
      }
      throw err;
    }
  }
}
