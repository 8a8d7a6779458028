import type { ReelEvent } from "../data/types";
import { ReelfeedError } from "../errors";
import type { EventLog } from "../stores/event-log";
import { isIdempotentEventLog, type EventDeduper } from "./id-window-deduper";
import type { EventIngestor, EventResult } from "./ingestor";
import { validateEvent, type EventValidationOptions } from "../data/validate-event";

/** How events enter the system: validate each, deduplicate by id, append durably, then acknowledge. */
export interface IngestorOptions {
  /** The durable log events are appended to. */
  log: EventLog;
  /**
   * Deduplication by event id. @default the log itself when it deduplicates atomically with its append (the file
   * log's id window rebuilt at open, the Redis log's SET NX + XADD script); required for any other log.
   */
  dedupe?: EventDeduper;
  /** Most events in one batch; past it the whole batch is refused with PAYLOAD_TOO_LARGE. @default 1000 (config server.maxEventBatch) */
  maxBatch?: number;
  /** Timestamp window and field bounds. @default {} (config events.*) */
  validation?: EventValidationOptions;
  /** Called with the newly accepted events after they are durable (e.g. to wake the consumer). @default undefined */
  onAccepted?: (events: readonly ReelEvent[]) => void;
}

export function createIngestor(options: IngestorOptions): EventIngestor {
  const { log, maxBatch = 1000, validation = {}, onAccepted } = options;
  const dedupe = options.dedupe ?? (isIdempotentEventLog(log) ? log : undefined);
  if (!dedupe) {
    throw new ReelfeedError("BAD_CONFIG", `events: a ${log.kind} log without idempotent append needs a dedupe option`, { key: "dedupe" });
  }

  const counts = { accepted: 0, duplicates: 0, rejected: 0 };
  return {
    stats: () => ({ ...counts }),
    async ingest(raw) {
      if (!Array.isArray(raw)) throw new ReelfeedError("BAD_USER_INPUT", "events: expected a list of events", { argument: "events" });
      if (raw.length > maxBatch) {
        throw new ReelfeedError("PAYLOAD_TOO_LARGE", `events: batch of ${raw.length} events is over the limit of ${maxBatch}`, {
          argument: "events",
          limit: maxBatch,
        });
      }
      const results: EventResult[] = new Array(raw.length);
      const valid: ReelEvent[] = [];
      const validAt: number[] = [];
      raw.forEach((r, index) => {
        const check = validateEvent(r, validation);
        if (check.ok) {
          valid.push(check.event);
          validAt.push(index);
        } else {
          const id = typeof r === "object" && r !== null && typeof (r as { id?: unknown }).id === "string" ? (r as { id: string }).id : undefined;
          results[index] = { index, ...(id !== undefined && { id }), status: "REJECTED", code: check.code, field: check.field, message: check.message };
        }
      });
      if (valid.length > 0) {
        let flags: boolean[];
        try {
          flags = await dedupe.appendNew(valid);
        } catch (err) {
          if (err instanceof ReelfeedError) throw err;
          throw new ReelfeedError("UNAVAILABLE", `event log unavailable: ${(err as Error).message}`, { retryable: true });
        }
        const accepted: ReelEvent[] = [];
        flags.forEach((isNew, j) => {
          const index = validAt[j];
          results[index] = { index, id: valid[j].id, status: isNew ? "ACCEPTED" : "DUPLICATE" };
          if (isNew) accepted.push(valid[j]);
        });
        counts.accepted += accepted.length;
        counts.duplicates += valid.length - accepted.length;
        if (accepted.length > 0 && onAccepted) onAccepted(accepted);
      }
      counts.rejected += raw.length - valid.length;
      return results;
    },
  };
}

/** Counts per status: what the GraphQL payload and logs report. */
export function summarizeResults(results: readonly EventResult[]): { accepted: number; duplicates: number; rejected: number } {
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  for (const r of results) {
    if (r.status === "ACCEPTED") accepted++;
    else if (r.status === "DUPLICATE") duplicates++;
    else rejected++;
  }
  return { accepted, duplicates, rejected };
}
