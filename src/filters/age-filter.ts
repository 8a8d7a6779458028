import type { CandidateFilter } from "../pipeline/types";
import { partition } from "./partition";

/** Options of the age filter. */
export interface AgeFilterOptions {
  /** Age from which age-restricted videos may be shown. @default 18 */
  minAge?: number;
  /** How a user of unknown age is treated (config pipeline.unknownAge). @default "minor" */
  unknownAge?: "minor" | "adult";
}

/**
 * Age-restricted videos only for users known to be adults. An unknown age counts as a minor by default: the cost of
 * showing adult content to a child is far above the cost of hiding it from an adult who did not give an age.
 */
export function createAgeFilter(options: AgeFilterOptions = {}): CandidateFilter {
  const { minAge = 18, unknownAge = "minor" } = options;
  return {
    name: "AgeRestricted",
    apply: (query, candidates) => {
      const age = query.user?.age;
      const adult = age === undefined ? unknownAge === "adult" : age >= minAge;
      return partition(candidates, (c) => (c.video.ageRestricted && !adult ? "age_restricted" : undefined));
    },
  };
}
