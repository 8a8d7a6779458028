import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiKey, hashApiKey } from "../../src/auth/api-keys";
import { readKeyFileSync, writeKeyFile } from "../../src/auth/key-file";
import type { Scope } from "../../src/auth/scopes";
import { configSchema } from "../../src/config";
import { startServer } from "../../src/server";
import { createTestkit } from "../../src/testkit";
import { JWT, userToken } from "../auth/tokens";
import { reelfeedErrorOf } from "../reelfeed-error-of";
import { connectRedis } from "../../src/stores/redis-client";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "../events/redis-test-helpers";
import { startAuthServer, type AuthServer } from "./auth-harness";

/**
 * Who may do what, over real HTTP: every root field (feed, similarVideos, trending, video, user, recordEvents,
 * experimentReport, the dashboard's admin fields; the catalogue mutations in catalog-auth.test.ts) and
 * every route (POST /events, /metrics, /health) without a key, with an unknown and a wrong key, with a key lacking
 * the scope, with the right key, with a user token for another user, over the rate limit; over-complex queries;
 * production start-up rules.
 */

type Res = { status: number; headers: Headers; text: string; body: any };
const allResponses: string[] = [];

async function send(url: string, init: RequestInit): Promise<Res> {
  const res = await fetch(url, init);
  const text = await res.text();
  allResponses.push(text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, text, body };
}

const gql = (s: AuthServer, query: string, variables: Record<string, unknown> | undefined, headers: Record<string, string>) =>
  send(s.server.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query, variables }) });

let seq = 0;
const event = (userId: string) => ({ id: `auth-${Date.now()}-${seq++}`, type: "like", userId, videoId: "v1", ts: Date.now() });

interface Target {
  name: string;
  scope: Scope;
  /** Acts for a user (feed, recordEvents, POST /events): a user token must be that user. */
  perUser: boolean;
  send(s: AuthServer, headers: Record<string, string>, userId?: string): Promise<Res>;
  /** The success answer's check. */
  ok(res: Res): void;
}

const TARGETS: Target[] = [
  {
    name: "feed",
    scope: "feed:read",
    perUser: true,
    send: (s, h, userId = "u1") => gql(s, `query($u: ID!) { feed(userId: $u, first: 3) { edges { node { video { id } } } } }`, { u: userId }, h),
    ok: (r) => expect(r.body.data.feed.edges).toHaveLength(3),
  },
  {
    name: "similarVideos",
    scope: "feed:read",
    perUser: false,
    send: (s, h) => gql(s, `{ similarVideos(videoId: "v1", first: 3) { video { id } } }`, undefined, h),
    ok: (r) => expect(r.body.data.similarVideos.length).toBeGreaterThan(0),
  },
  {
    name: "trending",
    scope: "feed:read",
    perUser: false,
    send: (s, h) => gql(s, `{ trending(first: 3) { video { id } } }`, undefined, h),
    ok: (r) => expect(Array.isArray(r.body.data.trending)).toBe(true),
  },
  {
    name: "video",
    scope: "feed:read",
    perUser: false,
    send: (s, h) => gql(s, `{ video(id: "v1") { id } }`, undefined, h),
    ok: (r) => expect(r.body.data.video).toEqual({ id: "v1" }),
  },
  {
    name: "user",
    scope: "feed:read",
    perUser: false,
    send: (s, h) => gql(s, `{ user(id: "u2") { id } }`, undefined, h),
    ok: (r) => expect(r.body.data.user).toEqual({ id: "u2" }),
  },
  {
    name: "recordEvents",
    scope: "events:write",
    perUser: true,
    send: (s, h, userId = "u1") => gql(s, `mutation($e: [EventInput!]!) { recordEvents(events: $e) { accepted rejected } }`, { e: [event(userId)] }, h),
    ok: (r) => expect(r.body.data.recordEvents).toEqual({ accepted: 1, rejected: 0 }),
  },
  {
    name: "POST /events",
    scope: "events:write",
    perUser: true,
    send: (s, h, userId = "u1") =>
      send(`${s.base}/events`, { method: "POST", headers: { "content-type": "application/x-ndjson", ...h }, body: `${JSON.stringify(event(userId))}\n` }),
    ok: (r) => expect(r.body.results[0].status).toBe("ACCEPTED"),
  },
  {
    name: "experimentReport",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `{ experimentReport(name: "none") { control } }`, undefined, h),
    // Past auth the resolver runs: this harness serves no experiments, so the answer is the resolver's own UNAVAILABLE.
    ok: (r) => expect(r.body.errors[0].extensions.code).toBe("UNAVAILABLE"),
  },
  // The operator dashboard's admin fields (src/schema/dashboard-resolver.ts, models-resolver.ts).
  {
    name: "searchVideos",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `{ searchVideos(query: "v1", first: 3) { id } }`, undefined, h),
    ok: (r) => expect(r.body.data.searchVideos[0]).toEqual({ id: "v1" }),
  },
  {
    name: "searchUsers",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `{ searchUsers(query: "u2") { id } }`, undefined, h),
    ok: (r) => expect(r.body.data.searchUsers).toEqual([{ id: "u2" }]),
  },
  {
    name: "experiments",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `{ experiments { name } }`, undefined, h),
    // This harness serves no experiments: the resolver's own UNAVAILABLE.
    ok: (r) => expect(r.body.errors[0].extensions.code).toBe("UNAVAILABLE"),
  },
  {
    name: "featureDrift",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `{ featureDrift { ready features { feature } } }`, undefined, h),
    ok: (r) => expect(r.body.data.featureDrift).toEqual({ ready: false, features: [] }),
  },
  {
    name: "metricsSnapshot",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `{ metricsSnapshot(names: ["reelfeed_http_requests_total"]) { samples { name } } }`, undefined, h),
    ok: (r) => expect(r.body.data.metricsSnapshot.samples.every((x: { name: string }) => x.name === "reelfeed_http_requests_total")).toBe(true),
  },
  {
    name: "models",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `{ models { active bundles { version } } }`, undefined, h),
    // paths.varDir below has no registry.
    ok: (r) => expect(r.body.data.models).toEqual({ active: null, bundles: [] }),
  },
  {
    name: "activateModel",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `mutation { activateModel(version: "none") { active } }`, undefined, h),
    ok: (r) => expect(r.body.errors[0].extensions).toMatchObject({ code: "NOT_FOUND", argument: "version" }),
  },
  {
    name: "rollbackModel",
    scope: "admin",
    perUser: false,
    send: (s, h) => gql(s, `mutation { rollbackModel { active } }`, undefined, h),
    ok: (r) => expect(r.body.errors[0].extensions.code).toBe("NOT_FOUND"),
  },
  {
    name: "GET /metrics",
    scope: "admin",
    perUser: false,
    send: (s, h) => send(`${s.base}/metrics`, { headers: h }),
    ok: (r) => expect(r.text).toMatch(/^reelfeed_http_requests_total/m),
  },
];

const KEYS: Record<string, Scope[]> = {
  feed: ["feed:read"],
  events: ["events:write"],
  admin: ["admin"],
  debug: ["feed:read", "debug"],
  catalog: ["catalog:write"],
};
/** A key with every scope but the one a target needs. */
const lacking = (scope: Scope): string => (scope === "feed:read" ? "events" : scope === "events:write" ? "feed" : "debug");
const holding = (scope: Scope): string => (scope === "feed:read" ? "feed" : scope === "events:write" ? "events" : "admin");

let s: AuthServer;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  // A var directory with no registry: the models rows read it, and must never touch a developer's var/registry.json.
  s = await startAuthServer({ keys: KEYS, config: { auth: { jwt: JWT }, paths: { varDir: join(tmpdir(), `rf-auth-no-registry-${process.pid}`) } } });
});
afterAll(async () => s?.stop());

describe.each(TARGETS)("$name", (t) => {
  it("without credentials: 401 UNAUTHENTICATED with a Bearer challenge, before anything runs", async () => {
    const calls = s.feedCalls();
    const r = await t.send(s, {});
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(r.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect(s.feedCalls()).toBe(calls);
  });

  it("with an unknown key and with a wrong key: the same 401 answer", async () => {
    const right = s.keys[holding(t.scope)];
    const unknown = await t.send(s, { "x-api-key": generateApiKey() });
    const wrong = await t.send(s, { "x-api-key": right.slice(0, -3) + (right.endsWith("aaa") ? "bbb" : "aaa") });
    const wrongBearer = await t.send(s, bearer(right.slice(0, -1) + (right.endsWith("a") ? "b" : "a")));
    for (const r of [unknown, wrong, wrongBearer]) {
      expect(r.status).toBe(401);
      expect(r.text).toBe(unknown.text);
    }
    expect(unknown.body.errors[0]).toEqual({ message: "invalid credentials", extensions: { code: "UNAUTHENTICATED" } });
  });

  it("with a key lacking the scope: 403 FORBIDDEN naming it", async () => {
    const calls = s.feedCalls();
    const r = await t.send(s, { "x-api-key": s.keys[lacking(t.scope)] });
    expect(r.status).toBe(403);
    expect(r.body.errors[0].extensions).toMatchObject({ code: "FORBIDDEN", scope: t.scope });
    expect(r.body.errors[0].message).toContain(`"${t.scope}"`);
    expect(s.feedCalls()).toBe(calls);
  });

  it("with a key holding the scope (either header): served", async () => {
    for (const headers of [{ "x-api-key": s.keys[holding(t.scope)] }, bearer(s.keys[holding(t.scope)])]) {
      const r = await t.send(s, headers);
      expect(r.status, r.text).toBe(200);
      t.ok(r);
    }
  });

  it("with a user token for another user: refused where the call acts for a user; the public catalogue reads stay open", async () => {
    const token = await userToken("u3");
    const r = await t.send(s, bearer(token), "u1");
    if (t.scope === "admin") {
      expect(r.status).toBe(403);
      expect(r.body.errors[0].extensions).toMatchObject({ code: "FORBIDDEN", scope: "admin" });
    } else if (t.name === "POST /events") {
      // The endpoint answers per line: the foreign event is REJECTED (FORBIDDEN) and never written.
      expect(r.status).toBe(200);
      expect(r.body.results[0]).toMatchObject({ status: "REJECTED", code: "FORBIDDEN", field: "userId" });
      const own = await t.send(s, bearer(token), "u3");
      expect(own.body.results[0].status).toBe("ACCEPTED");
    } else if (t.perUser) {
      expect(r.status).toBe(403);
      expect(r.body.errors[0].extensions).toMatchObject({ code: "FORBIDDEN" });
      const own = await t.send(s, bearer(token), "u3");
      expect(own.status, own.text).toBe(200);
      t.ok(own);
    } else {
      expect(r.status, r.text).toBe(200);
      t.ok(r);
    }
  });

  it("with an expired or forged user token: 401", async () => {
    const expired = await t.send(s, bearer(await userToken("u1", { exp: Math.floor(Date.now() / 1000) - 3600 })));
    const forged = await t.send(s, bearer(await userToken("u1", { secret: "an-attacker-s-secret-an-attacker-s-secret" })));
    for (const r of [expired, forged]) {
      expect(r.status).toBe(401);
      expect(r.body.errors[0]).toEqual({ message: "invalid or expired user token", extensions: { code: "UNAUTHENTICATED" } });
    }
  });
});

describe("nothing recorded for a refused request", () => {
  it("the event log holds only events sent by callers who were allowed to", async () => {
    const stored = await s.log.read(undefined, 10_000);
    expect(stored.length).toBeGreaterThan(0);
    // Every foreign-user attempt above was by u3's token for u1; u1's events came only from keys.
    for (const r of stored) expect(["u1", "u3"]).toContain(r.event.userId);
  });
});

describe("over the rate limit", () => {
  let limited: AuthServer;
  beforeAll(async () => {
    const keys: Record<string, Scope[]> = {};
    for (const t of TARGETS) keys[t.name.replace(/\W+/g, "-")] = [t.scope];
    limited = await startAuthServer({ keys, config: { auth: { jwt: JWT }, limits: { rate: { perKey: { perSecond: 2, burst: 0 }, perUser: { perSecond: 1, burst: 0 } } } } });
  });
  afterAll(async () => limited?.stop());

  it.each(TARGETS)("$name: 429 RATE_LIMITED with Retry-After once the key's budget is spent", async (t) => {
    const headers = { "x-api-key": limited.keys[t.name.replace(/\W+/g, "-")] };
    const answers = [await t.send(limited, headers), await t.send(limited, headers), await t.send(limited, headers)];
    const over = answers.find((r) => r.status === 429);
    expect(over, answers.map((r) => r.status).join(",")).toBeDefined();
    expect(Number(over!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(over!.body.errors[0].extensions).toMatchObject({ code: "RATE_LIMITED", retryAfterSec: expect.any(Number) });
  });

  it("per user: one viewer's token is limited on its own budget, another viewer is not", async () => {
    const feed = TARGETS[0];
    const a = await userToken("u4");
    const first = await feed.send(limited, bearer(a), "u4");
    const second = await feed.send(limited, bearer(a), "u4");
    expect([first.status, second.status]).toContain(429);
    const other = await feed.send(limited, bearer(await userToken("u5")), "u5");
    expect(other.status, other.text).toBe(200);
  });
});

describe.skipIf(await skipRedis())("over the rate limit, two replicas sharing Redis", () => {
  it("spend one budget: the key's requests to either replica count together", async () => {
    const redis = await connectRedis({ url: REDIS_URL });
    const prefix = uniquePrefix("auth-replicas");
    const config = { backends: { redisKeyPrefix: prefix }, limits: { rate: { perKey: { perSecond: 3, burst: 0 } } } };
    const a = await startAuthServer({ keys: { feed: ["feed:read"] }, config, redis });
    const b = await startAuthServer({ keys: { feed: ["feed:read"] }, plainKeys: a.keys, config, redis });
    try {
      const video = TARGETS.find((t) => t.name === "video")!;
      const headers = { "x-api-key": a.keys.feed };
      const statuses = [];
      for (const replica of [a, b, a, b]) statuses.push((await video.send(replica, headers)).status);
      // Alone, each replica would have allowed both of its two; together they allow three in the window (which
      // starts at the key's first request, so the four fit in it).
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await a.stop();
      await b.stop();
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });
});

describe("over-complex queries are refused before execution (400 QUERY_TOO_COMPLEX)", () => {
  const key = () => ({ "x-api-key": s.keys.feed });

  it.each([
    ["aliases", `{ ${Array.from({ length: 21 }, (_, i) => `v${i}: video(id: "v1") { id }`).join(" ")} }`],
    ["cost", `{ ${Array.from({ length: 6 }, (_, i) => `f${i}: feed(userId: "u${i}") { edges { cursor } }`).join(" ")} }`],
  ])("%s", async (measure, query) => {
    const calls = s.feedCalls();
    const r = await gql(s, query, undefined, key());
    expect(r.status).toBe(400);
    expect(r.body.errors[0].extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", measure, limit: expect.any(Number), actual: expect.any(Number) });
    expect(r.body.data).toBeUndefined();
    expect(s.feedCalls()).toBe(calls);
  });

  it("depth", async () => {
    const shallow = await startAuthServer({ keys: { feed: ["feed:read"] }, config: { limits: { query: { maxDepth: 4 } } } });
    try {
      const r = await gql(shallow, `{ feed(userId: "u1") { edges { node { video { id } } } } }`, undefined, { "x-api-key": shallow.keys.feed });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", measure: "depth", actual: 5, limit: 4 });
      expect(shallow.feedCalls()).toBe(0);
    } finally {
      await shallow.stop();
    }
  });

  it("batched requests are off: one operation per request", async () => {
    const r = await send(s.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...key() },
      body: JSON.stringify([{ query: `{ video(id: "v1") { id } }` }, { query: `{ video(id: "v2") { id } }` }]),
    });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/batch/i);
  });
});

describe("debug traces", () => {
  const q = `{ feed(userId: "u1", first: 2, debug: true) { trace { modelVersion } } }`;
  it("need the debug scope: FORBIDDEN with feed:read alone, and for a viewer's own token", async () => {
    for (const headers of [{ "x-api-key": s.keys.feed }, bearer(await userToken("u1"))]) {
      const r = await gql(s, q, undefined, headers);
      expect(r.status).toBe(403);
      expect(r.body.errors[0].extensions).toMatchObject({ code: "FORBIDDEN", scope: "debug" });
    }
  });

  it("are served with it", async () => {
    const r = await gql(s, q, undefined, { "x-api-key": s.keys.debug });
    expect(r.status, r.text).toBe(200);
    expect(r.body.data.feed.trace.modelVersion).toBe("testkit");
  });
});

describe("/health", () => {
  it("public: ok and nothing else — no model, backends, paths or host", async () => {
    const r = await send(`${s.base}/health`, {});
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true });
  });

  it("detailed with the admin scope, with filesystem paths removed", async () => {
    const r = await send(`${s.base}/health`, { headers: { "x-api-key": s.keys.admin } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, modelVersion: "testkit", backends: { eventLog: { ok: true, kind: "file", detail: "[path]" } } });
    // Without admin: the public answer; with a bad key: 401.
    expect((await send(`${s.base}/health`, { headers: { "x-api-key": s.keys.feed } })).body).toEqual({ ok: true });
    expect((await send(`${s.base}/health`, { headers: { "x-api-key": generateApiKey() } })).status).toBe(401);
  });

  it("public 503 when a backend is down, still without details", async () => {
    const down = await startAuthServer({ keys: {}, backends: { state: { ok: false, kind: "redis", detail: "redis://10.0.0.5:6379 unreachable" } } });
    try {
      const r = await send(`${down.base}/health`, {});
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ ok: false });
    } finally {
      await down.stop();
    }
  });
});

describe("keys rotate without a restart", () => {
  it("a key added to the file works within the reload interval; a removed one stops", async () => {
    const fresh = generateApiKey();
    const records = readKeyFileSync(s.keysFile);
    await writeKeyFile(s.keysFile, [...records, { id: "rotated-in", hash: hashApiKey(fresh), scopes: ["feed:read"] }]);
    const video = TARGETS.find((t) => t.name === "video")!;
    await expect.poll(async () => (await video.send(s, { "x-api-key": fresh })).status, { timeout: 3000, interval: 50 }).toBe(200);
    await writeKeyFile(s.keysFile, records);
    await expect.poll(async () => (await video.send(s, { "x-api-key": fresh })).status, { timeout: 3000, interval: 50 }).toBe(401);
    expect(s.warnings.join("\n")).toMatch(/keys file reloaded/);
    expect(s.warnings.join("\n")).not.toContain(fresh);
  });
});

describe("introspection", () => {
  const q = `{ __schema { queryType { name } } }`;
  it("is off in production unless auth.introspection turns it on", async () => {
    const off = await gql(s, q, undefined, { "x-api-key": s.keys.feed });
    expect(off.status).toBe(400);
    expect(off.body.errors[0].extensions.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const on = await startAuthServer({ keys: { feed: ["feed:read"] }, config: { auth: { introspection: true } } });
    try {
      const r = await gql(on, q, undefined, { "x-api-key": on.keys.feed });
      expect(r.body).toEqual({ data: { __schema: { queryType: { name: "Query" } } } });
      // Even when on, it needs a credential, and its cycle (types > fields > type > fields ...) is refused by
      // graphql-js's own MaxIntrospectionDepthRule before anything runs.
      expect((await gql(on, q, undefined, {})).status).toBe(401);
      const cyclic = await gql(on, `{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`, undefined, { "x-api-key": on.keys.feed });
      expect(cyclic.status, cyclic.text).toBe(400);
      expect(cyclic.body.errors[0]).toMatchObject({ message: "Maximum introspection depth exceeded", extensions: { code: "GRAPHQL_VALIDATION_FAILED" } });
    } finally {
      await on.stop();
    }
  });
});

describe("start-up", () => {
  const kit = createTestkit();
  const services = { feed: kit.service, catalog: kit.catalog };

  it("production (NODE_ENV=production) without auth is refused with BAD_CONFIG", async () => {
    const err = await reelfeedErrorOf(startServer({ services, config: configSchema.parse({}), port: 0, host: "127.0.0.1", production: true, warn: () => {} }), "BAD_CONFIG");
    expect(err.message).toMatch(/NODE_ENV=production and no auth configured/);
  });

  it("`NODE_ENV=production reelfeed serve` without auth exits 2 at once, before training or loading anything", async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve", "--port", "4999"], {
        env: { ...process.env, NODE_ENV: "production", REELFEED_VAR_DIR: "/nonexistent/reelfeed-var", REELFEED_API_KEYS_FILE: "", REELFEED_AUTH_MODE: "" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (d) => (err += String(d)));
      child.on("exit", (c) => resolve({ code: c, stderr: err }));
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/reelfeed: config auth: NODE_ENV=production and no auth configured/);
  }, 30_000);

  it('auth.mode "off" starts in production, warns, and says so in /health', async () => {
    const warnings: string[] = [];
    const off = await startServer({ services, config: configSchema.parse({ auth: { mode: "off" } }), port: 0, host: "127.0.0.1", production: true, warn: (m) => void warnings.push(m), health: () => ({ backends: {} }) });
    try {
      expect(off.authMode).toBe("off");
      expect(warnings.join("\n")).toMatch(/auth\.mode "off"/);
      const h = await send(off.url.replace(/\/graphql$/, "/health"), {});
      expect(h.body).toMatchObject({ ok: true, auth: "off" });
    } finally {
      await off.stop();
    }
  });

  it("development (nothing configured, not production): serves everything without a key, warns, says so in /health", async () => {
    const warnings: string[] = [];
    const dev = await startServer({ services, config: configSchema.parse({}), port: 0, host: "127.0.0.1", production: false, warn: (m) => void warnings.push(m), health: () => ({ backends: {} }) });
    try {
      expect(dev.authMode).toBe("development");
      expect(warnings.join("\n")).toMatch(/development mode, no authentication/);
      const h = await send(dev.url.replace(/\/graphql$/, "/health"), {});
      expect(h.body).toMatchObject({ ok: true, auth: "development" });
      const r = await send(dev.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: `{ video(id: "v1") { id } }` }) });
      expect(r.body).toEqual({ data: { video: { id: "v1" } } });
      expect((await send(dev.url.replace(/\/graphql$/, "/metrics"), {})).status).toBe(200);
    } finally {
      await dev.stop();
    }
  });

  it("a keys file that is missing fails the start with BAD_FILE", async () => {
    await reelfeedErrorOf(
      startServer({ services, config: configSchema.parse({ auth: { keysFile: "/nonexistent/keys.json" } }), port: 0, host: "127.0.0.1", production: true, warn: () => {} }),
      "BAD_FILE",
    );
  });

  it("an unscoped extra route needs admin (a new route is never public by accident)", async () => {
    const dir = `${s.keysFile}.extra.json`;
    const adminKey = generateApiKey();
    await writeFile(dir, JSON.stringify([{ id: "ops", hash: hashApiKey(adminKey), scopes: ["admin"] }, { id: "f", hash: hashApiKey("rfk_feed-only-test-key"), scopes: ["feed:read"] }]));
    const srv = await startServer({
      services: { ...services, httpHandlers: { "GET /extra": (_req, res) => void res.end("extra") } },
      config: configSchema.parse({ auth: { keysFile: dir } }),
      port: 0,
      host: "127.0.0.1",
      production: true,
      warn: () => {},
    });
    try {
      const url = srv.url.replace(/\/graphql$/, "/extra");
      expect((await send(url, {})).status).toBe(401);
      expect((await send(url, { headers: { "x-api-key": "rfk_feed-only-test-key" } })).body.errors[0].extensions).toMatchObject({ code: "FORBIDDEN", scope: "admin" });
      expect((await send(url, { headers: { "x-api-key": adminKey } })).text).toBe("extra");
    } finally {
      await srv.stop();
    }
  });
});

describe("no response carries internals", () => {
  it("no stack trace, exception, file path or key material in any response this suite received", () => {
    expect(allResponses.length).toBeGreaterThan(50);
    for (const text of allResponses) {
      expect(text).not.toMatch(/stacktrace|"exception"|\/tmp\/|\/work\/|node_modules|\.ts:\d+|rfk_|sha256:/);
    }
  });
});
