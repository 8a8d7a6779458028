import type { Catalog } from "../../data/catalog";
import type { Attribution, Candidate, MergedCandidate } from "../types";

/** One source's answer for a request, as the merge reads it. */
export interface SourceOutput {
  source: string;
  weight: number;
  candidates: readonly Candidate[];
}

export interface MergeResult {
  merged: MergedCandidate[];
  /** Proposed ids the catalog does not know (a stale index): dropped, counted for the trace. */
  unknown: number;
}

/**
 * Dedupes candidates across sources, keeping every attribution, and gives each a weighted source score.
 *
 * Sources score on unrelated scales (inner products, decayed view counts, recency), so raw scores cannot be
 * added. Each source's list is ranked by its own score and contributes weight·(k+1)/(k+rank) (reciprocal-rank
 * fusion, scaled so a source's best item contributes exactly its weight). A video proposed by several sources
 * sums their contributions: agreement between independent sources is evidence. Deterministic: ties by id.
 */
export function mergeCandidates(outputs: readonly SourceOutput[], catalog: Catalog, options: { rrfK?: number } = {}): MergeResult {
  const { rrfK = 60 } = options;
  const byId = new Map<string, MergedCandidate>();
  let unknown = 0;
  for (const { source, weight, candidates } of outputs) {
    // Sources nearly always answer best first already; only an unsorted list pays for the (stable) sort.
    const ordered = isBestFirst(candidates)
      ? candidates
      : candidates
          .map((c, i) => ({ c, i }))
          .sort((a, b) => b.c.score - a.c.score || a.i - b.i)
          .map((x) => x.c);
    const taken = new Set<string>();
    let rank = 0;
    for (const c of ordered) {
      if (taken.has(c.videoId)) continue; // a source listing a video twice counts once, at its best rank
      taken.add(c.videoId);
      rank++;
      const contribution = (weight * (rrfK + 1)) / (rrfK + rank);
      const attribution: Attribution = { source, score: contribution, reason: c.reason };
      const prev = byId.get(c.videoId);
      if (prev) {
        prev.sources.push(attribution);
        prev.sourceScore += contribution;
        continue;
      }
      const video = catalog.video(c.videoId);
      if (!video) {
        unknown++;
        continue;
      }
      byId.set(c.videoId, { videoId: c.videoId, video, sources: [attribution], sourceScore: contribution });
    }
  }
  const merged = [...byId.values()];
  for (const m of merged) if (m.sources.length > 1) m.sources.sort((a, b) => b.score - a.score || byCodeUnits(a.source, b.source));
  merged.sort((a, b) => b.sourceScore - a.sourceScore || byCodeUnits(a.videoId, b.videoId));
  return { merged, unknown };
}

function isBestFirst(candidates: readonly Candidate[]): boolean {
  for (let i = 1; i < candidates.length; i++) if (!(candidates[i - 1].score >= candidates[i].score)) return false;
  return true;
}

/** Tie-break by id: plain code-unit order (deterministic everywhere, and far cheaper than a locale collation). */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
