import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** None of a blocked creator's videos is shown again. */
export function createBlockedCreatorFilter(): CandidateFilter {
  return {
    name: "BlockedCreator",
    apply: (query, candidates) => {
      const ids = new Set(query.relations.blockedCreators);
      return partition(candidates, (c) => (ids.has(c.video.creatorId) ? "blocked_creator" : undefined));
    },
  };
}
