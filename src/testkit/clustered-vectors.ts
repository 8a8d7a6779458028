import { seededRandom } from "../util/random";

/**
 * `n` unit vectors of length `dim` scattered around `clusters` random centres (Gaussian noise of `noise` per
 * component before normalising): data with the structure embeddings have, for index tests and benchmarks. Seeded,
 * so the same arguments give the same vectors. Row-major, `n × dim`.
 */
export function clusteredVectors(n: number, dim: number, clusters: number, seed: number, noise = 0.35): Float32Array {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = Float32Array.from({ length: clusters * dim }, gauss);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * clusters);
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const x = centres[c * dim + d] + noise * gauss();
      out[i * dim + d] = x;
      norm += x * x;
    }
    for (let d = 0; d < dim; d++) out[i * dim + d] /= Math.sqrt(norm);
  }
  return out;
}
