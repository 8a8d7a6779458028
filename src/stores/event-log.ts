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

export interface EventLog {
  readonly kind: "file" | "redis";
  /** Resolves only once every event is durably written (fsync'd / acknowledged by Redis). Keeps order. */
  append(events: readonly ReelEvent[]): Promise<void>;
  /** Up to `max` records after `after` (from the start when undefined), in append order. */
  read(after: string | undefined, max: number): Promise<LogRecord[]>;
  close(): Promise<void>;
}
