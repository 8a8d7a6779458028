import type { ReelEvent, Video } from "../data/types";
import type { EventLog } from "../stores/event-log";
import type { StateStore } from "../stores/state-store";
import { readOptionalText, writeFileAtomic } from "../util/fs";
import { isCheckpointedStateStore } from "./checkpointed-store";
import { compareCursors } from "./cursor";

/**
 * Tails the event log and applies each batch to the real-time state (and to an optional hook: the social graph),
 * so an accepted event shapes the next feed request within a poll interval.
 *
 * Where it resumes: a CheckpointedStateStore keeps the cursor with its state (exactly once); otherwise the cursor is
 * persisted to `cursorFile` after each batch (at least once: a crash between apply and save re-applies one batch);
 * with neither, it starts from the beginning of the log (the in-process store rebuilds itself that way).
 */
export interface EventConsumerOptions {
  log: EventLog;
  store: StateStore;
  /** Catalog lookup passed to the store (category affinity, durations). */
  videoOf: (id: string) => Video | undefined;
  /** Called with every batch before the store applies it (e.g. GraphStore follows/engagements). @default undefined */
  onEvents?: (events: readonly ReelEvent[]) => Promise<void> | void;
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
}

export interface EventConsumer {
  start(): Promise<void>;
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
}

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

export function createEventConsumer(options: EventConsumerOptions): EventConsumer {
  const { log, store, videoOf, onEvents, batchSize = 1000, pollMs = 50, cursorFile, onError = () => {}, applyState = true } = options;
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
    const passNo = ++passesStarted;
    const recs = await log.read(cursor, batchSize);
    if (recs.length > 0) {
      const events = recs.map((r) => r.event);
      const last = recs[recs.length - 1].cursor;
      if (onEvents) await onEvents(events);
      if (!applyState) {
        // Read only: nothing to persist, the next start resumes from the store's own checkpoint again.
      } else if (isCheckpointedStateStore(store)) {
        await store.applyAt(events, videoOf, last);
      } else {
        await store.apply(events, videoOf);
        if (cursorFile) await writeFileAtomic(cursorFile, last);
      }
      cursor = last;
      applied += events.length;
    }
    const atEnd = recs.length < batchSize;
    if (atEnd) lastPassAtEnd = passNo;
    settle();
    return atEnd;
  }

  async function run(): Promise<void> {
    while (running) {
      let pause = 0;
      try {
        if (await pass()) pause = pollMs;
      } catch (err) {
        onError(err as Error);
        pause = pollMs;
      }
      if (pause > 0 && running) await sleep(pause);
    }
  }

  return {
    get cursor() {
      return cursor;
    },
    get applied() {
      return applied;
    },
    async start() {
      if (running) return;
      if (isCheckpointedStateStore(store)) cursor = await store.checkpoint();
      else if (cursorFile) cursor = await readOptionalText(cursorFile);
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      loop = undefined;
    },
    nudge() {
      wake?.();
    },
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

