/**
 * Orders log cursors of either backend: the file log's "segment:offset" (zero-padded) and Redis stream ids
 * "ms-seq". Both are tuples of non-negative integers, compared numerically part by part; undefined (the start of
 * the log) sorts first.
 */
export function compareCursors(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  const pa = a.split(/[:-]/);
  const pb = b.split(/[:-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = BigInt(pa[i] ?? "0");
    const y = BigInt(pb[i] ?? "0");
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
