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
import { createQdrantVectorIndex } from "./vector-index-qdrant";

/** Which vector index to open. The backend comes from config: Qdrant when `backends.qdrantUrl` is set. */
export interface OpenVectorIndexOptions {
  /** Logical index name ("videos", "content"); the Qdrant collection is `reelfeed_<name>`. */
  name: string;
  /** Vector length. */
  dim: number;
  /** Tuning for the embedded index (ignored on Qdrant). @default {} */
  embedded?: Omit<EmbeddedVectorIndexOptions, "dim">;
}

/** Embedded unless `backends.qdrantUrl` is configured; a configured but unreachable Qdrant fails with UNAVAILABLE. */
export async function openVectorIndex(config: ReelfeedConfig, options: OpenVectorIndexOptions): Promise<VectorIndex> {
  const { name, dim, embedded = {} } = options;
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw badInput("name", `expected letters, digits, "_" or "-", got "${name}"`);
  const { qdrantUrl, qdrantApiKey } = config.backends;
  if (qdrantUrl) return createQdrantVectorIndex({ url: qdrantUrl, apiKey: qdrantApiKey, collection: `reelfeed_${name}`, dim });
  return createEmbeddedVectorIndex({ ...embedded, dim });
}

/** Embedded unless `backends.neo4jUri` is configured. Scoring options apply to both backends. */
export async function openGraphStore(
  config: ReelfeedConfig,
  options: Pick<EmbeddedGraphStoreOptions, "kindWeights" | "halfLifeMs" | "maxEngagementsPerUser"> = {},
): Promise<GraphStore> {
  const { neo4jUri, neo4jUser, neo4jPassword } = config.backends;
  if (neo4jUri) {
    return createNeo4jGraphStore({
      uri: neo4jUri,
      user: neo4jUser,
      password: neo4jPassword,
      kindWeights: options.kindWeights,
      halfLifeMs: options.halfLifeMs,
    });
  }
  return createEmbeddedGraphStore(options);
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
