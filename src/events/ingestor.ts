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
  /**
   * Events answered since start, by status (ACCEPTED: durable; DUPLICATE: an id already logged; REJECTED: invalid),
   * the server's own impressions included: the ingest rate an operator watches. Absent on wrappers that only filter.
   */
  stats?(): IngestStats;
}

export interface IngestStats {
  accepted: number;
  duplicates: number;
  rejected: number;
}
