import type { ReelEvent } from "../data/types";

/**
 * The durable event log: the source of truth that real-time features and training exports are rebuilt from.
 * Implementations: an append-only local file log (fsync'd, rotated; embedded mode) and Redis Streams.
 */
export interface LogRecord {
  /** Opaque, increasing position of the record; pass it back to `read` to continue after it. */
  cursor: string;
  event: ReelEvent;
}

/** What one retention pass removed. */
export interface RetentionResult {
  /** Records (Redis entries) or whole segments (file log) removed. */
  removed: number;
  /** Bytes removed (file log); undefined where the backend does not say. */
  bytes?: number;
}

/** The log's size now (metrics). */
export interface LogStats {
  /** Entries held (Redis XLEN); undefined where counting would mean reading the log. */
  entries?: number;
  /** Bytes on disk (file log); undefined where the backend does not say cheaply. */
  bytes?: number;
  /** Cursor of the newest record; undefined when empty. */
  newest?: string;
  /** Bytes after the position passed to `stats` (file log): how far that consumer is behind. */
  pendingBytes?: number;
  /** Milliseconds of log after the position passed to `stats` (Redis: stream ids are server times). */
  pendingMs?: number;
}

export interface EventLog {
  readonly kind: "file" | "redis";
  /** Resolves only once every event is durably written (fsync'd / acknowledged by Redis). Keeps order. */
  append(events: readonly ReelEvent[]): Promise<void>;
  /** Up to `max` records after `after` (from the start when undefined), in append order. */
  read(after: string | undefined, max: number): Promise<LogRecord[]>;
  /**
   * Removes what the log's retention limits allow, but only records at or before `processedThrough`: the slowest
   * position every consumer has durably checkpointed. Undefined (some consumer has processed nothing) removes
   * nothing. Logs without retention settings remove nothing.
   */
  retain?(processedThrough: string | undefined): Promise<RetentionResult>;
  /** Size and newest position, for metrics; with `position`, how far behind it is. */
  stats?(position?: string): Promise<LogStats>;
  close(): Promise<void>;
}
