import type { ReelfeedConfig } from "../config";
import { badInput } from "../errors";
import type { GraphStore } from "./graph-store";
import { createEmbeddedGraphStore, type EmbeddedGraphStoreOptions } from "./graph-store-embedded";
import { createNeo4jGraphStore } from "./graph-store-neo4j";
import type { VectorIndex } from "./vector-index";
import {
  createEmbeddedVectorIndex,
  type EmbeddedVectorIndex,
  type EmbeddedVectorIndexOptions,
} from "./vector-index-embedded";
import { createQdrantVectorIndex, type QdrantVectorIndex } from "./vector-index-qdrant";

/** Which vector index to open. The backend comes from config: Qdrant when `backends.qdrantUrl` is set. */
export interface OpenVectorIndexOptions {
  /** Logical index name ("videos", "content"); the Qdrant collection is `reelfeed_<name>`. */
  name: string;
  /** Vector length. */
  dim: number;
  /**
   * The bundle version the vectors come from. On Qdrant the collection is `reelfeed_<name>_v_<version>` and
   * `activateVectorIndex` points the alias `reelfeed_<name>` at it (superseded versions removed). @default undefined
   */
  version?: string;
  /** Tuning for the embedded index (ignored on Qdrant). @default {} */
  embedded?: Omit<EmbeddedVectorIndexOptions, "dim">;
}

/** Embedded unless `backends.qdrantUrl` is configured; a configured but unreachable Qdrant fails with UNAVAILABLE. */
export async function openVectorIndex(config: ReelfeedConfig, options: OpenVectorIndexOptions): Promise<VectorIndex> {
  const { name, dim, version, embedded = {} } = options;
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw badInput("name", `expected letters, digits, "_" or "-", got "${name}"`);
  const { qdrantUrl, qdrantApiKey } = config.backends;
  if (qdrantUrl) {
    // A search nobody waits for any more should not hold a pool connection: give up with the slowest source's
    // budget (pipeline.sources[].timeoutMs; a source has already failed open by then).
    const searchTimeoutMs = Math.max(50, ...config.pipeline.sources.map((s) => s.timeoutMs));
    return createQdrantVectorIndex({ url: qdrantUrl, apiKey: qdrantApiKey, collection: `reelfeed_${name}`, version, dim, searchTimeoutMs });
  }
  return createEmbeddedVectorIndex({ ...embedded, dim });
}

/** Embedded unless `backends.neo4jUri` is configured. Scoring options apply to both backends. */
export async function openGraphStore(
  config: ReelfeedConfig,
  options: Pick<EmbeddedGraphStoreOptions, "kindWeights" | "halfLifeMs" | "maxEngagementsPerUser"> = {},
): Promise<GraphStore> {
  const { neo4jUri, neo4jUser, neo4jPassword, neo4jDatabase, neo4jLabelPrefix, neo4jEngagementRetentionDays } = config.backends;
  if (neo4jUri) {
    return createNeo4jGraphStore({
      uri: neo4jUri,
      user: neo4jUser,
      password: neo4jPassword,
      database: neo4jDatabase,
      labelPrefix: neo4jLabelPrefix,
      engagementRetentionMs: neo4jEngagementRetentionDays * 86_400_000,
      kindWeights: options.kindWeights,
      halfLifeMs: options.halfLifeMs,
    });
  }
  return createEmbeddedGraphStore(options);
}

/**
 * Once this version's vectors are loaded: on a versioned Qdrant index, points the alias at its collection and
 * removes superseded versions (keeping the previous one for replicas still serving it); nothing elsewhere.
 * Returns the collections removed.
 */
export async function activateVectorIndex(index: VectorIndex): Promise<string[]> {
  const q = index as Partial<QdrantVectorIndex>;
  return index.kind === "qdrant" && typeof q.activate === "function" ? q.activate() : [];
}

export function isEmbeddedVectorIndex(index: VectorIndex): index is EmbeddedVectorIndex {
  return index.kind === "embedded" && typeof (index as Partial<EmbeddedVectorIndex>).bulkLoad === "function";
}

/**
 * Loads a row-major `ids.length × dim` matrix (a bundle's embeddings) into any index: one bulk copy on the embedded
 * index, batched upserts of views into the matrix elsewhere.
 */
export async function loadVectors(
  index: VectorIndex,
  ids: readonly string[],
  matrix: Float32Array,
  options: { batchSize?: number } = {},
): Promise<void> {
  const { batchSize = 1000 } = options;
  if (isEmbeddedVectorIndex(index)) {
    index.bulkLoad(ids, matrix);
    return;
  }
  const { dim } = index;
  if (matrix.length !== ids.length * dim) {
    throw badInput("matrix", `expected ${ids.length} × ${dim} = ${ids.length * dim} values, got ${matrix.length}`);
  }
  for (let start = 0; start < ids.length; start += batchSize) {
    const end = Math.min(ids.length, start + batchSize);
    const items = [];
    for (let i = start; i < end; i++) items.push({ id: ids[i], vector: matrix.subarray(i * dim, (i + 1) * dim) });
    await index.upsert(items);
  }
}
