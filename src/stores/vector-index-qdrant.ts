import { createHash } from "node:crypto";
import { QdrantClient } from "@qdrant/js-client-rest";
import { badInput, ReelfeedError, type ReelfeedErrorCode } from "../errors";
import { isRetryable, messageOf } from "./backend-errors";
import type { VectorHit, VectorIndex, VectorSearchOptions } from "./vector-index";
import { checkVectorArgs } from "./vector-index-embedded";

/**
 * Options for the Qdrant-backed vector index. One collection per index, created on start when missing with
 * `{ size: dim, distance: "Dot" }` (scores are inner products, as in the embedded index). Qdrant point ids must be
 * unsigned integers or UUIDs, so each string id maps to a deterministic UUID (v5 over the id) and the original id
 * is kept in the point's payload under `reelfeed_id`.
 *
 * Production behaviour (targets Qdrant 1.10 – 1.15, REST API; docs/stores.md):
 * - The URL is parsed into host, port, TLS and path prefix: `https://vectors.example.com/qdrant` is port 443 under
 *   `/qdrant` (an ingress), `http://host` port 80; write the port when it is Qdrant's own (`http://host:6333`).
 * - Writes go in batches of `batchSize` (256) with `concurrency` (4) in flight; each batch is retried on retryable
 *   failures (timeouts, connection errors, 5xx, 429) with exponential back-off and jitter, waiting at least the
 *   server's `Retry-After` on a 429. Upserts and deletes are by deterministic id, so a retried batch is idempotent.
 * - Every request has a client-side timeout (`timeoutMs` for writes and administration, `searchTimeoutMs` for
 *   searches, also sent as Qdrant's own `timeout` so the server stops working on an abandoned search).
 * - Errors follow backend-errors.ts: retryable ones are UNAVAILABLE (RATE_LIMITED for a 429 that outlasted the
 *   retries, with `retryAfterSec`); a 4xx is permanent and says the server's reason: 401/403 BAD_CONFIG (the API
 *   key), 404 NOT_FOUND, 400/422 BAD_USER_INPUT, others INTERNAL — none is retried.
 * - Versioned collections (`alias` + `version`): the collection is `{alias}_v_{version}`; `activate()` points the
 *   alias at it in one atomic alias update and deletes superseded versions, keeping the one the alias pointed to
 *   before (a rolling deploy still serves from it) unless `keepPrevious` is 0.
 */
export interface QdrantVectorIndexOptions {
  /** e.g. http://localhost:6333, https://vectors.example.com/qdrant (port 443, prefix /qdrant) */
  url: string;
  /** Sent as the api-key header. @default undefined */
  apiKey?: string;
  /** Collection name; created when missing. With `version`, the alias the versioned collection is activated under. */
  collection: string;
  /** Bundle version: the collection becomes `{collection}_v_{version}` (see `activate`). @default undefined */
  version?: string;
  /** Superseded versioned collections kept by `activate` besides the active one. @default 1 */
  keepPrevious?: number;
  /** Vector length. An existing collection with another size fails start-up with BAD_CONFIG. */
  dim: number;
  /** Points per upsert/delete request, 1–1000. @default 256 */
  batchSize?: number;
  /** Write requests in flight at once. @default 4 */
  concurrency?: number;
  /** Tries of one request on retryable failures (writes and administration; a search is tried once). @default 5 */
  maxAttempts?: number;
  /** First back-off, ms; doubles per try (with jitter), at least a 429's Retry-After. @default 200 */
  backoffMs?: number;
  /** Per-request timeout for writes and administration, ms. @default 30000 */
  timeoutMs?: number;
  /** Per-request timeout for searches, ms (also sent to the server as its own timeout, rounded up to 1 s). @default 1000 */
  searchTimeoutMs?: number;
  /** Waits between retries (tests). @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

/** What `parseQdrantUrl` makes of backends.qdrantUrl. */
export interface QdrantEndpoint {
  host: string;
  port: number;
  https: boolean;
  /** Path prefix ("" or "/qdrant"), no trailing slash. */
  prefix: string;
}

/**
 * Splits a Qdrant URL into what the client takes separately (its own `url` parsing drops the path and defaults the
 * port to 6333, which breaks TLS ingresses on 443). Credentials in the URL are refused: use backends.qdrantApiKey.
 */
export function parseQdrantUrl(url: string): QdrantEndpoint {
  const bad = (why: string): ReelfeedError =>
    new ReelfeedError("BAD_CONFIG", `backends.qdrantUrl: "${url}" ${why}`, { key: "backends.qdrantUrl", retryable: false });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("is not a URL (expected http[s]://host[:port][/prefix])");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw bad(`has protocol ${u.protocol} (expected http: or https:)`);
  if (u.username || u.password) throw bad("carries credentials: set backends.qdrantApiKey (QDRANT_API_KEY) instead");
  if (u.search || u.hash) throw bad("has a query or fragment");
  const https = u.protocol === "https:";
  const prefix = u.pathname.replace(/\/+$/, "");
  return { host: u.hostname, port: u.port ? Number(u.port) : https ? 443 : 80, https, prefix };
}

/** A Qdrant index; `activate` exists when it was opened with a `version`. */
export interface QdrantVectorIndex extends VectorIndex {
  readonly kind: "qdrant";
  /** The concrete collection this index reads and writes. */
  readonly collectionName: string;
  /** Points the alias at this version's collection and removes superseded versions; returns the ones removed. */
  activate(): Promise<string[]>;
}

/** Payload key holding the caller's id. */
export const QDRANT_ID_KEY = "reelfeed_id";

/** RFC 4122 namespace for reelfeed ids (a fixed random UUID): the same id maps to the same point everywhere. */
const ID_NAMESPACE = Buffer.from("5b0f6a9e3c1d4f2a8e7b9c0d1e2f3a4b", "hex");

/** Deterministic UUID (version 5: SHA-1 of namespace + id) for a string id. */
export function qdrantPointId(id: string): string {
  const hash = createHash("sha1").update(ID_NAMESPACE).update(id, "utf8").digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The versioned collection's name: the alias, `_v_`, the version with anything but [A-Za-z0-9_-] as "_". */
export const versionedCollection = (alias: string, version: string): string => `${alias}_v_${version.replace(/[^A-Za-z0-9_-]/g, "_")}`;

/**
 * Maps what the Qdrant client throws onto the error model (backend-errors.ts). `where` names server and operation.
 * The server's reason for a 4xx is in the body (`{ status: { error } }`), which the client keeps in `data`.
 */
export function qdrantError(where: string, err: unknown, timeoutMs?: number, context: Record<string, unknown> = {}): ReelfeedError {
  if (err instanceof ReelfeedError) return err;
  const mapped = mapQdrantError(where, err, timeoutMs);
  Object.assign(mapped.details, context);
  return mapped;
}

function mapQdrantError(where: string, err: unknown, timeoutMs?: number): ReelfeedError {
  const e = err as { name?: string; status?: number; statusText?: string; data?: unknown; headers?: Headers; retry_after?: number };
  const reason = serverReason(e.data) ?? e.statusText ?? messageOf(err);
  if (e.name === "QdrantClientResourceExhaustedError" || e.status === 429) {
    const header = e.headers?.get?.("retry-after");
    const retryAfterSec = typeof e.retry_after === "number" ? e.retry_after : header != null && Number.isFinite(Number(header)) ? Number(header) : undefined;
    return new ReelfeedError("RATE_LIMITED", `${where}: rate limited by the server (429${retryAfterSec === undefined ? "" : `, retry after ${retryAfterSec} s`}): ${reason}`, {
      status: 429,
      retryAfterSec,
      retryable: true,
    });
  }
  if (e.name === "QdrantClientTimeoutError" || e.name === "AbortError" || e.name === "TimeoutError") {
    return new ReelfeedError("UNAVAILABLE", `${where}: no answer within ${timeoutMs ?? "the"} ms`, { retryable: true, timeout: true });
  }
  const status = typeof e.status === "number" ? e.status : undefined;
  if (status !== undefined && status >= 400 && status < 500 && status !== 408) {
    const code: ReelfeedErrorCode = status === 401 || status === 403 ? "BAD_CONFIG" : status === 404 ? "NOT_FOUND" : status === 400 || status === 422 ? "BAD_USER_INPUT" : "INTERNAL";
    const hint = code === "BAD_CONFIG" ? " (check backends.qdrantApiKey)" : "";
    return new ReelfeedError(code, `${where}: refused with ${status}${hint}: ${reason}`, { status, retryable: false, key: code === "BAD_CONFIG" ? "backends.qdrantApiKey" : undefined });
  }
  if (e.name === "QdrantClientUnexpectedResponseError") {
    // A 2xx/3xx the client does not take as success: the request reached the server and will get the same answer.
    return new ReelfeedError("INTERNAL", `${where}: unexpected response: ${messageOf(err).split("\n")[0]}`, { retryable: false });
  }
  // 5xx, 408, and whatever fetch throws (connection refused or reset, DNS): the server may answer later.
  return new ReelfeedError("UNAVAILABLE", `${where}: ${status === undefined ? describe(err) : `${status}: ${reason}`}`, { status, retryable: true });
}

function serverReason(data: unknown): string | undefined {
  const error = (data as { status?: { error?: unknown } } | undefined)?.status?.error;
  return typeof error === "string" ? error : undefined;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function createQdrantVectorIndex(options: QdrantVectorIndexOptions): Promise<QdrantVectorIndex> {
  const {
    url,
    apiKey,
    collection: alias,
    version,
    keepPrevious = 1,
    dim,
    batchSize = 256,
    concurrency = 4,
    maxAttempts = 5,
    backoffMs = 200,
    timeoutMs = 30_000,
    searchTimeoutMs = 1000,
    sleep = defaultSleep,
  } = options;
  if (!Number.isInteger(dim) || dim <= 0) throw badInput("dim", `expected a positive integer, got ${dim}`);
  if (!/^[A-Za-z0-9_-]+$/.test(alias)) throw badInput("collection", `expected letters, digits, "_" or "-", got "${alias}"`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) throw badInput("batchSize", `expected an integer in 1…1000, got ${batchSize}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw badInput("concurrency", `expected a positive integer, got ${concurrency}`);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw badInput("maxAttempts", `expected a positive integer, got ${maxAttempts}`);
  const endpoint = parseQdrantUrl(url);
  const collection = version === undefined ? alias : versionedCollection(alias, version);
  const server = `qdrant ${endpoint.https ? "https" : "http"}://${endpoint.host}:${endpoint.port}${endpoint.prefix}`;

  // Two clients: writes and administration may take long (a batch under load), a search must give up inside the
  // request budget (an abandoned one would hold a pool connection until its timeout).
  const makeClient = (timeout: number): QdrantClient =>
    new QdrantClient({
      host: endpoint.host,
      port: endpoint.port,
      https: endpoint.https,
      prefix: endpoint.prefix || undefined,
      apiKey,
      timeout,
      // The compatibility check would fire an unawaited request whose failure only logs a warning: start-up below
      // already proves the server answers.
      checkCompatibility: false,
    });
  let admin: QdrantClient;
  let searcher: QdrantClient;
  try {
    admin = makeClient(timeoutMs);
    searcher = makeClient(searchTimeoutMs);
  } catch (err) {
    throw new ReelfeedError("BAD_CONFIG", `backends.qdrantUrl: cannot use "${url}": ${describe(err)}`, { key: "backends.qdrantUrl", retryable: false });
  }

  /** One request with retries on retryable failures: exponential back-off with jitter, at least a 429's Retry-After. */
  const withRetry = async <T>(op: string, run: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (raw) {
        const err = qdrantError(`${server}: ${op} on "${collection}"`, raw, timeoutMs, { url, collection, op });
        if (!isRetryable(err) || attempt >= maxAttempts) throw err;
        const retryAfterMs = 1000 * (Number(err.details.retryAfterSec) || 0);
        const backoff = backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
        await sleep(Math.max(backoff, retryAfterMs));
      }
    }
  };

  /** Runs `batches` with at most `concurrency` in flight; the first failure stops scheduling and is thrown. */
  const inParallel = async <B>(batches: readonly B[], run: (batch: B) => Promise<unknown>): Promise<void> => {
    let next = 0;
    let failed: unknown;
    const worker = async (): Promise<void> => {
      while (failed === undefined && next < batches.length) {
        const batch = batches[next++];
        try {
          await run(batch);
        } catch (err) {
          failed ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    if (failed !== undefined) throw failed;
  };

  const chunks = <T>(items: readonly T[]): T[][] => {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += batchSize) out.push(items.slice(i, i + batchSize));
    return out;
  };

  const ensureCollection = async (): Promise<void> => {
    const { exists } = await withRetry("collectionExists", () => admin.collectionExists(collection));
    if (!exists) {
      try {
        await admin.createCollection(collection, { vectors: { size: dim, distance: "Dot" } });
        return;
      } catch (err) {
        // Another process may have created it between the check and the create: fall through and verify.
        const { exists: nowExists } = await withRetry("collectionExists", () => admin.collectionExists(collection));
        if (!nowExists) throw qdrantError(`${server}: createCollection "${collection}"`, err, timeoutMs, { url, collection, op: "createCollection" });
      }
    }
    const info = await withRetry("getCollection", () => admin.getCollection(collection));
    const vectors = info.config.params.vectors as { size?: number; distance?: string } | undefined;
    if (vectors?.size !== dim || vectors.distance !== "Dot") {
      throw new ReelfeedError(
        "BAD_CONFIG",
        `${server}: collection "${collection}" holds vectors ${JSON.stringify(vectors)}, expected { size: ${dim}, distance: "Dot" }`,
        { url, collection, retryable: false },
      );
    }
  };
  await ensureCollection();

  let closed = false;
  const assertOpen = () => {
    if (closed) throw new ReelfeedError("UNAVAILABLE", `${server}: vector index "${collection}" is closed`, { url, collection });
  };

  return {
    kind: "qdrant",
    dim,
    collectionName: collection,

    async upsert(items) {
      assertOpen();
      checkVectorArgs.items(items, dim);
      // A repeated id in one batch keeps its last vector, as in the embedded index.
      const latest = new Map<string, Float32Array>();
      for (const item of items) latest.set(item.id, item.vector);
      const points = [...latest].map(([id, vector]) => ({
        id: qdrantPointId(id),
        vector: Array.from(vector),
        payload: { [QDRANT_ID_KEY]: id },
      }));
      await inParallel(chunks(points), (batch) => withRetry("upsert", () => admin.upsert(collection, { wait: true, points: batch })));
    },

    async search(vector, k, options: VectorSearchOptions = {}) {
      assertOpen();
      options.signal?.throwIfAborted();
      checkVectorArgs.vector("vector", vector, dim);
      checkVectorArgs.k(k);
      if (k === 0) return [];
      const excluded = options.excludeIds ? [...options.excludeIds].map(qdrantPointId) : [];
      let response: Awaited<ReturnType<QdrantClient["query"]>>;
      try {
        response = await searcher.query(collection, {
          query: Array.from(vector),
          limit: k,
          // Excluding server-side keeps the hit count at k whenever enough other points exist.
          filter: excluded.length > 0 ? { must_not: [{ has_id: excluded }] } : undefined,
          with_payload: [QDRANT_ID_KEY],
          with_vector: false,
          // The server's own limit (whole seconds): it stops a search nobody waits for any more.
          timeout: Math.max(1, Math.ceil(searchTimeoutMs / 1000)),
        });
      } catch (err) {
        // Tried once: the caller's budget (the source's timeout) has no room for a retry.
        throw qdrantError(`${server}: query on "${collection}"`, err, searchTimeoutMs, { url, collection, op: "query" });
      }
      options.signal?.throwIfAborted();
      return response.points
        .map((p): VectorHit => ({ id: originalId(p.payload, p.id), score: p.score }))
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async get(id) {
      assertOpen();
      const records = await withRetry("retrieve", () => admin.retrieve(collection, { ids: [qdrantPointId(id)], with_vector: true, with_payload: false }));
      const vector = records[0]?.vector;
      if (!Array.isArray(vector)) return undefined;
      return Float32Array.from(vector as number[]);
    },

    async delete(ids) {
      assertOpen();
      await inParallel(chunks(ids.map(qdrantPointId)), (batch) => withRetry("delete", () => admin.delete(collection, { wait: true, points: batch })));
    },

    async size() {
      assertOpen();
      const { count } = await withRetry("count", () => admin.count(collection, { exact: true }));
      return count;
    },

    async activate() {
      assertOpen();
      if (version === undefined) return [];
      // `{alias}_previous` remembers the version the alias pointed to before, so a restart of this version (alias
      // already here) still keeps it for replicas that serve it during a rolling deploy.
      const previousAlias = `${alias}_previous`;
      const { aliases } = await withRetry("getAliases", () => admin.getAliases());
      const target = (name: string) => aliases.find((a) => a.alias_name === name)?.collection_name;
      const current = target(alias);
      let previous = target(previousAlias);
      if (current !== collection) {
        const actions: Array<Record<string, unknown>> = [];
        if (current !== undefined) actions.push({ delete_alias: { alias_name: alias } });
        actions.push({ create_alias: { collection_name: collection, alias_name: alias } });
        if (previous !== undefined) actions.push({ delete_alias: { alias_name: previousAlias } });
        if (current !== undefined) actions.push({ create_alias: { collection_name: current, alias_name: previousAlias } });
        previous = current;
        // One request, applied atomically by the server: readers of the alias never see it missing.
        await withRetry("updateCollectionAliases", () =>
          admin.updateCollectionAliases({ actions: actions as Parameters<QdrantClient["updateCollectionAliases"]>[0]["actions"] }),
        );
      }
      const { collections } = await withRetry("getCollections", () => admin.getCollections());
      const keep = new Set([collection, ...(keepPrevious > 0 && previous !== undefined ? [previous] : [])]);
      const superseded = collections.map((c) => c.name).filter((name) => name.startsWith(`${alias}_v_`) && !keep.has(name));
      for (const name of superseded) await withRetry(`deleteCollection ${name}`, () => admin.deleteCollection(name));
      return superseded;
    },

    async close() {
      // The REST client holds no connection that needs closing; later calls are refused.
      closed = true;
    },
  };
}

function originalId(payload: Record<string, unknown> | null | undefined, pointId: string | number): string {
  const id = payload?.[QDRANT_ID_KEY];
  return typeof id === "string" ? id : String(pointId);
}

/** Error text with its cause: fetch failures say only "fetch failed" and keep ECONNREFUSED in `cause`. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? ` (${(cause as { code?: string }).code ?? cause.message})` : "";
  return `${err.message.split("\n")[0]}${causeText}`;
}
