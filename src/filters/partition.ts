import type { FilterResult, MergedCandidate } from "../pipeline/types";

/** Splits candidates by a rule that returns a removal reason, or undefined to keep. Never mutates its input. */
export function partition(candidates: readonly MergedCandidate[], reasonFor: (c: MergedCandidate) => string | undefined): FilterResult {
  const kept: MergedCandidate[] = [];
  const removed: FilterResult["removed"] = [];
  for (const candidate of candidates) {
    const reason = reasonFor(candidate);
    if (reason === undefined) kept.push(candidate);
    else removed.push({ candidate, reason });
  }
  return { kept, removed };
}
