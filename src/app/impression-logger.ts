import type { ImpressionEvent } from "../data/types";
import { summarizeResults } from "../events/ingest";
import type { EventIngestor } from "../events/ingestor";
import type { FeedPage } from "../pipeline/feed-page";
import type { FeedQuery } from "../pipeline/types";

/**
 * The server side of the feedback loop: every served item becomes one `impression` event carrying its tracking id
 * and what the server knew (model version, ranker heads, blended score, proposing sources). Clicks and watches a
 * client sends later carry the same tracking id, so export-training can join outcomes to scores.
 *
 * The events go through the ingestor (same validation, same dedupe, same durable log as client events) rather
 * than straight into the log: a server-logged impression is an ordinary valid event, and a bug that made it
 * invalid shows up as a rejection here instead of as a poisoned log that breaks the consumer.
 *
 * Experiment exposure: every impression of a request bucketed into experiments carries them in `served.experiment`
 * (`name=variant` pairs joined by `;`, src/experiments/assignment.ts), which is what the online metrics per variant
 * and export-training read.
 */
export interface ImpressionLoggerOptions {
  /** Where the impressions go (validated, deduplicated by id, appended durably). */
  ingestor: EventIngestor;
  /** Receives a failed append or a rejected impression (never thrown into the request). @default console.warn */
  onError?: (error: unknown, where: string) => void;
  /** Server clock, to cap a request's claimed time (a client-sent future time would be rejected as FUTURE_TIMESTAMP). @default Date.now */
  clock?: () => number;
  /**
   * The request's experiment exposures, encoded (src/experiments/assignment.ts encodeExposures); undefined when it
   * is in none. Assignment is a pure function of the user and the time, so this recomputes what the router chose.
   * @default no experiments
   */
  experimentOf?: (query: FeedQuery) => string | undefined;
}

/** Impression event ids derive from the tracking id: re-logging the same served item is a DUPLICATE, not a copy. */
export const impressionEventId = (trackingId: string): string => `imp:${trackingId}`;

/** One impression per served item, in page order. Pure. */
export function impressionEvents(page: FeedPage, query: FeedQuery, now: number, experiment?: string): ImpressionEvent[] {
  // The request's own notion of "now" (a replay or test may ask as of a past time), never past the server clock.
  const ts = Math.min(query.context.now, now);
  return page.items.map((item) => {
    const event: ImpressionEvent = {
      id: impressionEventId(item.trackingId),
      type: "impression",
      userId: query.userId,
      videoId: item.video.id,
      ts,
      trackingId: item.trackingId,
      position: item.position,
      surface: query.surface,
      device: query.context.device,
      served: {
        modelVersion: page.modelVersion,
        scores: Object.fromEntries(Object.entries(item.heads).filter(([, p]) => Number.isFinite(p))),
        score: Number.isFinite(item.score) ? item.score : 0,
        sources: [...item.sources],
        ...(experiment !== undefined && { experiment }),
      },
    };
    if (query.context.country) event.country = query.context.country;
    return event;
  });
}

/** Returns the feed service's `onServed` hook. */
export function createImpressionLogger(options: ImpressionLoggerOptions): (page: FeedPage, query: FeedQuery) => Promise<void> {
  const { ingestor, onError = (error, where) => console.warn(`reelfeed: ${where}: ${error instanceof Error ? error.message : String(error)}`), clock = Date.now, experimentOf } = options;
  return async (page, query) => {
    if (page.items.length === 0) return;
    const events = impressionEvents(page, query, clock(), experimentOf?.(query));
    let results;
    try {
      results = await ingestor.ingest(events);
    } catch (err) {
      onError(err, "impression log");
      return;
    }
    const { rejected } = summarizeResults(results);
    if (rejected > 0) {
      const first = results.find((r) => r.status === "REJECTED");
      onError(new Error(`${rejected} impression(s) rejected: ${first?.code} ${first?.field ?? ""} ${first?.message ?? ""}`.trim()), "impression log");
    }
  };
}
