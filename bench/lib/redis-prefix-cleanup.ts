import type { Redis } from "ioredis";

/**
 * Deletes every key under `prefix` on a shared Redis: SCAN (never KEYS, never FLUSH*) and UNLINK in batches, so
 * other users of the server are neither blocked nor touched. The prefix must be specific (a random run id in it).
 */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  if (prefix.length < 8 || /[*?[\]\\]/.test(prefix)) throw new Error(`refusing to delete keys under the broad or glob prefix "${prefix}"`);
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 5000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}
