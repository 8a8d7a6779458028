import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, HeaderMap } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import type { GraphQLSchema } from "graphql";
import type { Redis } from "ioredis";
import { openModeWarning, type AuthMode } from "./auth/auth-mode";
import { createAuthenticator } from "./auth/authenticator";
import { AUTH_STATUS, authHeaders } from "./auth/http-answers";
import { createOperationGuardPlugin } from "./auth/operation-guard";
import { hasScope, requireScope, type Principal } from "./auth/principal";
import { createRateLimits } from "./auth/rate-limits";
import { checkRootFieldRules } from "./auth/root-fields";
import type { Scope } from "./auth/scopes";
import type { ReelfeedConfig } from "./config";
import { createDashboardAssets, DASHBOARD_HEADERS, DASHBOARD_PATH, DASHBOARD_PREFIX } from "./dashboard/dashboard-assets";
import type { PipelineFeedService } from "./pipeline/feed-pipeline";
import { ReelfeedError, type ReelfeedErrorCode } from "./errors";
import { buildReelfeedSchema } from "./schema/build-schema";
import { createContext, type ReelfeedContext, type ReelfeedServices } from "./schema/context";
import { createFormatError, INTERNAL_MESSAGE, type ErrorLogger } from "./schema/format-error";
import { createIdeAssetCache, IDE_PREFIX, renderIdePage } from "./schema/graphiql-ide";
import { createServerMetrics, type ServerMetrics } from "./schema/metrics";
import { createMetricsPlugin } from "./schema/metrics-plugin";

/**
 * The HTTP front door: one node:http server carrying GraphQL (Apollo Server through its documented integration
 * API, `executeHTTPGraphQLRequest`), a local GraphiQL IDE, /health, /metrics, and extra handlers such as the
 * events batch endpoint. No framework: every route is a few lines, and body bounds are enforced in one place.
 */

/**
 * A plain node handler. It may return a promise; a rejection answers 500 with a generic message. It runs only
 * after authentication, the rate limit and its scope were checked, and is told who is asking.
 */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, principal: Principal) => void | Promise<void>;

/** A handler with the scope its callers need. A bare handler needs `admin`: a new route is never public by accident. */
export interface ScopedHttpHandler {
  handler: HttpHandler;
  scope: Scope;
}

export interface BackendHealth {
  ok: boolean;
  /** "embedded", "redis", "qdrant", ... */
  kind: string;
  detail?: string;
}

/** What /health reports besides `ok` (the conjunction of every backend's ok). */
export interface HealthReport {
  modelVersion?: string;
  /** ONNX Runtime execution provider actually in use ("cuda" or "cpu"). */
  executionProvider?: string;
  backends?: Record<string, BackendHealth>;
}

export interface StartServerOptions {
  services: ReelfeedServices & {
    /**
     * Extra routes, keyed "METHOD /path" (that method only) or "/path" (any method), e.g. `"POST /events"`.
     * Requests past `config.server.maxBodyBytes` by Content-Length are answered 413 before the handler runs, in the
     * extra routes' shape `{ error: { code, message } }` (not GraphQL's `errors[]`: one route, one shape); a handler
     * reading a chunked body bounds it itself, in that same shape.
     */
    httpHandlers?: Record<string, HttpHandler | ScopedHttpHandler>;
  };
  config: ReelfeedConfig;
  /** Port; 0 picks a free one. @default config.server.port */
  port?: number;
  /** @default config.server.host */
  host?: string;
  /** Filled into /health. @default a report with no model version and no backends */
  health?: () => HealthReport | Promise<HealthReport>;
  /** Where errors withheld from clients are logged. @default console.error */
  log?: ErrorLogger;
  /** In-flight requests get this long to finish on stop() before connections are cut. @default 10_000 */
  stopGracePeriodMs?: number;
  /** @default buildReelfeedSchema() */
  schema?: GraphQLSchema;
  /**
   * The operator runs this in production (NODE_ENV=production as they set it): without auth configured, start-up
   * fails with BAD_CONFIG (src/auth/auth-mode.ts). @default process.env.NODE_ENV === "production"
   */
  production?: boolean;
  /** Shares the rate limits between replicas. @default in-process limits */
  redis?: Redis;
  /** Start-up warnings (development mode) and key-file reloads. @default console.warn */
  warn?: (message: string) => void;
}

export interface RunningServer {
  /** The GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  port: number;
  metrics: ServerMetrics;
  /** "enforced", "development" or "off" (src/auth/auth-mode.ts). */
  authMode: AuthMode;
  /** The dashboard's assets: `built()` stays false until someone opens /dashboard (nothing is bundled before). */
  dashboard: { built(): boolean };
  /** Stops accepting connections, lets in-flight requests finish (up to the grace period), then resolves. */
  stop(): Promise<void>;
}

const JSON_TYPE = "application/json; charset=utf-8";

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": JSON_TYPE, "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Errors outside GraphQL execution use the GraphQL error shape too, so a client parses one format. */
function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] }, headers);
}

function tooLarge(limit: number): ReelfeedError {
  return new ReelfeedError("PAYLOAD_TOO_LARGE", `request body exceeds ${limit} bytes`, { limit });
}

function declaredTooLarge(req: IncomingMessage, limit: number): boolean {
  const declared = Number(req.headers["content-length"]);
  return Number.isFinite(declared) && declared > limit;
}

/** Reads a body, rejecting with PAYLOAD_TOO_LARGE as soon as it passes the bound (never buffering more). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredTooLarge(req, limit)) return reject(tooLarge(limit));
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseHandlerKey(key: string): { method?: string; path: string } {
  const m = /^([A-Za-z]+)\s+(\/\S*)$/.exec(key.trim());
  if (m) return { method: m[1].toUpperCase(), path: m[2] };
  if (!key.startsWith("/")) {
    throw new ReelfeedError("BAD_CONFIG", `httpHandlers "${key}": expected "METHOD /path" or "/path"`, { key });
  }
  return { path: key };
}

/** HTTP status for ReelfeedErrors a client can act on; any other error is a 500 with a generic message. */
const CLIENT_STATUS: Partial<Record<ReelfeedErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  ...AUTH_STATUS,
};

/**
 * Filesystem paths in a backend's detail ("var/events", "/srv/models/...") become "[path]": /health describes the
 * service, never the host. URLs (already without credentials) stay: operators need to know which backend.
 */
export function withoutPaths(detail: string): string {
  return detail.replace(/(^|[\s(])((?:\.{0,2}\/|~\/|[A-Za-z]:\\|[\w.-]+\/)[^\s,;()]*)/g, "$1[path]");
}

const RESERVED = new Set(["/", "/graphql", "/health", "/metrics"]);

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const {
    services,
    config,
    port = config.server.port,
    host = config.server.host,
    health = (): HealthReport => ({}),
    log = (message: string, error: unknown) => console.error(message, error),
    stopGracePeriodMs = 10_000,
    production = process.env.NODE_ENV === "production",
    warn = (message: string) => console.warn(message),
  } = options;
  const { httpHandlers = {}, ...graphqlServices } = services;
  // Auth first: production without auth, a missing keys file or a bad JWKS stop the start here.
  const authenticator = createAuthenticator({ auth: config.auth, production, log: warn });
  const warning = openModeWarning(authenticator.mode);
  if (warning) warn(warning);
  const limits = createRateLimits({ rate: config.limits.rate, redis: options.redis, keyPrefix: config.backends.redisKeyPrefix });
  const maxBody = config.server.maxBodyBytes;
  const schema = options.schema ?? (await buildReelfeedSchema());
  checkRootFieldRules(schema);
  // The pipeline's feed service reports its session cache; another FeedService (a test double) may not.
  const feed = graphqlServices.feed as Partial<PipelineFeedService>;
  const metrics = createServerMetrics({ sessionsCached: typeof feed.stats === "function" ? () => feed.stats!().sessionsCached : undefined });
  const ideAsset = createIdeAssetCache();
  const idePage = renderIdePage();
  // The operator dashboard (src/dashboard): bundled on its first request, nothing before.
  const dashboard = createDashboardAssets();

  // Handlers are validated at start-up: a typo'd key or a clash with a built-in route fails here, not per request.
  const handlers = new Map<string, { method?: string; handler: HttpHandler; scope: Scope }[]>();
  for (const [key, entry] of Object.entries(httpHandlers)) {
    const { method, path } = parseHandlerKey(key);
    if (RESERVED.has(path) || path.startsWith(IDE_PREFIX) || path === DASHBOARD_PATH || path.startsWith(DASHBOARD_PREFIX)) {
      throw new ReelfeedError("BAD_CONFIG", `httpHandlers "${key}": ${path} is a built-in route`, { key });
    }
    const { handler, scope } = typeof entry === "function" ? { handler: entry, scope: "admin" as const } : entry;
    handlers.set(path, [...(handlers.get(path) ?? []), { method, handler, scope }]);
  }

  /** Who is asking, counted against their rate limit: UNAUTHENTICATED / RATE_LIMITED thrown to the route's catch. */
  async function caller(req: IncomingMessage): Promise<Principal> {
    const principal = (await authenticator.authenticate(req.headers))!;
    await limits.consume(principal);
    return principal;
  }

  const httpServer = createServer();
  const apollo = new ApolloServer<ReelfeedContext>({
    schema,
    includeStacktraceInErrorResponses: false,
    // The process owner (serve.ts) handles SIGINT/SIGTERM; Apollo's own handlers would race it and re-raise the signal.
    stopOnTerminationSignals: false,
    formatError: createFormatError({ log }),
    // On in development (the IDE introspects); in production only when auth.introspection says so. Explicit either
    // way: Apollo's own default follows NODE_ENV, which `reelfeed serve` sets to production for graphql-js's speed.
    introspection: config.auth.introspection ?? !production,
    // One operation per request: a batch would multiply the cost limit by the batch length.
    allowBatchedHttpRequests: false,
    plugins: [
      // Depth, aliases, scopes, acting-for and cost, decided before execution (src/auth/operation-guard.ts).
      createOperationGuardPlugin({ limits: config.limits.query, costInputs: { candidatesToRank: config.ranking.candidatesToRank } }),
      ApolloServerPluginLandingPageDisabled(),
      // The schema sets no cache hints; the default plugin would still wrap every field resolver to look for them.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: stopGracePeriodMs }),
      createMetricsPlugin(schema, metrics),
    ],
  });
  await apollo.start();

  async function graphql(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string, principal: Principal): Promise<void> {
    let body: unknown;
    if (req.method === "POST") {
      const raw = (await readBody(req, maxBody)).toString("utf8");
      if (/json/i.test(req.headers["content-type"] ?? "")) {
        try {
          body = JSON.parse(raw);
        } catch {
          return sendError(res, 400, "BAD_REQUEST", "request body is not valid JSON");
        }
      } else {
        body = raw;
      }
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: (req.method ?? "GET").toUpperCase(), headers, search: url.search, body },
      context: async () => createContext(graphqlServices, config, metrics, requestId, principal),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === "complete") {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  /**
   * Public: `{ ok }` (and `auth` when it is not enforced, so nobody mistakes a development server for a secured
   * one). With the admin scope (every caller of an open server has it): model, provider, backends, uptime.
   */
  async function healthRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const principal = await authenticator.authenticate(req.headers, { optional: true });
    const detailed = principal !== undefined && hasScope(principal, "admin");
    try {
      const report = await health();
      const backends = report.backends ?? {};
      const ok = Object.values(backends).every((b) => b.ok);
      const auth = authenticator.mode === "enforced" ? {} : { auth: authenticator.mode };
      if (!detailed) return sendJson(res, ok ? 200 : 503, { ok, ...auth });
      const shown = Object.fromEntries(
        Object.entries(backends).map(([name, b]) => [name, b.detail === undefined ? b : { ...b, detail: withoutPaths(b.detail) }]),
      );
      sendJson(res, ok ? 200 : 503, {
        ok,
        ...auth,
        modelVersion: report.modelVersion ?? null,
        executionProvider: report.executionProvider ?? null,
        backends: shown,
        uptimeSec: Math.round(process.uptime()),
      });
    } catch (err) {
      log("[reelfeed] health check failed:", err);
      sendJson(res, 503, { ok: false, error: "health check failed" });
    }
  }

  /** The route's label for metrics: a bounded set, never the raw path. */
  function routeLabel(path: string): string {
    if (path === "/" || path.startsWith(IDE_PREFIX)) return "/ide";
    if (path === DASHBOARD_PATH || path.startsWith(DASHBOARD_PREFIX)) return DASHBOARD_PATH;
    if (path === "/graphql" || path === "/health" || path === "/metrics" || handlers.has(path)) return path;
    return "not_found";
  }

  async function route(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const method = (req.method ?? "GET").toUpperCase();
    const isGet = method === "GET" || method === "HEAD";

    if (path === "/graphql") {
      const wantsHtml = /text\/html/.test(req.headers.accept ?? "") && !url.searchParams.has("query");
      if (isGet && wantsHtml) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(idePage);
        return;
      }
      // Who is asking comes before the body is read: an unauthenticated upload is never buffered.
      const principal = await caller(req);
      if (declaredTooLarge(req, maxBody)) throw tooLarge(maxBody);
      await graphql(req, res, url, requestId, principal);
      return;
    }
    if (path === "/" || path.startsWith(IDE_PREFIX) || path === "/health" || path === "/metrics") {
      if (!isGet) {
        sendError(res, 405, "METHOD_NOT_ALLOWED", `${method} not allowed on ${path}`, { allow: "GET, HEAD" });
        return;
      }
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(idePage);
        return;
      }
      if (path === "/health") {
        await healthRoute(req, res);
        return;
      }
      if (path === "/metrics") {
        requireScope(await caller(req), "admin", "/metrics");
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        res.end(metrics.registry.render());
        return;
      }
      const asset = await ideAsset(path);
      if (!asset) {
        sendError(res, 404, "NOT_FOUND", `no route ${path}`);
        return;
      }
      // Assets are versioned by the installed package; an hour of caching keeps reloads instant.
      res.writeHead(200, { "content-type": asset.contentType, "content-length": asset.body.length, "cache-control": "public, max-age=3600" });
      res.end(method === "HEAD" ? undefined : asset.body);
      return;
    }
    if (path === DASHBOARD_PATH || path.startsWith(DASHBOARD_PREFIX)) {
      if (!isGet) {
        sendError(res, 405, "METHOD_NOT_ALLOWED", `${method} not allowed on ${path}`, { allow: "GET, HEAD" });
        return;
      }
      // Public like the IDE page: static code with no data in it. Everything the dashboard shows comes through the
      // admin-scoped GraphQL fields and /health, with the key the operator types into the page.
      const asset = await dashboard.get(path);
      if (!asset) {
        sendError(res, 404, "NOT_FOUND", `no route ${path}`);
        return;
      }
      // No caching: the bundle is built from the installed sources, which an upgrade changes under the same URL.
      res.writeHead(200, { "content-type": asset.contentType, "content-length": asset.body.length, "cache-control": "no-cache", ...DASHBOARD_HEADERS });
      res.end(method === "HEAD" ? undefined : asset.body);
      return;
    }
    const candidates = handlers.get(path);
    if (candidates) {
      const match = candidates.find((h) => h.method === undefined || h.method === method);
      if (!match) {
        const allow = candidates.map((h) => h.method).join(", ");
        sendError(res, 405, "METHOD_NOT_ALLOWED", `${method} not allowed on ${path}`, { allow });
        return;
      }
      const principal = await caller(req);
      requireScope(principal, match.scope, `${method} ${path}`);
      if (declaredTooLarge(req, maxBody)) {
        // The handler answers its own 413 (a chunked body) as { error }, so this one must too. The body is not
        // read: close the connection rather than drain it.
        res.on("finish", () => req.destroy());
        sendJson(res, 413, { error: { code: "PAYLOAD_TOO_LARGE", message: tooLarge(maxBody).message } }, { connection: "close" });
        return;
      }
      await match.handler(req, res, principal);
      return;
    }
    sendError(res, 404, "NOT_FOUND", `no route ${path}`);
  }

  httpServer.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    res.setHeader("x-request-id", requestId);
    const label = routeLabel(new URL(req.url ?? "/", "http://localhost").pathname);
    res.on("finish", () => metrics.httpRequests.inc({ route: label, status: String(res.statusCode) }));
    route(req, res, requestId).catch((err: unknown) => {
      if (res.headersSent) {
        log(`[reelfeed] request ${requestId} failed after the response started:`, err);
        res.destroy();
        return;
      }
      if (err instanceof ReelfeedError && err.code === "PAYLOAD_TOO_LARGE") {
        // The rest of the body is not read: close the connection rather than drain an unbounded upload.
        res.on("finish", () => req.destroy());
        sendError(res, 413, err.code, err.message, { connection: "close" });
        return;
      }
      const status = err instanceof ReelfeedError ? CLIENT_STATUS[err.code] : undefined;
      if (err instanceof ReelfeedError && status !== undefined) {
        if (AUTH_STATUS[err.code] !== undefined) {
          // The scope a caller lacks, the seconds to wait: all public, all actionable.
          sendJson(res, status, { errors: [{ message: err.message, extensions: { ...err.details, code: err.code } }] }, authHeaders(err));
          return;
        }
        sendError(res, status, err.code, err.message);
        return;
      }
      log(`[reelfeed] request ${requestId} failed:`, err);
      sendError(res, 500, "INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE);
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(port, host, () => {
        httpServer.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await apollo.stop();
    authenticator.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw new ReelfeedError("UNAVAILABLE", `cannot listen on ${host}:${port}: ${code ?? (err as Error).message}`, { port });
  }
  const actualPort = (httpServer.address() as AddressInfo).port;
  const publicHost = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${publicHost}:${actualPort}/graphql`,
    port: actualPort,
    metrics,
    authMode: authenticator.mode,
    dashboard: { built: dashboard.built },
    // apollo.stop() runs the drain plugin: close the listener, let in-flight requests finish, then cut the rest.
    stop: () => (stopping ??= apollo.stop().finally(() => authenticator.close())),
  };
}
