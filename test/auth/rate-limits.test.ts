import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPEN_DEVELOPMENT, type Principal } from "../../src/auth/principal";
import { createRateLimits } from "../../src/auth/rate-limits";
import { connectRedis } from "../../src/stores/redis-client";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "../events/redis-test-helpers";
import { reelfeedErrorOf } from "../reelfeed-error-of";

const key = (keyId: string): Principal => ({ kind: "key", keyId, scopes: new Set(["feed:read"]) });
const user = (userId: string, keyId?: string): Principal => ({ kind: "user", userId, keyId, scopes: new Set(["feed:read"]) });
const rate = { perKey: { perSecond: 3, burst: 2 }, perUser: { perSecond: 2, burst: 0 } };

describe("rate limits, in process", () => {
  it("per key: perSecond, then the burst, then RATE_LIMITED with the seconds to wait", async () => {
    const limits = createRateLimits({ rate });
    for (let i = 0; i < 5; i++) await limits.consume(key("a"));
    const err = await reelfeedErrorOf(limits.consume(key("a")), "RATE_LIMITED");
    expect(err.message).toMatch(/rate limit of this API key reached/);
    expect(err.details.retryAfterSec).toBeGreaterThanOrEqual(1);
    expect(err.details.retryAfterSec).toBeLessThanOrEqual(10);
    // Another key has its own budget.
    await limits.consume(key("b"));
  });

  it("per user; a viewer acting through a partner key spends both budgets", async () => {
    const limits = createRateLimits({ rate });
    await limits.consume(user("u1", "p"));
    await limits.consume(user("u1", "p"));
    expect((await reelfeedErrorOf(limits.consume(user("u1", "p")), "RATE_LIMITED")).message).toMatch(/this user/);
    await limits.consume(user("u2"));
    // The partner key "p" spent 3 (one refused by the user budget after the key's own count), 2 left in its burst.
    await limits.consume(key("p"));
    await limits.consume(key("p"));
    await reelfeedErrorOf(limits.consume(key("p")), "RATE_LIMITED");
  });

  it("does not count open servers (development mode): there is no identity to count by", async () => {
    const limits = createRateLimits({ rate });
    for (let i = 0; i < 50; i++) await limits.consume(OPEN_DEVELOPMENT);
  });

  it("the budget comes back after its window", async () => {
    const limits = createRateLimits({ rate: { ...rate, perKey: { perSecond: 1, burst: 0 } } });
    await limits.consume(key("c"));
    await reelfeedErrorOf(limits.consume(key("c")), "RATE_LIMITED");
    await new Promise((r) => setTimeout(r, 1100));
    await limits.consume(key("c"));
  });
});

describe.skipIf(await skipRedis())("rate limits shared through Redis", () => {
  let redis: Redis;
  const prefix = uniquePrefix("ratelimit");
  beforeAll(async () => void (redis = await connectRedis({ url: REDIS_URL })));
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it("two replicas (two limiters, one Redis) enforce one budget", async () => {
    const a = createRateLimits({ rate, redis, keyPrefix: prefix });
    const b = createRateLimits({ rate, redis, keyPrefix: prefix });
    for (let i = 0; i < 5; i++) await (i % 2 === 0 ? a : b).consume(key("shared"));
    await reelfeedErrorOf(a.consume(key("shared")), "RATE_LIMITED");
    await reelfeedErrorOf(b.consume(key("shared")), "RATE_LIMITED");
    expect(await redis.keys(`${prefix}rl:key:*`)).not.toHaveLength(0);
  });

  it("when Redis does not answer, each replica falls back to its own in-process budget", async () => {
    const down = new Redis("redis://127.0.0.1:1", { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on("error", () => {});
    try {
      const limits = createRateLimits({ rate, redis: down, keyPrefix: prefix });
      for (let i = 0; i < 5; i++) await limits.consume(key("offline"));
      await reelfeedErrorOf(limits.consume(key("offline")), "RATE_LIMITED");
    } finally {
      down.disconnect();
    }
  });
});
