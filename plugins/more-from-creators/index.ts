import { COMPLETION_THRESHOLD, DAY_MS, byCodeUnits, definePlugin, defineReason, defineSource, type Candidate, z } from "reelfeed/plugin";

/**
 * Why a video is proposed: the user finished one of this creator's videos recently. Clients that know the plugin
 * show that; others see the fallback SIMILAR_TO with the same params ({ videoId: the finished video, creatorId }).
 */
export const FINISHED_CREATOR = defineReason("more-from-creators/FINISHED_CREATOR", {
  fallback: "SIMILAR_TO",
  description: "The user recently watched a video of this creator to the end. Params: videoId (the finished video), creatorId.",
});

const options = z
  .object({
    /** Finished watches older than this do not count, days. @default 30 */
    maxAgeDays: z.number().positive().max(3650).default(30),
    /** Most videos proposed per creator. @default 3 */
    perCreator: z.number().int().min(1).max(50).default(3),
    /** Share of a video watched for it to count as finished. @default 0.8 (the platform's completion threshold) */
    minCompletion: z.number().min(0).max(1).default(COMPLETION_THRESHOLD),
  })
  .strict();

/**
 * Candidate source "MoreFromCreators": newer uploads from the creators whose videos the user recently watched to
 * the end. Finishing a video is the strongest implicit signal we have about a creator, stronger than a click, and
 * it works before the user ever subscribes. Unknown users and users without a finished watch get [].
 */
export const moreFromCreatorsSource = defineSource({
  name: "MoreFromCreators",
  options,
  create: ({ maxAgeDays, perCreator, minCompletion }) => ({
    async fetch(query, ctx) {
      const recent = query.userAgg?.recent ?? [];
      const now = query.context.now;
      const windowMs = maxAgeDays * DAY_MS;
      // Most recent finished watch per creator: it names the reason and orders the creators.
      const byCreator = new Map<string, { videoId: string; ts: number }>();
      for (let i = recent.length - 1; i >= 0; i--) {
        const watch = recent[i];
        if (watch.completion < minCompletion || now - watch.ts > windowMs) continue;
        const creatorId = ctx.runtime.catalog.video(watch.videoId)?.creatorId;
        if (creatorId && !byCreator.has(creatorId)) byCreator.set(creatorId, { videoId: watch.videoId, ts: watch.ts });
      }
      const out: Candidate[] = [];
      for (const [creatorId, finished] of byCreator) {
        const reason = FINISHED_CREATOR.reason({ videoId: finished.videoId, creatorId });
        let n = 0;
        for (const video of ctx.runtime.catalog.videosByCreator(creatorId)) {
          if (n >= perCreator || out.length >= ctx.limit) break;
          if (video.uploadedAt > now || query.seen.has(video.id) || video.id === finished.videoId) continue;
          // Fresher finish, then newer upload: both decay over the window.
          out.push({ videoId: video.id, score: Math.exp(-(now - finished.ts) / windowMs) * (1 / (1 + n)), reason });
          n++;
        }
      }
      return out.sort((a, b) => b.score - a.score || byCodeUnits(a.videoId, b.videoId));
    },
  }),
});

export default definePlugin({ name: "more-from-creators", version: "2.0.0", sources: [moreFromCreatorsSource], reasons: [FINISHED_CREATOR] });
