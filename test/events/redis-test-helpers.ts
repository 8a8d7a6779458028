import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { Redis } from "ioredis";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** True when the shared Redis answers; with REQUIRE_REDIS=1 the Redis tests run (and fail) regardless. */
export async function redisReachable(url = REDIS_URL): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return (await r.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export const skipRedis = async (): Promise<boolean> => process.env.REQUIRE_REDIS !== "1" && !(await redisReachable());

export const uniquePrefix = (what: string): string => `rftest:${what}:${randomBytes(5).toString("hex")}:`;

/** Deletes this test run's keys only (SCAN by prefix, never FLUSH). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** The pid of the redis-server answering at `url` (INFO server), or undefined when none answers. */
async function redisPid(url: string): Promise<number | undefined> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    const m = /process_id:(\d+)/.exec(await r.info("server"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

/**
 * A private redis-server this test may stop and start (never the shared one). It must be the process we spawned
 * that answers: test files run in parallel, and one that got the same free port must not stop another's server.
 */
export async function startRedisServer(port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir], {
    stdio: "ignore",
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && proc.exitCode === null && proc.signalCode === null) {
    if ((await redisPid(`redis://127.0.0.1:${port}`)) === proc.pid) return proc;
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  throw new Error(`redis-server on port ${port} did not start (or the port was taken)`);
}

/** startRedisServer on a free port, trying another port when the first is taken meanwhile. */
export async function startOwnRedisServer(dir: string): Promise<{ proc: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { proc: await startRedisServer(port, dir), port };
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

export async function killProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGKILL");
  await exited;
}
