import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Redis } from "ioredis";
import type { ReelEvent } from "../data/types";
import { ReelfeedError } from "../errors";
import type { IdempotentEventLog } from "../events/id-window-deduper";
import { writeFileAtomic } from "../util/fs";
import type { LogRecord, LogStats, RetentionResult } from "./event-log";
import { createFileEventLog, type FileEventLog } from "./event-log-file";
import { unavailable } from "./redis-client";
import { readOptionalText } from "../util/fs";
import { compareCursors } from "../events/cursor";

/**
 * The event log on Redis Streams.
 *
 * - One stream `{prefix}events`; each entry has one field `e` holding the event JSON. The cursor is the stream id.
 * - Idempotency is atomic with the append: one Lua script per chunk does, per event, `SET {prefix}eid:{id} 1 NX EX
 *   ttl` and only when that succeeds `XADD ... MAXLEN ~ maxLen`. A retry (even one whose first reply was lost) is
 *   therefore stored once.
 * - Durability is Redis' own: an append is acknowledged once Redis executed the script; run Redis with
 *   `appendonly yes` (and `appendfsync always` for no loss on a Redis crash) in production.
 * - Redis down: events go to a local file log (`bufferDir`, fsync'd) and the batch is acknowledged from there; they
 *   are replayed through the same script (so never duplicated) once Redis answers again, before any newer event.
 *   Without a buffer, or when the buffer cannot write either, the batch is refused with UNAVAILABLE (retryable).
 * - A circuit breaker keeps acks fast when Redis hangs rather than refuses (SIGSTOP, a stalled network, a blocked
 *   server): such a Redis makes every command wait out the client's command timeout, and appends are serialised, so
 *   every ack queued behind one waited with it. The first failed command opens the circuit; while it is open appends
 *   go straight to the buffer (or are refused at once without one) and only a probe waits on Redis: one PING at a
 *   time, outside the append queue, backing off from `replayIntervalMs` to `maxProbeIntervalMs`. A probe that
 *   answers (or a reconnect that passes the ready check) closes the circuit and the buffer is replayed, in order.
 */
export interface RedisEventLogOptions {
  /** A client from createRedisClient (fail-fast, self-reconnecting). Not closed by `close()`. */
  redis: Redis;
  /** Prefix of every key; lets several deployments or tests share one Redis. @default "rf:" */
  keyPrefix?: string;
  /** Approximate stream length bound (XADD MAXLEN ~): older entries are trimmed. @default 10_000_000 */
  maxLen?: number;
  /** How long an event id is remembered for deduplication, seconds. @default 604_800 (7 days) */
  dedupeTtlSec?: number;
  /** Local directory buffering events while Redis is unreachable. @default undefined (refuse with UNAVAILABLE) */
  bufferDir?: string;
  /** How often buffered events are retried into Redis, ms (also on every reconnect). @default 1000 */
  replayIntervalMs?: number;
  /** Longest pause between probes of a Redis that stopped answering, ms (backs off from replayIntervalMs). @default 5000 */
  maxProbeIntervalMs?: number;
  /** Events per script call (bounds the time Redis is blocked by one script). @default 500 */
  chunkSize?: number;
  /** Receives replay failures (Redis still down, ...) and the circuit opening. @default ignore */
  onError?: (err: Error) => void;
  /**
   * Trimming after consumption (`retain`): entries every consumer has checkpointed past go once older than this,
   * ms. Size it to what export-training and lagging readers (serving replicas' graph tails) need. @default undefined
   * (keep everything, up to maxLen)
   */
  retainMs?: number;
}

export interface RedisEventLog extends IdempotentEventLog {
  readonly kind: "redis";
  readonly streamKey: string;
  /** Events accepted into the local buffer and not yet replayed into Redis. */
  buffered(): Promise<number>;
  /** Replays the buffer now; resolves once it is empty (rejects while Redis is still down). */
  flushBuffer(): Promise<void>;
  /** True while Redis is considered down: appends skip it and go to the buffer until a probe answers. */
  circuitOpen(): boolean;
  /** XTRIM MINID ~ below the older of `processedThrough` and now − retainMs (nothing without retainMs). */
  retain(processedThrough: string | undefined): Promise<RetentionResult>;
  /** XLEN, newest id, and how many ms of stream lie after `position`. */
  stats(position?: string): Promise<LogStats>;
}

const APPEND_LUA = `
local out = {}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

type AppendCommand = (numKeys: number, ...args: (string | number)[]) => Promise<number[]>;

export async function createRedisEventLog(options: RedisEventLogOptions): Promise<RedisEventLog> {
  const {
    redis,
    keyPrefix = "rf:",
    maxLen = 10_000_000,
    dedupeTtlSec = 7 * 24 * 3600,
    bufferDir,
    replayIntervalMs = 1000,
    maxProbeIntervalMs = 5000,
    chunkSize = 500,
    onError = () => {},
    retainMs,
  } = options;
  if (retainMs !== undefined && !(retainMs > 0)) {
    throw new ReelfeedError("BAD_CONFIG", `redis event log: retainMs must be a positive number of ms, got ${retainMs}`, { key: "retainMs" });
  }
  const streamKey = `${keyPrefix}events`;
  const commandName = "rfAppendEvents";
  if (typeof (redis as unknown as Record<string, unknown>)[commandName] !== "function") {
    redis.defineCommand(commandName, { lua: APPEND_LUA });
  }
  const appendScript = (redis as unknown as Record<string, AppendCommand>)[commandName].bind(redis);

  async function scriptAppend(events: readonly ReelEvent[]): Promise<boolean[]> {
    const flags: boolean[] = [];
    for (let i = 0; i < events.length; i += chunkSize) {
      const chunk = events.slice(i, i + chunkSize);
      const keys = [streamKey, ...chunk.map((e) => `${keyPrefix}eid:${e.id}`)];
      const reply = await appendScript(keys.length, ...keys, maxLen, dedupeTtlSec, ...chunk.map((e) => JSON.stringify(e)));
      for (const r of reply) flags.push(r === 1);
    }
    return flags;
  }

  // Entries that are not events, reported once each (a reader meets them again on every pass that starts before).
  const corruptEntries = new Set<string>();
  let buffer: FileEventLog | undefined = bufferDir ? await createFileEventLog({ dir: bufferDir }) : undefined;
  const cursorFile = bufferDir ? join(bufferDir, "replayed.cursor") : undefined;
  let replayed: string | undefined = cursorFile ? await readOptionalText(cursorFile) : undefined;
  let pendingInBuffer = buffer ? (await buffer.read(replayed, 1)).length > 0 : false;

  // Appends and replays run one at a time: buffered events must reach the stream before newer ones.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  async function replay(): Promise<void> {
    if (!buffer || !cursorFile || !pendingInBuffer) return;
    for (;;) {
      const recs = await buffer.read(replayed, chunkSize);
      if (recs.length === 0) break;
      await scriptAppend(recs.map((r) => r.event));
      // A crash before this write replays the chunk again: the SET NX in the script makes that harmless.
      replayed = recs[recs.length - 1].cursor;
      await writeFileAtomic(cursorFile, replayed);
    }
    // Fully replayed: start an empty buffer so it does not grow across outages.
    await buffer.close();
    for (const f of await listSegments(bufferDir!)) await rm(join(bufferDir!, f), { force: true });
    await rm(cursorFile, { force: true });
    replayed = undefined;
    buffer = await createFileEventLog({ dir: bufferDir! });
    pendingInBuffer = false;
  }

  // The circuit breaker (see the file comment). `nextProbeAt` spaces probes out while Redis stays silent.
  let circuit: "closed" | "open" = "closed";
  let probing = false;
  let probeDelay = replayIntervalMs;
  let nextProbeAt = 0;
  const openCircuit = (err: unknown): void => {
    if (circuit === "open") return;
    circuit = "open";
    probeDelay = replayIntervalMs;
    nextProbeAt = Date.now() + probeDelay;
    onError(unavailable(`redis event log ${streamKey}: Redis did not answer; appends go to the local buffer until it does`, err));
  };

  async function probe(): Promise<void> {
    if (probing || closed || Date.now() < nextProbeAt) return;
    probing = true;
    try {
      await redis.ping();
      circuit = "closed";
      probeDelay = replayIntervalMs;
      tryReplay();
    } catch (err) {
      probeDelay = Math.min(probeDelay * 2, maxProbeIntervalMs);
      nextProbeAt = Date.now() + probeDelay;
      onError(err as Error);
    } finally {
      probing = false;
    }
  }

  // One replay queued at a time: the timer must not stack replays behind a slow one.
  let replayQueued = false;
  const tryReplay = (): void => {
    if (!pendingInBuffer || closed || circuit === "open" || replayQueued) return;
    replayQueued = true;
    void serial(replay)
      .catch((err: Error) => {
        openCircuit(err);
        onError(err);
      })
      .finally(() => {
        replayQueued = false;
      });
  };
  const tick = (): void => {
    if (circuit === "open") void probe();
    else tryReplay();
  };
  const onReady = (): void => {
    // A reconnect passed ioredis' ready check (INFO answered): probe now rather than after the back-off.
    nextProbeAt = 0;
    tick();
  };
  redis.on("ready", onReady);
  const timer = setInterval(tick, replayIntervalMs);
  timer.unref();
  let closed = false;
  tryReplay();

  return {
    kind: "redis",
    streamKey,
    append: async (events) => {
      await serial(() => appendDurably(events));
    },
    appendNew: (events) => serial(() => appendDurably(events)),
    async read(after, max) {
      if (max <= 0) return [];
      let entries: [string, string[]][];
      try {
        entries = (await redis.xrange(streamKey, after === undefined ? "-" : `(${after}`, "+", "COUNT", max)) as [string, string[]][];
      } catch (err) {
        throw unavailable(`redis stream ${streamKey}`, err);
      }
      const out: LogRecord[] = [];
      for (const [id, fields] of entries) {
        const json = fields[fields.indexOf("e") + 1];
        let event: unknown;
        try {
          event = JSON.parse(json);
        } catch {
          event = undefined;
        }
        if (typeof event === "object" && event !== null && typeof (event as { id?: unknown }).id === "string") {
          out.push({ cursor: id, event: event as ReelEvent });
          continue;
        }
        // Not written by this log (the append script stores only validated events): skipped, never blocking the
        // stream behind it, reported once; it stays in the stream for inspection (XRANGE key id id).
        if (!corruptEntries.has(id)) {
          corruptEntries.add(id);
          onError(new ReelfeedError("INTERNAL", `redis stream ${streamKey}: entry ${id} is not an event; skipped`, { key: streamKey, entry: id, retryable: false }));
        }
      }
      return out;
    },
    async retain(processedThrough) {
      if (retainMs === undefined || processedThrough === undefined) return { removed: 0 };
      // Below the older of the consumers' slowest checkpoint and the age floor; MINID keeps the entry at it.
      // "~" trims whole stream nodes only: never more than asked, far cheaper than an exact trim.
      const floor = `${Date.now() - retainMs}-0`;
      const minId = compareCursors(processedThrough, floor) < 0 ? processedThrough : floor;
      try {
        return { removed: Number(await redis.xtrim(streamKey, "MINID", "~", minId)) };
      } catch (err) {
        throw unavailable(`redis stream ${streamKey} trim`, err);
      }
    },
    async stats(position) {
      try {
        const [[e1, len], [e2, last], [e3, first]] = (await redis
          .pipeline()
          .xlen(streamKey)
          .xrevrange(streamKey, "+", "-", "COUNT", 1)
          .xrange(streamKey, "-", "+", "COUNT", 1)
          .exec()) as [[Error | null, number], [Error | null, [string, string[]][]], [Error | null, [string, string[]][]]];
        if (e1 || e2 || e3) throw e1 ?? e2 ?? e3;
        const newest = last[0]?.[0];
        const ms = (id: string): number => Number(id.split("-")[0]);
        // Nothing processed yet: behind by the whole stream.
        const from = position ?? first[0]?.[0];
        const pendingMs = newest === undefined || from === undefined ? 0 : Math.max(0, ms(newest) - ms(from));
        return { entries: len, newest, pendingMs };
      } catch (err) {
        throw unavailable(`redis stream ${streamKey} stats`, err);
      }
    },
    async buffered() {
      if (!buffer) return 0;
      let n = 0;
      let cursor = replayed;
      for (;;) {
        const recs = await buffer.read(cursor, 10_000);
        if (recs.length === 0) return n;
        n += recs.length;
        cursor = recs[recs.length - 1].cursor;
      }
    },
    flushBuffer: () => serial(replay),
    circuitOpen: () => circuit === "open",
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      redis.off("ready", onReady);
      await queue;
      await buffer?.close();
    },
  };

  async function appendDurably(events: readonly ReelEvent[]): Promise<boolean[]> {
    if (closed) throw new ReelfeedError("UNAVAILABLE", `redis event log ${streamKey} is closed`, { retryable: true });
    if (events.length === 0) return [];
    if (pendingInBuffer && circuit === "closed") {
      try {
        await replay();
      } catch (err) {
        openCircuit(err); // still down: keep buffering, in order
      }
    }
    let redisErr: unknown = new Error("Redis did not answer recently (circuit open; a probe retries it)");
    if (!pendingInBuffer && circuit === "closed") {
      try {
        return await scriptAppend(events);
      } catch (err) {
        // The script may have run before the connection dropped (or may still run on a Redis that hangs and
        // resumes): buffering and replaying is still safe (SET NX).
        redisErr = err;
        openCircuit(err);
      }
    }
    if (!buffer) throw unavailable(`redis event log ${streamKey}`, redisErr);
    try {
      const flags = await buffer.appendNew(events);
      if (flags.some(Boolean)) pendingInBuffer = true;
      return flags;
    } catch (err) {
      throw unavailable(`redis event log ${streamKey} (and its local buffer)`, err);
    }
  }
}


async function listSegments(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^seg-\d{10}\.jsonl$/.test(f));
}
