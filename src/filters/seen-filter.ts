import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/**
 * Never serve again what the user watched or was recently served (the state store's seen set), what they watched
 * earlier in this session, or the video they are watching now (the watch-next seed).
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
