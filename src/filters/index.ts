import { z } from "zod";
import { defineFilter } from "../pipeline/components";
import type { CandidateFilter } from "../pipeline/types";
import { createAgeFilter } from "./age-filter";
import { createBlockedCreatorFilter } from "./blocked-creator-filter";
import { createNotInterestedFilter } from "./not-interested-filter";
import { createPolicyFilter } from "./policy-filter";
import { createRegionFilter } from "./region-filter";
import { createRemovedFilter } from "./removed-filter";
import { createReportedFilter } from "./reported-filter";
import { createSeenFilter } from "./seen-filter";

export { createAgeFilter, createBlockedCreatorFilter, createNotInterestedFilter, createPolicyFilter };
export { createRegionFilter, createRemovedFilter, createReportedFilter, createSeenFilter };

/**
 * The built-in hard rules, cheapest first. All are O(1) per candidate, so "cheap" means: no per-request set to
 * build, and most removed early. Rules on the video alone come first (they need nothing from the user and stop
 * taken-down and unsafe videos before anything else looks at them), then the seen set (by far the biggest
 * remover for an active user), then the user's small relation lists. Defined through the same factory path as a
 * plugin's filters (which config lists under `pipeline.filters` and which run after these).
 */
export const BUILTIN_FILTERS = [
  defineFilter({ name: "Removed", create: () => createRemovedFilter() }),
  defineFilter({ name: "PolicyFlagged", create: () => createPolicyFilter() }),
  defineFilter({
    name: "AgeRestricted",
    options: z.object({ minAge: z.number().int().min(0).default(18), unknownAge: z.enum(["minor", "adult"]).default("minor") }).strict(),
    create: createAgeFilter,
  }),
  defineFilter({ name: "RegionBlocked", create: () => createRegionFilter() }),
  defineFilter({ name: "Seen", create: () => createSeenFilter() }),
  defineFilter({ name: "NotInterested", create: () => createNotInterestedFilter() }),
  defineFilter({ name: "BlockedCreator", create: () => createBlockedCreatorFilter() }),
  defineFilter({ name: "Reported", create: () => createReportedFilter() }),
] as const;

/** The built-in hard rules as instances, cheapest first (`unknownAge`: config pipeline.unknownAge). */
export function builtinFilters(options: { unknownAge?: "minor" | "adult" } = {}): CandidateFilter[] {
  const { unknownAge = "minor" } = options;
  return BUILTIN_FILTERS.map((f) => f.create(f.name === "AgeRestricted" ? { unknownAge } : {}));
}

/**
 * The rules that need no user history: for `similarVideos` and `trending`, which serve anyone. The age rule stays:
 * an anonymous caller is treated as a minor.
 */
export function safetyFilters(): CandidateFilter[] {
  return [createRemovedFilter(), createPolicyFilter(), createAgeFilter(), createRegionFilter()];
}
