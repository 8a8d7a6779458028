import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { eventsRoute } from "../../src/app/serve";
import { generateApiKey, hashApiKey, type ApiKeyRecord } from "../../src/auth/api-keys";
import { writeKeyFile } from "../../src/auth/key-file";
import type { Scope } from "../../src/auth/scopes";
import { configSchema } from "../../src/config";
import { createIngestor } from "../../src/events/ingest";
import type { FeedService } from "../../src/pipeline/feed-page";
import { startServer, type BackendHealth, type RunningServer } from "../../src/server";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { createTestkit, type Testkit } from "../../src/testkit";

/**
 * A real server (testkit pipeline, file event log, the production /events route) behind real auth: a keys file
 * with one key per named scope set, HS256 user tokens (test/auth/tokens.ts), and the config overrides a test needs.
 * The same wiring as test/integration/graphql-server.test.ts, with auth switched on.
 */
export interface AuthServer {
  server: RunningServer;
  base: string;
  kit: Testkit;
  log: FileEventLog;
  keysFile: string;
  /** Plain keys by name, as `keys` was given. */
  keys: Record<string, string>;
  /** How many times the feed service ranked a feed (to prove refused requests never reached it). */
  feedCalls: () => number;
  warnings: string[];
  stop(): Promise<void>;
}

export interface AuthServerOptions {
  /** name → scopes; each gets a fresh key (or the one in `plainKeys`, to share keys between replicas). */
  keys: Record<string, Scope[]>;
  plainKeys?: Record<string, string>;
  /** Merged into the config (auth.keysFile is set for you). */
  config?: Record<string, unknown>;
  production?: boolean;
  redis?: Redis;
  backends?: Record<string, BackendHealth>;
}

export async function startAuthServer(options: AuthServerOptions): Promise<AuthServer> {
  const dir = await mkdtemp(join(tmpdir(), "rf-auth-server-"));
  const keysFile = join(dir, "keys.json");
  const keys: Record<string, string> = {};
  const records: ApiKeyRecord[] = [];
  for (const [name, scopes] of Object.entries(options.keys)) {
    keys[name] = options.plainKeys?.[name] ?? generateApiKey();
    records.push({ id: name, hash: hashApiKey(keys[name]), scopes });
  }
  await writeKeyFile(keysFile, records);
  const kit = createTestkit();
  const log = await createFileEventLog({ dir: join(dir, "events") });
  const ingestor = createIngestor({ log, maxBatch: 100 });
  let calls = 0;
  const feed: FeedService = {
    feed: async (r) => {
      calls++;
      return kit.service.feed(r);
    },
    similarVideos: (id, n) => kit.service.similarVideos(id, n),
    trending: (c, n) => kit.service.trending(c, n),
  };
  const raw = options.config ?? {};
  const config = configSchema.parse({
    ...raw,
    server: { maxPageSize: 50, maxBodyBytes: 50_000, ...(raw.server as object) },
    auth: { keysFile, keysReloadMs: 50, ...(raw.auth as object) },
  });
  const warnings: string[] = [];
  const server = await startServer({
    services: { feed, catalog: kit.catalog, ingestor, httpHandlers: { "/events": eventsRoute(ingestor, config) } },
    config,
    port: 0,
    host: "127.0.0.1",
    production: options.production ?? true,
    redis: options.redis,
    health: () => ({ modelVersion: "testkit", executionProvider: "cpu", backends: options.backends ?? { eventLog: { ok: true, kind: "file", detail: "var/events" } } }),
    log: () => {},
    warn: (m) => void warnings.push(m),
  });
  return {
    server,
    base: server.url.replace(/\/graphql$/, ""),
    kit,
    log,
    keysFile,
    keys,
    feedCalls: () => calls,
    warnings,
    async stop() {
      await server.stop();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
