import { Redis } from "ioredis";
import { ReelfeedError } from "../errors";

/**
 * One place that configures ioredis for a request path: calls fail fast while Redis is unreachable (so the caller
 * can buffer, fall back or answer UNAVAILABLE) instead of queueing and hanging, and the client keeps reconnecting
 * in the background on its own.
 */
export interface RedisClientOptions {
  /** redis://[:password@]host:port[/db] (config backends.redisUrl). */
  url: string;
  /** Connect attempt timeout, ms. @default 2000 */
  connectTimeoutMs?: number;
  /** A command with no reply after this long fails (guards against half-open connections), ms. @default 2000 */
  commandTimeoutMs?: number;
  /** Longest pause between reconnect attempts, ms (backoff doubles from 50 ms up to this). @default 1000 */
  maxReconnectDelayMs?: number;
  /** Receives connection errors (ioredis emits them as events; unobserved they would be printed). @default ignore */
  onError?: (err: Error) => void;
}

export function createRedisClient(options: RedisClientOptions): Redis {
  const { url, connectTimeoutMs = 2000, commandTimeoutMs = 2000, maxReconnectDelayMs = 1000, onError = () => {} } = options;
  const client = new Redis(url, {
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    // Never give up reconnecting: Redis coming back must heal the service without a restart.
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxReconnectDelayMs),
    // Fail commands at once while disconnected rather than queue them: the caller decides (buffer / UNAVAILABLE).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableReadyCheck: true,
    lazyConnect: false,
  });
  client.on("error", onError);
  return client;
}

/** Resolves true once the client is ready, false after `timeoutMs` (it keeps reconnecting in the background). */
export function waitForRedis(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      resolve(false);
    }, timeoutMs);
    client.once("ready", onReady);
  });
}

/** Opens a client and requires Redis to answer within `timeoutMs`: for start-up checks (BAD_CONFIG / UNAVAILABLE). */
export async function connectRedis(options: RedisClientOptions & { timeoutMs?: number }): Promise<Redis> {
  const client = createRedisClient(options);
  if (!(await waitForRedis(client, options.timeoutMs ?? 3000))) {
    client.disconnect();
    throw new ReelfeedError("UNAVAILABLE", `redis: cannot connect to ${redactUrl(options.url)}`, { retryable: true });
  }
  return client;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, "//***@");
}

export function unavailable(what: string, err: unknown): ReelfeedError {
  return new ReelfeedError("UNAVAILABLE", `${what}: ${(err as Error)?.message ?? String(err)}`, { retryable: true });
}
