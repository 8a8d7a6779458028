import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** A video the user said "not interested" to is never shown again. */
export function createNotInterestedFilter(): CandidateFilter {
  return {
    name: "NotInterested",
    apply: (query, candidates) => {
      const ids = new Set(query.relations.notInterested);
      return partition(candidates, (c) => (ids.has(c.videoId) ? "not_interested" : undefined));
    },
  };
}
