import type { EventIngestor, EventResult } from "../events/ingestor";
import type { Principal } from "./principal";

/**
 * The event ingestor as a user token may use it: an event for another user is REJECTED with code FORBIDDEN and
 * never written; the token's own events go through. That keeps the ingestion port's contract (one result per
 * event, a bad event never rejects its batch), so POST /events answers per line as it always does. Keys and open
 * servers get the ingestor unchanged. For GraphQL the operation guard already refused such a batch as a whole,
 * before execution; this is the check for POST /events, and the second line for GraphQL.
 */
export function guardIngestor(ingestor: EventIngestor, principal: Principal): EventIngestor {
  if (principal.kind !== "user") return ingestor;
  return {
    ingest: async (events) => {
      const results: EventResult[] = new Array(events.length);
      const own: unknown[] = [];
      const at: number[] = [];
      events.forEach((e, index) => {
        const { userId, id } = e !== null && typeof e === "object" ? (e as { userId?: unknown; id?: unknown }) : {};
        // An event without a string userId is not another user's: validation rejects it with its own reason.
        if (typeof userId === "string" && userId !== principal.userId) {
          results[index] = {
            index,
            ...(typeof id === "string" && { id }),
            status: "REJECTED",
            code: "FORBIDDEN",
            field: "userId",
            message: "a user token may only record its own user's events",
          };
        } else {
          own.push(e);
          at.push(index);
        }
      });
      if (own.length > 0) (await ingestor.ingest(own)).forEach((r, j) => (results[at[j]] = { ...r, index: at[j] }));
      return results;
    },
  };
}
