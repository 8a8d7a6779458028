import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** Videos blocked in the request's country (licensing, local law). No country, no region rule to apply. */
export function createRegionFilter(): CandidateFilter {
  return {
    name: "RegionBlocked",
    apply: (query, candidates) => {
      const country = query.context.country?.toUpperCase();
      if (!country) return { kept: [...candidates], removed: [] };
      return partition(candidates, (c) => (c.video.blockedRegions?.some((r) => r.toUpperCase() === country) ? "region_blocked" : undefined));
    },
  };
}
