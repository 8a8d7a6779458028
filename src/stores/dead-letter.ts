import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Redis } from "ioredis";
import type { ReelEvent } from "../data/types";
import { redisError } from "./backend-errors";

/**
 * Where the consumer parks an event it can never apply (a permanent error for that one event, after retries), so
 * one poison event does not block the log behind it: counted, kept with its position and the reason, inspectable,
 * and re-drivable by hand (append the event again under a new id once the cause is fixed).
 */
export interface DeadLetter {
  /** The record's log cursor. */
  cursor: string;
  event: ReelEvent;
  /** The error code (ReelfeedError code, or the error's name). */
  code: string;
  reason: string;
  /** When it was parked, epoch ms. */
  at: number;
}

export interface DeadLetterSink {
  readonly kind: "file" | "redis" | "memory";
  /** Durably records the entry (resolves once written). */
  park(entry: DeadLetter): Promise<void>;
  /** The newest `max` entries, oldest first. */
  list(max?: number): Promise<DeadLetter[]>;
  /** Entries parked through this sink since it was created (the metric). */
  parked(): number;
}

/** JSON lines, appended and fsync'd (embedded mode: `{varDir}/events/dead-letter.jsonl`). */
export function createFileDeadLetter(path: string): DeadLetterSink {
  let n = 0;
  return {
    kind: "file",
    async park(entry) {
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(path, "a");
      try {
        await fh.write(JSON.stringify(entry) + "\n");
        await fh.datasync();
      } finally {
        await fh.close();
      }
      n++;
    },
    async list(max = 100) {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw err;
      }
      const lines = text.split("\n").filter((l) => l.trim() !== "");
      return lines.slice(-max).map((l) => JSON.parse(l) as DeadLetter);
    },
    parked: () => n,
  };
}

/** A stream `{prefix}events:dead` (fields: cursor, code, reason, e = event JSON, at), bounded by MAXLEN ~ maxLen. */
export function createRedisDeadLetter(options: { redis: Redis; keyPrefix?: string; maxLen?: number }): DeadLetterSink {
  const { redis, keyPrefix = "rf:", maxLen = 100_000 } = options;
  const key = `${keyPrefix}events:dead`;
  let n = 0;
  return {
    kind: "redis",
    async park(entry) {
      try {
        await redis.xadd(key, "MAXLEN", "~", maxLen, "*", "cursor", entry.cursor, "code", entry.code, "reason", entry.reason, "e", JSON.stringify(entry.event), "at", entry.at);
      } catch (err) {
        throw redisError(`dead letter ${key}`, err);
      }
      n++;
    },
    async list(max = 100) {
      let rows: [string, string[]][];
      try {
        rows = (await redis.xrevrange(key, "+", "-", "COUNT", max)) as [string, string[]][];
      } catch (err) {
        throw redisError(`dead letter ${key}`, err);
      }
      return rows.reverse().map(([, f]) => {
        const get = (name: string): string => f[f.indexOf(name) + 1];
        return { cursor: get("cursor"), code: get("code"), reason: get("reason"), event: JSON.parse(get("e")) as ReelEvent, at: Number(get("at")) };
      });
    },
    parked: () => n,
  };
}

/** In process only (tests, embedded tools). */
export function createMemoryDeadLetter(): DeadLetterSink {
  const entries: DeadLetter[] = [];
  return {
    kind: "memory",
    async park(entry) {
      entries.push(entry);
    },
    async list(max = 100) {
      return entries.slice(-max);
    },
    parked: () => entries.length,
  };
}
