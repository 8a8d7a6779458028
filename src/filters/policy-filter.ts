import type { PolicyFlag } from "../data/types";
import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** Options of the policy filter. */
export interface PolicyFilterOptions {
  /** Flags that keep a video out of recommendations (it may still be reachable directly). @default every flag but "removed" */
  flags?: readonly PolicyFlag[];
}

/** Videos flagged by trust & safety are not recommended; the reason names the flag. */
export function createPolicyFilter(options: PolicyFilterOptions = {}): CandidateFilter {
  const { flags = ["violence", "adult", "spam", "copyright", "misinformation"] } = options;
  const blocked = new Set<string>(flags);
  return {
    name: "PolicyFlagged",
    apply: (_query, candidates) =>
      partition(candidates, (c) => {
        const flag = c.video.policyFlags?.find((f) => blocked.has(f));
        return flag ? `policy:${flag}` : undefined;
      }),
  };
}
