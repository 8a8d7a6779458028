import type { CandidateTrace, FeedTrace, StageTrace } from "./feed-page";
import type { MergedCandidate, Removal } from "./types";

/**
 * Collects the per-request trace ("why this video, why not that one") when the request asks for it. Every method
 * is a no-op on the disabled tracer, so the pipeline calls it unconditionally and pays nothing without debug.
 */
export interface Tracer {
  readonly enabled: boolean;
  stage(entry: StageTrace): void;
  /** Candidates entering the funnel (after merge). */
  candidates(list: ReadonlyArray<Pick<MergedCandidate, "videoId" | "sources">>): void;
  removed(stage: string, removals: ReadonlyArray<Removal<{ videoId: string }>>): void;
  scored(videoId: string, heads: Record<string, number>, score: number, rankedPosition: number): void;
  final(videoId: string, finalPosition: number, score: number): void;
  build(requestId: string, modelVersion: string, totalMs: number): FeedTrace | undefined;
}

export function countReasons(removals: ReadonlyArray<{ reason: string }>): Record<string, number> | undefined {
  if (removals.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const r of removals) out[r.reason] = (out[r.reason] ?? 0) + 1;
  return out;
}

export function createTracer(enabled: boolean): Tracer {
  const stages: StageTrace[] = [];
  const byId = new Map<string, CandidateTrace>();
  if (!enabled) {
    return { enabled, stage() {}, candidates() {}, removed() {}, scored() {}, final() {}, build: () => undefined };
  }
  return {
    enabled,
    stage: (entry) => void stages.push(entry),
    candidates(list) {
      for (const m of list) {
        if (!byId.has(m.videoId)) byId.set(m.videoId, { videoId: m.videoId, sources: m.sources.map((a) => ({ source: a.source, score: a.score })), heads: {} });
      }
    },
    removed(stage, removals) {
      for (const r of removals) {
        const t = byId.get(r.candidate.videoId);
        if (t && !t.removedBy) t.removedBy = { stage, reason: r.reason };
      }
    },
    scored(videoId, heads, score, rankedPosition) {
      const t = byId.get(videoId);
      if (t) Object.assign(t, { heads, score, rankedPosition });
    },
    final(videoId, finalPosition, score) {
      const t = byId.get(videoId);
      if (t) Object.assign(t, { finalPosition, score });
    },
    build: (requestId, modelVersion, totalMs) => ({ requestId, modelVersion, totalMs, stages, candidates: [...byId.values()] }),
  };
}
