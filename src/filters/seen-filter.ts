import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/**
 * Never serve again what the user watched, however long ago, or was recently served (the state store's SeenSet:
 * exact recent sets plus a Bloom filter of every watch), what they watched earlier in this session, or the video
 * they are watching now (the watch-next seed). On a rewatch surface the hydrated `query.seen` holds only the
 * recently served, so past watches pass; this session's and the seed still do not.
 */
export function createSeenFilter(): CandidateFilter {
  return {
    name: "Seen",
    apply: (query, candidates) => {
      const session = new Set(query.context.sessionVideoIds);
      if (query.seedVideoId) session.add(query.seedVideoId);
      return partition(candidates, (c) => (query.seen.has(c.videoId) || session.has(c.videoId) ? "seen" : undefined));
    },
  };
}
