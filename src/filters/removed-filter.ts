import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** Videos taken down (policy flag "removed"): never served, whatever a source or an index still holds. */
export function createRemovedFilter(): CandidateFilter {
  return {
    name: "Removed",
    apply: (_query, candidates) => partition(candidates, (c) => (c.video.policyFlags?.includes("removed") ? "removed" : undefined)),
  };
}
