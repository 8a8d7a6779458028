/** Helpers the embedded index's rebuild tests share: ids, exactly summable vectors and the brute-force oracle. */

export const ids = (n: number, prefix = "v") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Small integer components: exact float32 sums, so scores tie often and only the id order can break ties. */
export function integerVector(rand: () => number, dim: number): Float32Array {
  return Float32Array.from({ length: dim }, () => Math.floor(rand() * 7) - 3);
}

/** The oracle: every live vector by inner product, best first, ties by id. */
export function bruteForce(live: ReadonlyMap<string, Float32Array>, query: Float32Array, k: number) {
  const hits = [...live].map(([id, v]) => ({ id, score: v.reduce((s, x, d) => s + x * query[d], 0) }));
  hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return hits.slice(0, k);
}
