import { COMPLETION_THRESHOLD, DAY_MS } from "../../src/features/aggregates";
import { definePlugin, type Candidate, type CandidateSource } from "../../src/pipeline/types";

/**
 * Candidate source "MoreFromCreators": newer uploads from the creators whose videos the user recently watched to
 * the end. Finishing a video is the strongest implicit signal we have about a creator, stronger than a click, and
 * it works before the user ever subscribes. Reason: SIMILAR_TO {videoId: the finished video, creatorId}.
 *
 * Options (config `pipeline.sources[].options`):
 * - maxAgeDays (default 30): finished watches older than this do not count;
 * - perCreator (default 3): most videos proposed per creator;
 * - minCompletion (default the platform's completion threshold, 0.8).
 */
interface Options {
  maxAgeDays: number;
  perCreator: number;
  minCompletion: number;
}

function readOptions(raw: Record<string, unknown>): Options {
  const num = (key: keyof Options, def: number, min: number, max: number): number => {
    const v = raw[key];
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
      throw new Error(`MoreFromCreators options.${key}: expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  return { maxAgeDays: num("maxAgeDays", 30, 0, 3650), perCreator: num("perCreator", 3, 1, 50), minCompletion: num("minCompletion", COMPLETION_THRESHOLD, 0, 1) };
}

export const moreFromCreatorsSource: CandidateSource = {
  name: "MoreFromCreators",
  async fetch(query, ctx) {
    const { maxAgeDays, perCreator, minCompletion } = readOptions(ctx.options);
    const recent = query.userAgg?.recent ?? [];
    const now = query.context.now;
    // Most recent finished watch per creator: it names the reason and orders the creators.
    const byCreator = new Map<string, { videoId: string; ts: number }>();
    for (const watch of [...recent].reverse()) {
      if (watch.completion < minCompletion || now - watch.ts > maxAgeDays * DAY_MS) continue;
      const creatorId = ctx.runtime.catalog.video(watch.videoId)?.creatorId;
      if (creatorId && !byCreator.has(creatorId)) byCreator.set(creatorId, { videoId: watch.videoId, ts: watch.ts });
    }
    const out: Candidate[] = [];
    for (const [creatorId, finished] of byCreator) {
      let n = 0;
      for (const video of ctx.runtime.catalog.videosByCreator(creatorId)) {
        if (n >= perCreator || out.length >= ctx.limit) break;
        if (video.uploadedAt > now || query.seen.has(video.id) || video.id === finished.videoId) continue;
        // Fresher finish, then newer upload: both decay over the window.
        const score = Math.exp(-(now - finished.ts) / (maxAgeDays * DAY_MS)) * (1 / (1 + n));
        out.push({ videoId: video.id, score, reason: { code: "SIMILAR_TO", params: { videoId: finished.videoId, creatorId } } });
        n++;
      }
    }
    return out.sort((a, b) => b.score - a.score || a.videoId.localeCompare(b.videoId));
  },
};

export default definePlugin({ name: "more-from-creators", version: "1.0.0", sources: [moreFromCreatorsSource] });
