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
 * A merged candidate whose video is not read from the catalog yet: merging needs ids and scores only, and a ranked
 * session reads the videos of the best-scored candidates alone (steps/filters.ts, filterBest).
 */
export type MergedScore = Omit<MergedCandidate, "video">;

/**
 * Dedupes candidates across sources, keeping every attribution, gives each a weighted source score, and orders them
 * best first (ties by id). No catalog read: see resolveVideos.
 *
 * Sources score on unrelated scales (inner products, decayed view counts, recency), so raw scores cannot be
 * added. Each source's list is ranked by its own score and contributes weight·(k+1)/(k+rank) (reciprocal-rank
 * fusion, scaled so a source's best item contributes exactly its weight). A video proposed by several sources
 * sums their contributions: agreement between independent sources is evidence. Deterministic: ties by id.
 */
export function mergeScores(outputs: readonly SourceOutput[], options: { rrfK?: number } = {}): MergedScore[] {
  const { rrfK = 60 } = options;
  const byId = new Map<string, MergedScore>();
  for (const { source, weight, candidates } of outputs) {
    // Sources nearly always answer best first already; only an unsorted list pays for the (stable) sort.
    const ordered = isBestFirst(candidates)
      ? candidates
      : candidates
          .map((c, i) => ({ c, i }))
          .sort((a, b) => b.c.score - a.c.score || a.i - b.i)
          .map((x) => x.c);
    let rank = 0;
    for (const c of ordered) {
      const id = c.videoId;
      const prev = byId.get(id);
      // A source listing a video twice counts once, at its best rank: its first listing is then the video's last
      // attribution (sources are merged one after another), so no set of the ids taken per source is needed.
      if (prev && prev.sources[prev.sources.length - 1].source === source) continue;
      rank++;
      const contribution = (weight * (rrfK + 1)) / (rrfK + rank);
      const attribution: Attribution = { source, score: contribution, reason: c.reason };
      if (prev) {
        prev.sources.push(attribution);
        prev.sourceScore += contribution;
      } else {
        // `video` is a field from the start (resolveVideos fills it in place): one shape for every merged candidate.
        byId.set(id, { videoId: id, video: undefined, sources: [attribution], sourceScore: contribution } as MergedScore);
      }
    }
  }
  const merged = [...byId.values()];
  for (const m of merged) if (m.sources.length > 1) m.sources.sort((a, b) => b.score - a.score || byCodeUnits(a.source, b.source));
  merged.sort((a, b) => b.sourceScore - a.sourceScore || byCodeUnits(a.videoId, b.videoId));
  return merged;
}

/**
 * The candidates whose video the catalog knows, each with its video (set in place on the merged candidate), in
 * order; `unknown` counts the ids it does not know (a stale index), which are dropped (and handed to `onUnknown`).
 */
export function resolveVideos(scores: readonly MergedScore[], catalog: Catalog, onUnknown?: (m: MergedScore) => void): MergeResult {
  const merged: MergedCandidate[] = [];
  let unknown = 0;
  for (const m of scores) {
    const video = catalog.video(m.videoId);
    if (!video) {
      unknown++;
      onUnknown?.(m);
      continue;
    }
    (m as MergedCandidate).video = video;
    merged.push(m as MergedCandidate);
  }
  return { merged, unknown };
}

/** mergeScores, then every candidate's video (resolveVideos): for the fill and the lookups, which read all of them. */
export function mergeCandidates(outputs: readonly SourceOutput[], catalog: Catalog, options: { rrfK?: number } = {}): MergeResult {
  return resolveVideos(mergeScores(outputs, options), catalog);
}

function isBestFirst(candidates: readonly Candidate[]): boolean {
  for (let i = 1; i < candidates.length; i++) if (!(candidates[i - 1].score >= candidates[i].score)) return false;
  return true;
}

/** Tie-break by id: plain code-unit order (deterministic everywhere, and far cheaper than a locale collation). */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
