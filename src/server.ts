import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, HeaderMap } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import type { GraphQLSchema } from "graphql";
import type { ReelfeedConfig } from "./config";
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

/** A plain node handler. It may return a promise; a rejection answers 500 with a generic message. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

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
    httpHandlers?: Record<string, HttpHandler>;
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
}

export interface RunningServer {
  /** The GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  port: number;
  metrics: ServerMetrics;
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
};

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
  } = options;
  const { httpHandlers = {}, ...graphqlServices } = services;
  const maxBody = config.server.maxBodyBytes;
  const schema = options.schema ?? (await buildReelfeedSchema());
  // The pipeline's feed service reports its session cache; another FeedService (a test double) may not.
  const feed = graphqlServices.feed as Partial<PipelineFeedService>;
  const metrics = createServerMetrics({ sessionsCached: typeof feed.stats === "function" ? () => feed.stats!().sessionsCached : undefined });
  const ideAsset = createIdeAssetCache();
  const idePage = renderIdePage();

  // Handlers are validated at start-up: a typo'd key or a clash with a built-in route fails here, not per request.
  const handlers = new Map<string, { method?: string; handler: HttpHandler }[]>();
  for (const [key, handler] of Object.entries(httpHandlers)) {
    const { method, path } = parseHandlerKey(key);
    if (RESERVED.has(path) || path.startsWith(IDE_PREFIX)) {
      throw new ReelfeedError("BAD_CONFIG", `httpHandlers "${key}": ${path} is a built-in route`, { key });
    }
    handlers.set(path, [...(handlers.get(path) ?? []), { method, handler }]);
  }

  const httpServer = createServer();
  const apollo = new ApolloServer<ReelfeedContext>({
    schema,
    includeStacktraceInErrorResponses: false,
    // The process owner (serve.ts) handles SIGINT/SIGTERM; Apollo's own handlers would race it and re-raise the signal.
    stopOnTerminationSignals: false,
    formatError: createFormatError({ log }),
    // Explicit, so a production NODE_ENV (which makes graphql-js skip its costly development checks) does not turn
    // it off: partners and the IDE introspect the public schema.
    introspection: true,
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      // The schema sets no cache hints; the default plugin would still wrap every field resolver to look for them.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: stopGracePeriodMs }),
      createMetricsPlugin(schema, metrics),
    ],
  });
  await apollo.start();

  async function graphql(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<void> {
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
      context: async () => createContext(graphqlServices, config, metrics, requestId),
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

  async function healthRoute(res: ServerResponse): Promise<void> {
    try {
      const report = await health();
      const backends = report.backends ?? {};
      const ok = Object.values(backends).every((b) => b.ok);
      sendJson(res, ok ? 200 : 503, {
        ok,
        modelVersion: report.modelVersion ?? null,
        executionProvider: report.executionProvider ?? null,
        backends,
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
      if (declaredTooLarge(req, maxBody)) throw tooLarge(maxBody);
      await graphql(req, res, url, requestId);
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
        await healthRoute(res);
        return;
      }
      if (path === "/metrics") {
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
    const candidates = handlers.get(path);
    if (candidates) {
      const match = candidates.find((h) => h.method === undefined || h.method === method);
      if (!match) {
        const allow = candidates.map((h) => h.method).join(", ");
        sendError(res, 405, "METHOD_NOT_ALLOWED", `${method} not allowed on ${path}`, { allow });
        return;
      }
      if (declaredTooLarge(req, maxBody)) {
        // The handler answers its own 413 (a chunked body) as { error }, so this one must too. The body is not
        // read: close the connection rather than drain it.
        res.on("finish", () => req.destroy());
        sendJson(res, 413, { error: { code: "PAYLOAD_TOO_LARGE", message: tooLarge(maxBody).message } }, { connection: "close" });
        return;
      }
      await match.handler(req, res);
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
    // apollo.stop() runs the drain plugin: close the listener, let in-flight requests finish, then cut the rest.
    stop: () => (stopping ??= apollo.stop()),
  };
}
