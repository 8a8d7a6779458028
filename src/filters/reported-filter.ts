import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** A video the user reported is never shown to them again (moderation decides for everyone else). */
export function createReportedFilter(): CandidateFilter {
  return {
    name: "Reported",
    apply: (query, candidates) => {
      const ids = new Set(query.relations.reported);
      return partition(candidates, (c) => (ids.has(c.videoId) ? "reported" : undefined));
    },
  };
}
