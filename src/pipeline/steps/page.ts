import { performance } from "node:perf_hooks";
import type { Video } from "../../data/types";
import { encodeCursor } from "../cursor";
import type { FeedItem, FeedPage, FeedRequest } from "../feed-page";
import type { FunnelEnv, RequestRun } from "../request-run";
import type { SessionItem } from "../session-items";
import { userTag, type Session } from "../sessions";
import { withTimeout } from "../timeout";
import type { FeedQuery, MergedCandidate } from "../types";

/** Filters a catalogue edit or takedown can change the verdict of (filters/index.ts names). */
const VIDEO_RULES: ReadonlySet<string> = new Set(["Removed", "PolicyFlagged", "AgeRestricted", "RegionBlocked"]);

export interface PageStepOptions {
  /** Called with every served page and its query (impression logging). Not awaited; errors go to `onError`. */
  onServed?: (page: FeedPage, query: FeedQuery) => void | Promise<void>;
}

export interface PageRequest {
  request: FeedRequest;
  session: Session;
  /** Absolute position of the page's first item. */
  offset: number;
  requestId: string;
  /** Request time (the cursor's issue time). */
  now: number;
  /** When the request started (performance.now()), for the trace's total. */
  startedAt: number;
}

/**
 * Step 8, page: the page's slice of the session, re-checked against the live catalogue, with per-item tracking ids
 * `<sessionId>.<position>`; recorded as served (state.markServed), given a cursor when the session has more, traced,
 * and handed to `onServed`.
 */
export function createPageStep(env: FunnelEnv, options: PageStepOptions = {}): (page: PageRequest, run: RequestRun) => Promise<FeedPage> {
  const { runtime, definition, onError } = env;
  const { onServed } = options;
  /** The hard rules on the video alone (not on the user's history): what a catalogue edit can change. */
  const videoRules = definition.filters.filter((f) => VIDEO_RULES.has(f.filter.name)).map((f) => f.filter);
  /** The video as it is now when it may still be served from a ranked session, or undefined. */
  function stillServable(c: SessionItem, query: FeedQuery): Video | undefined {
    const current = runtime.catalog.video(c.video.id);
    if (!current || current === c.video) return current;
    const now: MergedCandidate = { videoId: current.id, video: current, sources: [], sourceScore: 0 };
    return videoRules.every((f) => f.apply(query, [now], runtime).kept.length === 1) ? current : undefined;
  }

  return async ({ request, session, offset, requestId, now, startedAt }, run) => {
    const start = offset - session.base;
    const ranked = session.items.slice(start, start + request.first);
    // Catalogue changes since the session was ranked (the live catalogue): a video taken down, or edited into a
    // policy flag, an age or a region restriction, is checked again by the same video rules before a cached page
    // serves it, and an edit is served as it is now. Positions stay those of the session, so the cursor and
    // tracking ids do not shift.
    const live = ranked.flatMap((c, i) => {
      const current = stillServable(c, session.query);
      return current ? [{ c: current === c.video ? c : { ...c, video: current }, position: offset + i }] : [];
    });
    const items: FeedItem[] = live.map(({ c, position }) => ({ ...c, trackingId: `${session.id}.${position}`, position }));
    live.forEach(({ c, position }) => run.tracer.final(c.video.id, position, c.score));
    const next = offset + ranked.length;
    const hasNextPage = session.items.length > start + ranked.length;

    const query = session.query;
    // A preview records nothing (FeedRequest.preview).
    if (!request.preview) {
      try {
        await withTimeout("state.markServed", definition.hydrate.stateTimeoutMs, () => runtime.state.markServed(request.userId, items.map((it) => it.video.id), query.context.now));
      } catch (err) {
        run.fallback("STATE_UNAVAILABLE", "state", `served items not recorded: ${err instanceof Error ? err.message : String(err)}`);
        onError(err, "markServed");
      }
    }
    const page: FeedPage = {
      items,
      endCursor: hasNextPage ? encodeCursor({ sessionId: session.id, offset: next, issuedAt: now, userTag: userTag(request.userId) }) : undefined,
      hasNextPage,
      modelVersion: runtime.modelVersion,
      fallbacks: run.fallbacks,
    };
    run.tracer.stage({ stage: "Page", latencyMs: 0, input: session.items.length - start, output: items.length });
    page.trace = run.tracer.build(requestId, runtime.modelVersion, performance.now() - startedAt);
    if (onServed && !request.preview) {
      try {
        void Promise.resolve(onServed(page, query)).catch((err: unknown) => onError(err, "onServed"));
      } catch (err) {
        onError(err, "onServed");
      }
    }
    return page;
  };
}
