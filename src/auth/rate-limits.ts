import type { Redis } from "ioredis";
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { LimitsConfig } from "../config";
import { ReelfeedError } from "../errors";
import type { Principal } from "./principal";

/**
 * Per-key and per-user request budgets. Each budget is rate-limiter-flexible's BurstyRateLimiter: `perSecond`
 * requests in every 1 s window, and when that is spent, up to `burst` more from a 10 s window — a token bucket of
 * rate `perSecond` and depth `burst`, near enough, built from counters one Redis round trip can update atomically.
 *
 * In process by default. With Redis (backends.redisUrl) every replica counts against one shared budget; when Redis
 * does not answer, each replica falls back to its own in-process budget rather than refusing every request (an
 * outage of the limiter's store must not become an outage of the feed).
 *
 * Open servers (development mode, auth.mode "off") have no identity to count by and are not limited here.
 */

export interface RateLimits {
  /** Counts one request against the principal's budgets; RATE_LIMITED (details.retryAfterSec) when one is spent. */
  consume(principal: Principal): Promise<void>;
}

export interface RateLimitsOptions {
  rate: LimitsConfig["rate"];
  /** Shared store for every replica. @default in-process counters */
  redis?: Redis;
  /** Prefix of the Redis keys (config backends.redisKeyPrefix). @default "rf:" */
  keyPrefix?: string;
}

const BURST_WINDOW_SEC = 10;

type Limiter = Pick<RateLimiterAbstract, "consume">;

function budget(name: string, rate: { perSecond: number; burst: number }, redis: Redis | undefined, prefix: string): Limiter {
  const make = (suffix: string, points: number, duration: number): RateLimiterAbstract => {
    const keyPrefix = `${prefix}rl:${name}:${suffix}`;
    const memory = new RateLimiterMemory({ keyPrefix, points, duration });
    return redis
      ? new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration, rejectIfRedisNotReady: true, insuranceLimiter: memory })
      : memory;
  };
  const steady = make("s", rate.perSecond, 1);
  if (rate.burst === 0) return steady;
  return new BurstyRateLimiter(steady, make("b", rate.burst, BURST_WINDOW_SEC));
}

export function createRateLimits(options: RateLimitsOptions): RateLimits {
  const { rate, redis, keyPrefix = "rf:" } = options;
  const perKey = budget("key", rate.perKey, redis, keyPrefix);
  const perUser = budget("user", rate.perUser, redis, keyPrefix);

  async function take(limiter: Limiter, id: string, who: string): Promise<void> {
    try {
      await limiter.consume(id);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfterSec = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new ReelfeedError("RATE_LIMITED", `rate limit of this ${who} reached: retry after ${retryAfterSec} s`, { retryAfterSec });
    }
  }

  return {
    async consume(principal) {
      if (principal.kind === "open") return;
      if (principal.kind === "key") return take(perKey, principal.keyId, "API key");
      // A viewer acting through a partner key spends from both: the viewer's own budget, and the partner's.
      if (principal.keyId !== undefined) await take(perKey, principal.keyId, "API key");
      await take(perUser, principal.userId, "user");
    },
  };
}
