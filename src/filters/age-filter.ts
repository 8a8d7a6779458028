import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** Options of the age filter. */
export interface AgeFilterOptions {
  /** Age from which age-restricted videos may be shown. @default 18 */
  minAge?: number;
}

/**
 * Age-restricted videos only for users known to be adults. An unknown age counts as a minor: the cost of showing
 * adult content to a child is far above the cost of hiding it from an adult who did not give an age.
 */
export function createAgeFilter(options: AgeFilterOptions = {}): CandidateFilter {
  const { minAge = 18 } = options;
  return {
    name: "AgeRestricted",
    apply: (query, candidates) => {
      const age = query.user?.age;
      const adult = age !== undefined && age >= minAge;
      return partition(candidates, (c) => (c.video.ageRestricted && !adult ? "age_restricted" : undefined));
    },
  };
}
