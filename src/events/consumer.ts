import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { ReelEvent, Video } from "../data/types";
import { ReelfeedError } from "../errors";
import { isRetryable, messageOf } from "../stores/backend-errors";
import type { DeadLetterSink } from "../stores/dead-letter";
import type { EventLog, LogRecord, LogStats } from "../stores/event-log";
import type { StateStore } from "../stores/state-store";
import { readOptionalText, writeFileAtomic } from "../util/fs";
import { isCheckpointedStateStore } from "./checkpointed-store";
import { compareCursors } from "./cursor";
import { isSharedStateStore, partitionOf, type ConsumerShare } from "./shared-store";

/**
 * Tails the event log and applies each batch to the real-time state (and to an optional hook: the social graph),
 * so an accepted event shapes the next feed request within a poll interval.
 *
 * Where it resumes: a CheckpointedStateStore keeps the cursor with its state (exactly once); otherwise the cursor is
 * persisted to `cursorFile` after each batch (at least once: a crash between apply and save re-applies one batch);
 * with neither, it starts from the beginning of the log (the in-process store rebuilds itself that way).
 *
 * Many consumers on one store (the Redis store, src/events/shared-store.ts): each consumer holds a share of the
 * store's partitions, reads the log from its slowest partition's checkpoint and applies only its partitions' side
 * of each event, checkpoints moved in the same atomic write. Any number of instances may consume; a dead one's
 * partitions move to the others when its lease expires, and no record is applied twice or skipped.
 */
export interface EventConsumerOptions {
  log: EventLog;
  store: StateStore;
  /** Catalog lookup passed to the store (category affinity, durations). */
  videoOf: (id: string) => Video | undefined;
  /** Called with every batch before the store applies it (e.g. GraphStore follows/engagements). @default undefined */
  onEvents?: (events: readonly ReelEvent[]) => Promise<void> | void;
  /**
   * Called before they are applied with the events whose *user* this instance applies: every event for a single
   * consumer, this consumer's partitions' share when consumers share a store, none on an instance that applies
   * nothing (`applyState` false). For a store shared by every instance (a Neo4j graph): each event is written by one
   * consumer instead of all. At least once (a batch retried, or taken over by another consumer, is passed again):
   * make it idempotent. @default undefined
   */
  onOwnedEvents?: (events: readonly ReelEvent[]) => Promise<void> | void;
  /** Records read per batch. @default 1000 */
  batchSize?: number;
  /** Pause when caught up, ms; also the back-off after an error. @default 50 */
  pollMs?: number;
  /** Cursor file for stores that keep no checkpoint. @default undefined */
  cursorFile?: string;
  /** Receives failures (log or store unavailable); the consumer retries the same batch. @default ignore */
  onError?: (err: Error) => void;
  /**
   * False: the batches go to `onEvents` only, and the store is just where reading resumes (its checkpoint). A
   * serving replica tails the log this way while another instance applies it to the shared state. @default true
   */
  applyState?: boolean;
  /**
   * With a store that shares work (SharedStateStore: Redis), apply only this consumer's share of the partitions,
   * so several consumers can run on one store. False: apply everything with `applyAt` (the only consumer). @default true
   */
  share?: boolean;
  /** Identity in the share (leases). @default hostname:pid:random */
  consumerId?: string;
  /** How often the share is renewed and rebalanced, ms (keep well under the store's lease, 5 s). @default 1000 */
  shareSyncMs?: number;
  /**
   * Where an event that fails with a permanent error (backend-errors.ts) is parked after `maxAttempts` tries, so
   * the log behind it keeps moving. @default undefined (retry it forever, reporting each failure to onError)
   */
  deadLetter?: DeadLetterSink;
  /** Tries of one event failing permanently before it is parked. @default 3 */
  maxAttempts?: number;
  /** How often the log's retention runs (EventLog.retain; consuming instances only), ms; 0: never. @default 60_000 */
  retainEveryMs?: number;
  /** How often the log's size and this consumer's lag are sampled for `stats()`, ms. @default 5000 */
  statsEveryMs?: number;
}

/** What the consumer reports to /metrics. */
export interface ConsumerStats {
  /** Events applied since start (in shared mode: records with any effect in this consumer's partitions). */
  applied: number;
  /** Events parked in the dead letter since start. */
  deadLettered: number;
  /** Records (Redis entries) or segments (file log) removed by retention since start, and bytes where known. */
  retainedRemoved: number;
  retainedBytes: number;
  /** The log's size and how far this consumer is behind its newest record, as last sampled. */
  log?: LogStats;
}

export interface EventConsumer {
  /**
   * Starts tailing. `hookFrom`: the position the `onEvents` hook starts after, when the caller already gave it the
   * log up to there (a start-up graph replay to a checkpoint it read itself; other consumers may have moved the
   * store's checkpoint since). @default the store's checkpoint
   */
  start(at?: { hookFrom: string | undefined }): Promise<void>;
  /** Stops after the batch in flight. */
  stop(): Promise<void>;
  /** Cursor of the last applied record. */
  readonly cursor: string | undefined;
  /** Events applied since start. */
  readonly applied: number;
  /** Polls now instead of after the current pause (wire to the ingestor's onAccepted). */
  nudge(): void;
  /** Resolves once the record at `cursor` (or later) has been applied. */
  waitUntilApplied(cursor: string, timeoutMs?: number): Promise<void>;
  /** Resolves once everything appended before the call has been applied; returns the cursor then. */
  catchUp(timeoutMs?: number): Promise<string | undefined>;
  /** Counters and the last log sample, for /metrics. */
  stats(): ConsumerStats;
}

const NOTHING = Symbol("nothing to read");

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

export function createEventConsumer(options: EventConsumerOptions): EventConsumer {
  const { log, store, videoOf, onEvents, onOwnedEvents, batchSize = 1000, pollMs = 50, cursorFile, onError = () => {}, applyState = true } = options;
  const { share: shareWork = true, consumerId = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`, shareSyncMs = 1000 } = options;
  const shared = applyState && shareWork && isSharedStateStore(store) ? store : undefined;
  // The Redis store writes a batch all or nothing (one script); others may stop part-way through one.
  const atomicBatches = isSharedStateStore(store);
  const { deadLetter, maxAttempts = 3, retainEveryMs = 60_000, statsEveryMs = 5000 } = options;
  let logStats: LogStats | undefined;
  let statsAt = 0;
  let retainAt = Date.now();
  let retained = 0;
  let retainedBytes = 0;
  let share: ConsumerShare | undefined;
  let sharedAt = 0;
  // Shared mode: how far the onEvents hook has been given the log.
  let hookCursor: string | undefined;
  let cursor: string | undefined;
  let applied = 0;
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let sleepTimer: NodeJS.Timeout | undefined;
  // Passes that began and that reached the end of the log: catchUp waits for a pass that began after it was called.
  let passesStarted = 0;
  let lastPassAtEnd = 0;
  const waiters = new Set<Waiter>();

  const settle = (): void => {
    for (const w of waiters) {
      if (w.ready()) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  };

  const wait = (ready: () => boolean, timeoutMs: number, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (ready()) return resolve();
      const w: Waiter = { ready, resolve, reject };
      w.timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`event consumer: ${what} not reached within ${timeoutMs} ms (at ${cursor ?? "start"})`));
      }, timeoutMs);
      waiters.add(w);
      if (running) wake?.();
    });

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = () => {
        clearTimeout(sleepTimer);
        wake = undefined;
        resolve();
      };
      sleepTimer = setTimeout(() => wake?.(), ms);
    });

  async function pass(): Promise<boolean> {
    if (shared) return sharedPass();
    const passNo = ++passesStarted;
    const recs = await log.read(cursor, batchSize);
    if (recs.length > 0) await withDeadLetters(recs, (part, through) => commit(part, through).then(() => true));
    const atEnd = recs.length < batchSize;
    if (atEnd) lastPassAtEnd = passNo;
    settle();
    return atEnd;
  }

  /** Hook, then store, for `recs` (possibly none), and the position moved to `through`. */
  async function commit(recs: readonly LogRecord[], through: string): Promise<void> {
    const events = recs.map((r) => r.event);
    if (onEvents && events.length > 0) await onEvents(events);
    if (onOwnedEvents && applyState && events.length > 0) await onOwnedEvents(events);
    if (!applyState) {
      // Read only: nothing to persist, the next start resumes from the store's own checkpoint again.
    } else if (isCheckpointedStateStore(store) && atomicBatches) {
      await store.applyAt(events, videoOf, through);
    } else if (isCheckpointedStateStore(store)) {
      // An in-process store applies event by event, so a batch that fails part-way is part-applied: one record per
      // call keeps the cursor right before the record that failed, and the retry starts there (never twice).
      for (const r of recs) {
        await store.applyAt([r.event], videoOf, r.cursor);
        cursor = r.cursor;
        applied++;
      }
      if (compareCursors(through, cursor) > 0) await store.applyAt([], videoOf, through);
      cursor = through;
      return;
    } else {
      if (events.length > 0) await store.apply(events, videoOf);
      if (cursorFile) await writeFileAtomic(cursorFile, through);
    }
    cursor = through;
    applied += events.length;
  }

  /**
   * Commits a batch; when it fails with a permanent error (backend-errors.ts) and a dead letter is configured, finds
   * the event(s) responsible by committing one record at a time: a record that still fails permanently after
   * `maxAttempts` tries is parked and passed over, the rest applied. A retryable failure is thrown (the batch is
   * retried after a pause, as before). `commitPart` resolves false when the shared store refused (rejoin).
   */
  async function withDeadLetters(recs: readonly LogRecord[], commitPart: (part: readonly LogRecord[], through: string) => Promise<boolean>): Promise<boolean> {
    try {
      return await commitPart(recs, recs[recs.length - 1].cursor);
    } catch (err) {
      if (!deadLetter || isRetryable(err)) throw err;
    }
    // Records the failed commit did apply (an in-process store stops at the failing one) are not tried again.
    const done = shared ? undefined : cursor;
    for (const r of recs) {
      if (compareCursors(r.cursor, done) <= 0) continue;
      for (let attempt = 1; ; attempt++) {
        try {
          if (!(await commitPart([r], r.cursor))) return false;
          break;
        } catch (err) {
          if (isRetryable(err)) throw err;
          if (attempt < maxAttempts) continue;
          const e = err as Error;
          await deadLetter.park({ cursor: r.cursor, event: r.event, code: err instanceof ReelfeedError ? err.code : e?.name ?? "Error", reason: messageOf(err), at: Date.now() });
          onError(new ReelfeedError("INTERNAL", `event consumer: event ${r.event.id} at ${r.cursor} parked in the dead letter after ${attempt} attempts: ${messageOf(err)}`, { cursor: r.cursor, eventId: r.event.id }));
          if (!(await commitPart([], r.cursor))) return false;
          break;
        }
      }
    }
    return true;
  }

  /**
   * One batch of this consumer's share. Reading starts at the slowest of the hook's position and the held
   * partitions' checkpoints, so a partition taken over from a consumer further behind is caught up, and the hook
   * still gets each record once. `cursor` (what waitUntilApplied compares) is the slowest of them after the batch.
   */
  async function sharedPass(): Promise<boolean> {
    const passNo = ++passesStarted;
    if (!share || Date.now() - sharedAt >= shareSyncMs) {
      share = await shared!.joinShare(consumerId);
      sharedAt = Date.now();
    }
    const from = slowest(share);
    if (from === NOTHING) {
      // Holding no partition (more consumers than partitions) and no hook: nothing to do until a rebalance.
      lastPassAtEnd = passNo;
      settle();
      return true;
    }
    const recs = await log.read(from, batchSize);
    // A checkpoint moved under us (a partition taken over): join again and re-read from the stored checkpoints.
    if (recs.length > 0 && !(await withDeadLetters(recs, commitShared))) return false;
    const now = slowest(share!);
    if (now !== NOTHING) cursor = now;
    // Every held partition and the hook are at the last record read now (or were ahead of it).
    const atEnd = recs.length < batchSize;
    if (atEnd) lastPassAtEnd = passNo;
    settle();
    return atEnd;
  }

  /** Shared mode's commit: the hook for records it has not seen, then this consumer's share; false when refused. */
  async function commitShared(recs: readonly LogRecord[], through: string): Promise<boolean> {
    if (onEvents) {
      // Log order: the records the hook has not seen are a suffix.
      let i = 0;
      while (i < recs.length && compareCursors(recs[i].cursor, hookCursor) <= 0) i++;
      const fresh = recs.slice(i).map((r) => r.event);
      if (fresh.length > 0) await onEvents(fresh);
      // The hook has seen these now: a failed apply below retries the partitions only.
      if (compareCursors(through, hookCursor) > 0) hookCursor = through;
    }
    if (onOwnedEvents) {
      const owned = ownedUserEvents(recs, share!);
      if (owned.length > 0) await onOwnedEvents(owned);
    }
    const result = await shared!.applyShare(recs, videoOf, share!, through);
    if (result === undefined) {
      share = undefined;
      return false;
    }
    share = result.share;
    applied += result.applied;
    return true;
  }

  /** Events of `recs` whose user side falls in `s`'s partitions after each one's checkpoint (what applyShare applies). */
  function ownedUserEvents(recs: readonly LogRecord[], s: ConsumerShare): ReelEvent[] {
    const out: ReelEvent[] = [];
    for (const r of recs) {
      const p = partitionOf(r.event.userId, shared!.partitionCount);
      if (!s.partitions.has(p)) continue;
      const cp = s.partitions.get(p);
      if (cp === undefined || compareCursors(r.cursor, cp) > 0) out.push(r.event);
    }
    return out;
  }

  /** The slowest of the hook's position (when there is a hook) and the held partitions' checkpoints. */
  function slowest(s: ConsumerShare): string | undefined | typeof NOTHING {
    let out: string | undefined | typeof NOTHING = onEvents ? hookCursor : NOTHING;
    for (const cp of s.partitions.values()) if (out === NOTHING || compareCursors(cp, out) < 0) out = cp;
    return out;
  }

  async function run(): Promise<void> {
    while (running) {
      let pause = 0;
      try {
        if (await pass()) pause = pollMs;
      } catch (err) {
        onError(err as Error);
        pause = pollMs;
        // Part of a batch may have been applied before the failure (one record at a time): waiters see it.
        settle();
      }
      await maintain();
      if (pause > 0 && running) await sleep(pause);
    }
  }

  /**
   * Between batches: log size and this consumer's lag for metrics (every statsEveryMs), and retention (every
   * retainEveryMs, consuming instances only) up to the position every consumer has checkpointed: the store's
   * checkpoint when consumers share it (the slowest partition), this consumer's own position otherwise.
   */
  async function maintain(): Promise<void> {
    const now = Date.now();
    if (log.stats && now - statsAt >= statsEveryMs) {
      statsAt = now;
      try {
        logStats = await log.stats(cursor);
      } catch (err) {
        onError(err as Error);
      }
    }
    if (log.retain && applyState && retainEveryMs > 0 && now - retainAt >= retainEveryMs) {
      retainAt = now;
      try {
        const processed = shared ? await shared.checkpoint() : cursor;
        const res = await log.retain(processed);
        retained += res.removed;
        retainedBytes += res.bytes ?? 0;
      } catch (err) {
        onError(err as Error);
      }
    }
  }

  return {
    get cursor() {
      return cursor;
    },
    get applied() {
      return applied;
    },
    async start(at) {
      if (running) return;
      if (shared) {
        // The hook starts where the whole store is applied to (what a graph replay at start-up covered).
        cursor = hookCursor = at ? at.hookFrom : await shared.checkpoint();
        share = await shared.joinShare(consumerId);
        sharedAt = Date.now();
      } else if (!applyState && at) {
        // Applying nothing: the position is the hook's alone.
        cursor = at.hookFrom;
      } else if (isCheckpointedStateStore(store)) cursor = await store.checkpoint();
      else if (cursorFile) cursor = await readOptionalText(cursorFile);
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      loop = undefined;
      if (shared && share) {
        share = undefined;
        // Hand the partitions over now rather than after the lease; an expiry does the same if this fails.
        await shared.leaveShare(consumerId).catch((err: unknown) => onError(err as Error));
      }
    },
    nudge() {
      wake?.();
    },
    stats: () => ({ applied, deadLettered: deadLetter?.parked() ?? 0, retainedRemoved: retained, retainedBytes, log: logStats }),
    waitUntilApplied(target, timeoutMs = 10_000) {
      return wait(() => compareCursors(cursor, target) >= 0, timeoutMs, `cursor ${target}`);
    },
    async catchUp(timeoutMs = 10_000) {
      const after = passesStarted;
      await wait(() => lastPassAtEnd > after, timeoutMs, "the end of the log");
      return cursor;
    },
  };
}

