/**
 * Seeded randomness for everything that must reproduce: synthetic data, exploration slots, index builds, test
 * matrices. One generator (mulberry32: tiny, fast, well distributed for simulation and sampling; not for secrets)
 * and one string hash, so a seed means the same stream everywhere.
 */

/** 32-bit FNV-1a over UTF-16 code units: stable across processes and platforms, unlike any built-in hash. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Uniform floats in [0, 1), deterministic for a seed: a number (its low 32 bits are the mulberry32 state) or a
 * string (hashed with FNV-1a first). Same seed, same stream.
 */
export function seededRandom(seed: number | string): () => number {
  let a = typeof seed === "string" ? fnv1a(seed) : seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
