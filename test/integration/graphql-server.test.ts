import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { createEventsHttpHandler } from "../../src/events/http-endpoint";
import { createIngestor } from "../../src/events/ingest";
import type { FeedService } from "../../src/pipeline/feed-page";
import { startServer, type BackendHealth, type RunningServer } from "../../src/server";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { createTestkit, type Testkit } from "../../src/testkit";

/**
 * The real server on a free port, the real feed pipeline (testkit: in-memory stores, real sources, filters,
 * stages) and the real event ingestion, queried over HTTP with fetch, as a client would.
 */

const FEED = `query Feed($userId: ID!, $first: Int, $after: String, $context: FeedContextInput) {
  feed(userId: $userId, first: $first, after: $after, context: $context) {
    modelVersion
    fallbacks { kind component }
    pageInfo { endCursor hasNextPage }
    edges { cursor node { position trackingId sources reason { code params { key value } } video { id title } } }
  }
}`;

type FeedData = {
  feed: {
    modelVersion: string;
    fallbacks: Array<{ kind: string }>;
    pageInfo: { endCursor: string | null; hasNextPage: boolean };
    edges: Array<{ node: { position: number; trackingId: string; sources: string[]; reason: { code: string }; video: { id: string } } }>;
  };
};

type GqlBody<T = unknown> = { data?: T | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

let kit: Testkit;
let server: RunningServer;
let base: string;
let dir: string;
let log: FileEventLog;
const backends: Record<string, BackendHealth> = { state: { ok: true, kind: "embedded" }, vectors: { ok: true, kind: "embedded" } };
const allResponses: string[] = [];

async function gql<T>(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  allResponses.push(text);
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as GqlBody<T> };
}

beforeAll(async () => {
  kit = createTestkit();
  dir = await mkdtemp(join(tmpdir(), "rf-server-"));
  log = await createFileEventLog({ dir });
  const ingestor = createIngestor({ log, maxBatch: 100 });
  // The real pipeline, plus one user id whose feed fails with an internal error (to check what leaks).
  const feed: FeedService = {
    feed: async (r) => {
      if (r.userId === "explode") throw new Error("kaboom in /srv/secret/ranker.onnx");
      return kit.service.feed(r);
    },
    similarVideos: (id, n) => kit.service.similarVideos(id, n),
    trending: (c, n) => kit.service.trending(c, n),
  };
  const config = configSchema.parse({ server: { maxPageSize: 50, maxBodyBytes: 50_000 } });
  server = await startServer({
    services: {
      feed,
      catalog: kit.catalog,
      ingestor,
      httpHandlers: { "/events": createEventsHttpHandler({ ingestor, maxBodyBytes: config.server.maxBodyBytes }) },
    },
    config,
    port: 0,
    host: "127.0.0.1",
    health: () => ({ modelVersion: "testkit", executionProvider: "cpu", backends }),
    log: () => {},
  });
  base = server.url.replace(/\/graphql$/, "");
});

afterAll(async () => {
  await server?.stop();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("feed over HTTP", () => {
  it("returns items with reasons, sources and tracking ids", async () => {
    const { status, headers, body } = await gql<FeedData>(FEED, { userId: "u1", first: 6 });
    expect(status).toBe(200);
    expect(headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.errors).toBeUndefined();
    const edges = body.data!.feed.edges;
    expect(edges).toHaveLength(6);
    expect(new Set(edges.map((e) => e.node.trackingId)).size).toBe(6);
    for (const e of edges) {
      expect(e.node.reason.code).toMatch(/^[A-Z_]+$/);
      expect(e.node.sources.length).toBeGreaterThan(0);
    }
    expect(body.data!.feed.modelVersion).toBe("testkit");
  });

  it("paginates with after: later pages continue positions and never repeat a video", async () => {
    const seen = new Set<string>();
    let after: string | null = null;
    for (let page = 0; page < 3; page++) {
      const { body }: { body: GqlBody<FeedData> } = await gql<FeedData>(FEED, { userId: "u2", first: 5, after });
      expect(body.errors).toBeUndefined();
      const feed: FeedData["feed"] = body.data!.feed;
      expect(feed.edges.map((e) => e.node.position)).toEqual([0, 1, 2, 3, 4].map((i) => page * 5 + i));
      for (const e of feed.edges) {
        expect(seen.has(e.node.video.id)).toBe(false);
        seen.add(e.node.video.id);
      }
      expect(feed.pageInfo.hasNextPage).toBe(true);
      after = feed.pageInfo.endCursor;
    }
  });

  it("gives an unknown user a cold-start feed", async () => {
    const { body } = await gql<FeedData>(FEED, { userId: "brand-new-user", first: 5 });
    expect(body.errors).toBeUndefined();
    expect(body.data!.feed.edges).toHaveLength(5);
  });

  it.each([
    [{ userId: "u1", first: 0 }, "first"],
    [{ userId: "u1", first: 51 }, "first"],
    [{ userId: "u1", context: { country: "Narnia" } }, "context.country"],
    [{ userId: "", first: 5 }, "userId"],
    [{ userId: "u1", after: "garbage" }, "after"],
  ])("rejects %j: BAD_USER_INPUT naming %s", async (variables, argument) => {
    const { status, body } = await gql(FEED, variables);
    expect(status).toBe(200);
    expect(body.data).toBeNull();
    expect(body.errors![0].extensions).toEqual({ code: "BAD_USER_INPUT", argument });
  });

  it("rejects a variable of the wrong type with HTTP 400", async () => {
    const { status, body } = await gql(FEED, { userId: "u1", first: "twenty" });
    expect(status).toBe(400);
    expect(body.errors![0].extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("hides internal failures: generic message, no stack trace, nothing of the original error", async () => {
    const { status, body } = await gql(FEED, { userId: "explode" });
    expect(status).toBe(200);
    expect(body.errors).toEqual([{ message: "Internal server error", locations: expect.any(Array), path: ["feed"], extensions: { code: "INTERNAL_SERVER_ERROR" } }]);
  });

  it("records events through the recordEvents mutation and POST /events, into the same log", async () => {
    const ts = Date.now();
    const m = await gql<{ recordEvents: { accepted: number } }>(
      `mutation($e: [EventInput!]!) { recordEvents(events: $e) { accepted rejected } }`,
      { e: [{ id: `int-${ts}-1`, type: "like", userId: "u1", videoId: "v1", ts }] },
    );
    expect(m.body.errors).toBeUndefined();
    expect(m.body.data!.recordEvents.accepted).toBe(1);
    const res = await fetch(`${base}/events`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: `${JSON.stringify({ id: `int-${ts}-2`, type: "like", userId: "u1", videoId: "v2", ts })}\n`,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { results: Array<{ status: string }> }).results[0].status).toBe("ACCEPTED");
    const stored = (await log.read(undefined, 10)).map((r) => r.event.id);
    expect(stored).toEqual(expect.arrayContaining([`int-${ts}-1`, `int-${ts}-2`]));
  });
});

describe("HTTP edges", () => {
  it("answers 413 past the body bound, before reading it", async () => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ video(id: "${"x".repeat(60_000)}") { id } }` }),
    });
    expect(res.status).toBe(413);
    const text = await res.text();
    allResponses.push(text);
    expect(JSON.parse(text).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("answers 413 for a streamed (chunked) body once it passes the bound", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(10_000));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Far past the bound; the server must answer without waiting for all of it.
        if (sent++ < 100) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(res.headers.get("connection")).toBe("close");
  });

  it("answers 400 for malformed JSON, and GraphQL parse errors, without internals", async () => {
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: "{ not json" });
    expect(res.status).toBe(400);
    allResponses.push(await res.text());
    const parse = await gql(`{ feed(userId: "u1") { `);
    expect(parse.status).toBe(400);
    expect(parse.body.errors![0].extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
    const unknown = await gql(`{ nope }`);
    expect(unknown.body.errors![0].extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("answers 404 for unknown routes and 405 for wrong methods", async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const post = await fetch(`${base}/health`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("the IDE, served locally", () => {
  const require = createRequire(import.meta.url);

  it.each([["/"], ["/graphql"]])("GET %s from a browser serves a GraphiQL page with only local assets", async (path) => {
    const res = await fetch(`${base}${path}`, { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("GraphiQL.createFetcher");
    expect(html).toContain("feed(userId: $userId");
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(["/ide/graphiql.min.css", "/ide/graphiql.min.js", "/ide/react-dom.production.min.js", "/ide/react.production.min.js"]);
    // Nothing loads from the network: no absolute URLs anywhere in the page.
    expect(html).not.toMatch(/https?:\/\//);
  });

  it("serves each asset from node_modules, byte for byte", async () => {
    const files: Record<string, string> = {
      "/ide/graphiql.min.js": require.resolve("graphiql/graphiql.min.js"),
      "/ide/graphiql.min.css": require.resolve("graphiql/graphiql.min.css"),
      "/ide/react.production.min.js": join(require.resolve("react/package.json"), "../umd/react.production.min.js"),
      "/ide/react-dom.production.min.js": join(require.resolve("react-dom/package.json"), "../umd/react-dom.production.min.js"),
    };
    for (const [route, file] of Object.entries(files)) {
      const res = await fetch(`${base}${route}`);
      expect(res.status, route).toBe(200);
      expect(res.headers.get("content-type")).toMatch(route.endsWith(".css") ? /^text\/css/ : /^application\/javascript/);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe((await stat(file)).size);
      expect(body.equals(await readFile(file))).toBe(true);
    }
    expect((await fetch(`${base}/ide/../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/ide/other.js`)).status).toBe(404);
  });

  it("still executes GET queries on /graphql for non-browser clients", async () => {
    const res = await fetch(`${server.url}?query=${encodeURIComponent(`{ video(id: "v1") { id } }`)}`, { headers: { "apollo-require-preflight": "1" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { video: { id: "v1" } } });
  });
});

describe("/health and /metrics", () => {
  it("reports ok, the model version, the provider and backends; 503 when a backend is down", async () => {
    const ok = await fetch(`${base}/health`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, modelVersion: "testkit", executionProvider: "cpu", backends });
    backends.state = { ok: false, kind: "redis", detail: "connection refused" };
    try {
      const down = await fetch(`${base}/health`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ ok: false, backends: { state: { ok: false } } });
    } finally {
      backends.state = { ok: true, kind: "embedded" };
    }
  });

  it("exports request counts, latency histograms and fallbacks in Prometheus format", async () => {
    await gql(FEED, { userId: "u4", first: 3 });
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"+.]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    expect(value('reelfeed_graphql_requests_total{operation="feed",outcome="ok"}')).toBeGreaterThanOrEqual(5);
    expect(value('reelfeed_graphql_requests_total{operation="feed",outcome="error"}')).toBeGreaterThanOrEqual(5);
    expect(value('reelfeed_graphql_request_duration_seconds_count{operation="feed"}')).toBeGreaterThanOrEqual(10);
    expect(text).toMatch(/^reelfeed_graphql_request_duration_seconds_bucket\{operation="feed",le="\+Inf"\} \d+$/m);
    // The testkit serves without a ranker model: every newly ranked session (u1, u2, brand-new-user, u4) says so.
    expect(value('reelfeed_feed_fallbacks_total{kind="RANKER_UNAVAILABLE"}')).toBeGreaterThanOrEqual(4);
    expect(value('reelfeed_http_requests_total{route="/health",status="503"}')).toBe(1);
    // Process gauges, read at scrape time.
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
    expect(value("nodejs_heap_used_bytes")).toBeGreaterThan(1024 * 1024);
    const elu = value("nodejs_eventloop_utilization");
    expect(elu).toBeGreaterThanOrEqual(0);
    expect(elu).toBeLessThanOrEqual(1);
    expect(value("nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
  });
});

describe("no response carries internals", () => {
  it("has no stack trace, exception or file path in any response this suite received", () => {
    expect(allResponses.length).toBeGreaterThan(10);
    for (const text of allResponses) {
      expect(text).not.toMatch(/stacktrace|"exception"|kaboom|\/srv\/|node_modules|\.ts:\d+/);
    }
  });
});

describe("stop()", () => {
  it("lets an in-flight request finish, then refuses new connections", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const slow: FeedService = {
      feed: async (r) => {
        entered();
        await gate;
        return kit.service.feed(r);
      },
      similarVideos: async () => [],
      trending: async () => [],
    };
    const s = await startServer({ services: { feed: slow, catalog: kit.catalog }, config: configSchema.parse({}), port: 0, host: "127.0.0.1" });
    const inflight = fetch(s.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: FEED, variables: { userId: "u5", first: 2 } }) });
    await inside;
    const stopped = s.stop();
    release();
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as GqlBody<FeedData>).data!.feed.edges).toHaveLength(2);
    await stopped;
    await expect(fetch(s.url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).rejects.toThrow();
  });

  it("fails with a named error when the port is taken", async () => {
    await expect(
      startServer({ services: { feed: kit.service, catalog: kit.catalog }, config: configSchema.parse({}), port: server.port, host: "127.0.0.1" }),
    ).rejects.toMatchObject({ code: "UNAVAILABLE", message: expect.stringContaining("EADDRINUSE") });
  });

  it("fails at start-up on an httpHandlers key that shadows a built-in route", async () => {
    await expect(
      startServer({ services: { feed: kit.service, catalog: kit.catalog, httpHandlers: { "POST /graphql": () => {} } }, config: configSchema.parse({}), port: 0, host: "127.0.0.1" }),
    ).rejects.toMatchObject({ code: "BAD_CONFIG" });
  });
});
