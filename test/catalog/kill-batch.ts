/** Batch `n` of the kill -9 child: 20 video upserts with fixed versions (so a re-send is a DUPLICATE). */
export function killBatch(n: number): Array<Record<string, unknown>> {
  return Array.from({ length: 20 }, (_, i) => ({
    id: `b${n}-v${i}`,
    creatorId: `c${i % 3}`,
    title: `batch ${n} video ${i}`,
    category: "test",
    durationSec: 60,
    uploadedAt: 1_750_000_000_000,
    updatedAt: 1_750_000_000_000 + n,
  }));
}
