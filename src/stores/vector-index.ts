/**
 * A nearest-neighbour index over video embeddings (two-tower video tower, content embeddings).
 * Implementations: embedded (in-process, default) and Qdrant. One contract-test suite runs against both.
 * Scores are inner products (vectors are expected L2-normalised by the writer when cosine is wanted).
 */
export interface VectorHit {
  id: string;
  score: number;
}

export interface VectorSearchOptions {
  /** Ids never to return (seen, blocked...). */
  excludeIds?: ReadonlySet<string>;
  signal?: AbortSignal;
}

export interface VectorIndex {
  readonly kind: "embedded" | "qdrant";
  readonly dim: number;
  /** Inserts or replaces vectors by id. Each vector has length `dim`. */
  upsert(items: ReadonlyArray<{ id: string; vector: Float32Array }>): Promise<void>;
  /** The k best hits by descending score; fewer when the index is smaller. */
  search(vector: Float32Array, k: number, options?: VectorSearchOptions): Promise<VectorHit[]>;
  /** The stored vector, or undefined. */
  get(id: string): Promise<Float32Array | undefined>;
  /**
   * Present on an index with precomputed neighbour lists (vector-neighbour-lists.ts): the hits `search` would
   * return for `seedVector`, the stored vector of video `seedId` (the video itself and `excludeIds` left out), read
   * from the lists; undefined when the lists cannot answer, and the caller searches.
   */
  nearestTo?(seedId: string, seedVector: Float32Array, k: number, excludeIds?: ReadonlySet<string>): Promise<VectorHit[] | undefined>;
  delete(ids: readonly string[]): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}
