import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { catalogRoute } from "../../src/app/serve";
import { openLiveCatalog, type LiveCatalog } from "../../src/catalog/live-catalog";
import { configSchema, type ReelfeedConfig } from "../../src/config";
import { fitContentModel, type ContentModel } from "../../src/features/content-embeddings";
import { startServer, type RunningServer } from "../../src/server";
import { createTestkit, TESTKIT_NOW, type Testkit } from "../../src/testkit";

/**
 * The live catalogue over a testkit runtime (in-memory catalog, embedded vector indexes, the real pipeline): the
 * real catalogue log in a temporary folder, the real applier with a content model fitted on the testkit's catalog,
 * the real writer, and the server's real routes (GraphQL mutations, POST /catalog). No bundle, so no video tower:
 * the two-tower side is covered by test/integration/live-catalog.test.ts over a trained bundle.
 */
export interface CatalogHarness {
  dir: string;
  config: ReelfeedConfig;
  kit: Testkit;
  live: LiveCatalog;
  contentModel: ContentModel;
  server: RunningServer;
  base: string;
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: { data?: T; errors?: any[] } }>;
  ndjson(lines: string[], headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** Closes the log and the server (keeps the folder unless `remove`). */
  stop(remove?: boolean): Promise<void>;
}

export const CONTENT_DIM = 8;

export async function startCatalogHarness(options: { dir?: string; config?: Record<string, unknown> } = {}): Promise<CatalogHarness> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "rf-catalog-")));
  const config = configSchema.parse({ paths: { varDir: dir }, server: { host: "127.0.0.1", maxEventBatch: 50 }, ...options.config });
  const kit = createTestkit();
  const { model: contentModel } = fitContentModel(kit.catalog.newest(), { dim: CONTENT_DIM, minDf: 1 });
  const live = await openLiveCatalog({ config, catalog: kit.catalog, vectors: kit.runtime.vectors, contentModel, pollMs: 10 });
  await live.start(10_000);
  const server = await startServer({
    services: { feed: kit.service, catalog: kit.catalog, catalogWriter: live.writer, httpHandlers: { "/catalog": catalogRoute(live.writer, config) } },
    config,
    port: 0,
    production: false,
    log: () => {},
    warn: () => {},
  });
  const base = server.url.replace(/\/graphql$/, "");
  return {
    dir,
    config,
    kit,
    live,
    contentModel,
    server,
    base,
    async gql(query, variables, headers = {}) {
      const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query, variables }) });
      return { status: res.status, body: (await res.json()) as any };
    },
    async ndjson(lines, headers = {}) {
      const res = await fetch(`${base}/catalog`, { method: "POST", headers: { "content-type": "application/x-ndjson", ...headers }, body: lines.join("\n") });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // left as text
      }
      return { status: res.status, body, headers: res.headers };
    },
    async stop(remove = true) {
      await server.stop();
      await live.close();
      if (remove) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A valid VideoInput uploaded a minute before the testkit's "now". */
export function videoInput(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    creatorId: "c1",
    title: "comedy sketch with music",
    tags: ["comedy", "music"],
    category: "comedy",
    language: "en",
    durationSec: 120,
    uploadedAt: TESTKIT_NOW - 60_000,
    updatedAt: Date.now(),
    ...extra,
  };
}

export const UPSERT_VIDEOS = `mutation($v: [VideoInput!]!) { upsertVideos(videos: $v) { accepted duplicates stale rejected results { index id status code field message } } }`;
export const REMOVE_VIDEOS = `mutation($ids: [ID!]!, $r: String!) { removeVideos(ids: $ids, reason: $r) { accepted duplicates stale rejected results { index id status code field message } } }`;
export const UPSERT_USERS = `mutation($u: [UserInput!]!) { upsertUsers(users: $u) { accepted duplicates stale rejected results { index id status code field message } } }`;
export const UPSERT_CREATORS = `mutation($c: [CreatorInput!]!) { upsertCreators(creators: $c) { accepted duplicates stale rejected results { index id status code field message } } }`;
