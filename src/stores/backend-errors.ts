import { ReelfeedError, type ReelfeedErrorCode } from "../errors";

/**
 * One error model for every backend (Redis, Qdrant, Neo4j, the file log): a failure is either
 *
 * - **retryable** — the backend is down, slow, overloaded or asked us to come back (`UNAVAILABLE`, `RATE_LIMITED`,
 *   or any ReelfeedError with `details.retryable: true`): the same call may succeed later, so callers back off and
 *   retry it (the consumer retries the same batch, start-up waits);
 * - **permanent** — anything else: the request is wrong for this backend (a 4xx, a schema conflict, a missing
 *   privilege, a Redis WRONGTYPE), or the data cannot be applied by this code (an event of a type this version does
 *   not know). Retrying cannot help: start-up fails with the cause named, and the consumer parks the one event it
 *   can never apply in its dead letter and goes on (src/events/consumer.ts).
 *
 * Errors that are not ReelfeedErrors are bugs or poison data: permanent. Adapters therefore wrap what their driver
 * throws with `backendError`, which decides per driver what is transient.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof ReelfeedError)) return false;
  return err.code === "UNAVAILABLE" || err.code === "RATE_LIMITED" || err.details.retryable === true;
}

/** A retryable failure of `what` (UNAVAILABLE, retryable: true), keeping the cause's message. */
export function retryableError(what: string, err: unknown, details: Record<string, unknown> = {}): ReelfeedError {
  return new ReelfeedError("UNAVAILABLE", `${what}: ${messageOf(err)}`, { ...details, retryable: true });
}

/** A permanent failure of `what` (retryable: false), coded `code`, keeping the cause's message. */
export function permanentError(what: string, err: unknown, code: ReelfeedErrorCode = "INTERNAL", details: Record<string, unknown> = {}): ReelfeedError {
  return new ReelfeedError(code, `${what}: ${messageOf(err)}`, { ...details, retryable: false });
}

/**
 * Redis server replies that mean "later" (loading a dataset, a busy script, failover, out of memory under a
 * maxmemory policy that may free some): the rest of the ReplyErrors (WRONGTYPE, a script error, NOSCRIPT after
 * a flush is handled by ioredis) are answers about the request itself.
 */
const REDIS_TRANSIENT_REPLIES = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|OOM|NOREPLICAS|MOVED|ASK)\b/;

/** Maps what ioredis throws: connection trouble and transient replies are retryable, other server replies permanent. */
export function redisError(what: string, err: unknown): ReelfeedError {
  if (err instanceof ReelfeedError) return err;
  const e = err as { name?: string; message?: string };
  if (e?.name === "ReplyError" && !REDIS_TRANSIENT_REPLIES.test(e.message ?? "")) return permanentError(what, err, "INTERNAL", { backend: "redis" });
  return retryableError(what, err, { backend: "redis" });
}

export function messageOf(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
