import type { ReelEvent } from "../data/types";
import type { EventLog } from "../stores/event-log";
import { evictOldest } from "../util/evict-oldest";

/**
 * Idempotency by event id. A deduper appends only the events whose id it has not appended before and says, per
 * event, which were new; a retried batch is therefore stored (and counted) once.
 */
export interface EventDeduper {
  /**
   * Durably appends the events not seen before, in order. Resolves to one flag per input event: true = appended now,
   * false = a duplicate (of an earlier batch or of an earlier event in this one). Rejects when nothing was made
   * durable; a duplicate is never reported for an event that is not durable.
   */
  appendNew(events: readonly ReelEvent[]): Promise<boolean[]>;
}

/** A log that deduplicates atomically with its own append (the file log's id window, Redis' SET NX + XADD). */
export type IdempotentEventLog = EventLog & EventDeduper;

export function isIdempotentEventLog(log: EventLog): log is IdempotentEventLog {
  return typeof (log as Partial<EventDeduper>).appendNew === "function";
}

/** A bounded window of remembered ids in front of an append. */
export interface IdWindowDeduperOptions {
  /** The durable append the window guards. */
  append: (events: readonly ReelEvent[]) => Promise<void>;
  /**
   * Ids remembered at most; the oldest are forgotten first, 1 % at a time once there are more (util/evict-oldest.ts).
   * A retry within the newest 99 % of this many events is always a duplicate; an older one may be stored again.
   * @default 1_000_000
   */
  maxIds?: number;
  /** Ids already in the log, oldest first (rebuilt from the log at open). @default [] */
  seed?: Iterable<string>;
}

export interface IdWindowDeduper extends EventDeduper {
  has(id: string): boolean;
  readonly size: number;
}

export function createIdWindowDeduper(options: IdWindowDeduperOptions): IdWindowDeduper {
  const { append, maxIds = 1_000_000, seed = [] } = options;
  // Insertion-ordered: the first key is the oldest, evicted first (a batch at a time, util/evict-oldest.ts).
  const ids = new Set<string>();
  const remember = (id: string): void => {
    ids.add(id);
    evictOldest(ids, maxIds);
  };
  for (const id of seed) remember(id);
  // Ids whose append is in flight: a concurrent retry waits for the outcome rather than answering DUPLICATE for an
  // event that may yet fail to become durable.
  const inflight = new Map<string, Promise<void>>();

  return {
    has: (id) => ids.has(id) || inflight.has(id),
    get size() {
      return ids.size;
    },
    async appendNew(events) {
      const waits = new Set<Promise<void>>();
      for (const e of events) {
        const p = inflight.get(e.id);
        if (p) waits.add(p);
      }
      // A failed concurrent append rejects this batch too: the caller retries it and the retry is then new.
      if (waits.size > 0) await Promise.all(waits);
      const flags: boolean[] = [];
      const fresh: ReelEvent[] = [];
      const claimed = new Set<string>();
      for (const e of events) {
        const isNew = !ids.has(e.id) && !inflight.has(e.id) && !claimed.has(e.id);
        flags.push(isNew);
        if (isNew) {
          claimed.add(e.id);
          fresh.push(e);
        }
      }
      if (fresh.length === 0) return flags;
      const done = append(fresh);
      for (const id of claimed) inflight.set(id, done);
      try {
        await done;
        for (const id of claimed) remember(id);
      } finally {
        for (const id of claimed) inflight.delete(id);
      }
      return flags;
    },
  };
}
