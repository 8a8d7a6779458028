import { createHash } from "node:crypto";
import { QdrantClient } from "@qdrant/js-client-rest";
import { badInput, ReelfeedError } from "../errors";
import type { VectorHit, VectorIndex, VectorSearchOptions } from "./vector-index";
import { checkVectorArgs } from "./vector-index-embedded";

/**
 * Options for the Qdrant-backed vector index. One collection per index, created on start when missing with
 * `{ size: dim, distance: "Dot" }` (scores are inner products, as in the embedded index). Qdrant point ids must be
 * unsigned integers or UUIDs, so each string id maps to a deterministic UUID (v5 over the id) and the original id
 * is kept in the point's payload under `reelfeed_id`.
 */
export interface QdrantVectorIndexOptions {
  /** e.g. http://localhost:6333 */
  url: string;
  /** Sent as the api-key header. @default undefined */
  apiKey?: string;
  /** Collection name; created when missing. */
  collection: string;
  /** Vector length. An existing collection with another size fails start-up with BAD_CONFIG. */
  dim: number;
  /** Points per upsert/delete request. @default 1000 */
  batchSize?: number;
  /** Per-request timeout, ms. @default 10000 */
  timeoutMs?: number;
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

export async function createQdrantVectorIndex(options: QdrantVectorIndexOptions): Promise<VectorIndex> {
  const { url, apiKey, collection, dim, batchSize = 1000, timeoutMs = 10_000 } = options;
  if (!Number.isInteger(dim) || dim <= 0) throw badInput("dim", `expected a positive integer, got ${dim}`);
  if (!/^[A-Za-z0-9_-]+$/.test(collection)) throw badInput("collection", `expected letters, digits, "_" or "-", got "${collection}"`);

  const fail = (op: string, err: unknown): ReelfeedError => {
    if (err instanceof ReelfeedError) return err;
    const status = (err as { status?: number })?.status;
    const message = describe(err);
    if (status === 401 || status === 403) {
      return new ReelfeedError("BAD_CONFIG", `qdrant ${url}: ${op} refused (${status}): check backends.qdrantApiKey`, {
        url,
        key: "backends.qdrantApiKey",
      });
    }
    return new ReelfeedError("UNAVAILABLE", `qdrant ${url}: ${op} on collection "${collection}" failed: ${message}`, {
      url,
      collection,
      op,
      status,
    });
  };

  let client: QdrantClient;
  try {
    // The compatibility check would fire an unawaited request whose failure only logs a warning: start-up below
    // already proves the server answers.
    client = new QdrantClient({ url, apiKey, timeout: timeoutMs, checkCompatibility: false });
  } catch (err) {
    throw new ReelfeedError("BAD_CONFIG", `backends.qdrantUrl: cannot use "${url}": ${describe(err)}`, { key: "backends.qdrantUrl" });
  }

  const call = async <T>(op: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw fail(op, err);
    }
  };

  const ensureCollection = async (): Promise<void> => {
    const { exists } = await call("collectionExists", () => client.collectionExists(collection));
    if (!exists) {
      try {
        await client.createCollection(collection, { vectors: { size: dim, distance: "Dot" } });
        return;
      } catch (err) {
        // Another process may have created it between the check and the create: fall through and verify.
        const { exists: nowExists } = await call("collectionExists", () => client.collectionExists(collection));
        if (!nowExists) throw fail("createCollection", err);
      }
    }
    const info = await call("getCollection", () => client.getCollection(collection));
    const vectors = info.config.params.vectors as { size?: number; distance?: string } | undefined;
    if (vectors?.size !== dim || vectors.distance !== "Dot") {
      throw new ReelfeedError(
        "BAD_CONFIG",
        `qdrant ${url}: collection "${collection}" holds vectors ${JSON.stringify(vectors)}, expected { size: ${dim}, distance: "Dot" }`,
        { url, collection },
      );
    }
  };
  await ensureCollection();

  let closed = false;
  const assertOpen = () => {
    if (closed) throw new ReelfeedError("UNAVAILABLE", `qdrant ${url}: vector index "${collection}" is closed`, { url, collection });
  };

  return {
    kind: "qdrant",
    dim,

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
      for (let i = 0; i < points.length; i += batchSize) {
        const batch = points.slice(i, i + batchSize);
        await call("upsert", () => client.upsert(collection, { wait: true, points: batch }));
      }
    },

    async search(vector, k, options: VectorSearchOptions = {}) {
      assertOpen();
      options.signal?.throwIfAborted();
      checkVectorArgs.vector("vector", vector, dim);
      checkVectorArgs.k(k);
      if (k === 0) return [];
      const excluded = options.excludeIds ? [...options.excludeIds].map(qdrantPointId) : [];
      const response = await call("query", () =>
        client.query(collection, {
          query: Array.from(vector),
          limit: k,
          // Excluding server-side keeps the hit count at k whenever enough other points exist.
          filter: excluded.length > 0 ? { must_not: [{ has_id: excluded }] } : undefined,
          with_payload: [QDRANT_ID_KEY],
          with_vector: false,
        }),
      );
      options.signal?.throwIfAborted();
      return response.points
        .map((p): VectorHit => ({ id: originalId(p.payload, p.id), score: p.score }))
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async get(id) {
      assertOpen();
      const records = await call("retrieve", () =>
        client.retrieve(collection, { ids: [qdrantPointId(id)], with_vector: true, with_payload: false }),
      );
      const vector = records[0]?.vector;
      if (!Array.isArray(vector)) return undefined;
      return Float32Array.from(vector as number[]);
    },

    async delete(ids) {
      assertOpen();
      const points = ids.map(qdrantPointId);
      for (let i = 0; i < points.length; i += batchSize) {
        const batch = points.slice(i, i + batchSize);
        await call("delete", () => client.delete(collection, { wait: true, points: batch }));
      }
    },

    async size() {
      assertOpen();
      const { count } = await call("count", () => client.count(collection, { exact: true }));
      return count;
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
