import { EMPTY_SEEN, servedOnly } from "../../stores/seen-set";
import type { UserRelations } from "../../stores/state-store";
import type { FeedRequest } from "../feed-page";
import type { FunnelEnv, RequestRun } from "../request-run";
import { withTimeout } from "../timeout";
import type { FeedQuery } from "../types";

export const EMPTY_RELATIONS: UserRelations = { notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] };

/**
 * Step 1, hydrate: the request becomes a FeedQuery. The profile comes from the catalog; aggregates, relations and
 * the seen set from the state store, in parallel (three independent reads), each within the hydrate budget. A
 * state store that fails or passes its budget does not fail the feed: the query gets empty state for what did not
 * answer and the page says STATE_UNAVAILABLE. On a rewatch surface the seen set is only the recently served.
 */
export async function hydrate(request: FeedRequest, env: FunnelEnv, run: RequestRun): Promise<FeedQuery> {
  const { runtime, definition, clock } = env;
  const { stateTimeoutMs, rewatchSurfaces } = definition.hydrate;
  const { userId } = request;
  const user = runtime.catalog.user(userId);
  const reads = await run.timed("Hydrate", () =>
    Promise.allSettled([
      withTimeout("state.getUser", stateTimeoutMs, () => runtime.state.getUser(userId)),
      withTimeout("state.getRelations", stateTimeoutMs, () => runtime.state.getRelations(userId)),
      withTimeout("state.getSeen", stateTimeoutMs, () => runtime.state.getSeen(userId)),
    ]),
  );
  const [agg, relations, seen] = reads;
  const failed = reads.flatMap((r) => (r.status === "rejected" ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (failed.length) run.fallback("STATE_UNAVAILABLE", "state", `served with empty real-time state: ${failed.join("; ")}`);
  const ctx = request.context;
  return {
    userId,
    user,
    surface: request.surface,
    context: {
      device: ctx.device ?? user?.device ?? "unknown",
      country: (ctx.country ?? user?.country)?.toUpperCase(),
      language: (ctx.language ?? user?.language)?.toLowerCase(),
      now: ctx.now ?? clock(),
      sessionVideoIds: ctx.sessionVideoIds ?? [],
    },
    seedVideoId: request.seedVideoId,
    userAgg: agg.status === "fulfilled" ? agg.value : undefined,
    relations: relations.status === "fulfilled" ? relations.value : EMPTY_RELATIONS,
    seen: seen.status !== "fulfilled" ? EMPTY_SEEN : rewatchSurfaces.includes(request.surface) ? servedOnly(seen.value) : seen.value,
    pageSize: request.first,
  };
}
