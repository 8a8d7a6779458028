/**
 * The ingestion port the GraphQL mutation and the HTTP batch endpoint both call. One result per input event, in
 * input order: a bad event never rejects its batch.
 */
export type EventStatus = "ACCEPTED" | "DUPLICATE" | "REJECTED";

export interface EventResult {
  /** Position in the batch. */
  index: number;
  /** The event's id when it had one. */
  id?: string;
  status: EventStatus;
  /** Why it was rejected: MISSING_FIELD, INVALID_FIELD, UNKNOWN_TYPE, FUTURE_TIMESTAMP, STALE_TIMESTAMP, ... */
  code?: string;
  /** The offending field, e.g. "watchedSec". */
  field?: string;
  message?: string;
}

export interface EventIngestor {
  /**
   * Validates, deduplicates by event id and durably appends. Resolves once every accepted event is durable;
   * rejects with a ReelfeedError (UNAVAILABLE, retryable) only when nothing could be made durable, and
   * PAYLOAD_TOO_LARGE past the batch bound.
   */
  ingest(raw: readonly unknown[]): Promise<EventResult[]>;
}
