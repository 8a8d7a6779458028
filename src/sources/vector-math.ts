/** Small vector helpers shared by the embedding-based sources. */

/** The L2-normalised mean of `vectors` (all of one length), or undefined when there are none. */
export function meanVector(vectors: readonly Float32Array[]): Float32Array | undefined {
  if (vectors.length === 0) return undefined;
  const out = new Float32Array(vectors[0].length);
  for (const v of vectors) for (let i = 0; i < out.length; i++) out[i] += v[i];
  return normalize(out);
}

/** L2-normalises in place and returns the vector; a zero vector stays zero. */
export function normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i] * v[i];
  n = Math.sqrt(n);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

/** Rejects with the signal's reason once it has aborted: a cheap check between awaited steps of a source. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
}
