import type { Video } from "../data/types";

/** Per-window caps: in any `windowSize` consecutive items, at most so many of one category / one creator. */
export interface WindowCaps {
  windowSize: number;
  maxPerCategory: number;
  maxPerCreator: number;
}

export const DEFAULT_CAPS: WindowCaps = { windowSize: 10, maxPerCategory: 4, maxPerCreator: 2 };

/**
 * Which cap, if any, `candidate` would break if appended after `sequence` (only the last windowSize−1 items of
 * the sequence matter). Returns "category_cap", "creator_cap" or undefined.
 */
export function capBrokenByAppend(sequence: readonly Video[], candidate: Video, caps: WindowCaps): "category_cap" | "creator_cap" | undefined {
  let category = 1;
  let creator = 1;
  for (let i = Math.max(0, sequence.length - caps.windowSize + 1); i < sequence.length; i++) {
    if (sequence[i].creatorId === candidate.creatorId) creator++;
    if (sequence[i].category === candidate.category) category++;
  }
  if (creator > caps.maxPerCreator) return "creator_cap";
  if (category > caps.maxPerCategory) return "category_cap";
  return undefined;
}

/** True when the window of `sequence` starting at `start` (shorter at the end) respects the caps. */
export function windowHolds(sequence: readonly Video[], start: number, caps: WindowCaps): boolean {
  const end = Math.min(sequence.length, start + caps.windowSize);
  const categories = new Map<string, number>();
  const creators = new Map<string, number>();
  for (let i = start; i < end; i++) {
    const v = sequence[i];
    const cat = (categories.get(v.category) ?? 0) + 1;
    const cre = (creators.get(v.creatorId) ?? 0) + 1;
    if (cat > caps.maxPerCategory || cre > caps.maxPerCreator) return false;
    categories.set(v.category, cat);
    creators.set(v.creatorId, cre);
  }
  return true;
}

/** How many windows touching positions [from, to] break the caps. */
export function violationsBetween(sequence: readonly Video[], from: number, to: number, caps: WindowCaps): number {
  let n = 0;
  const last = Math.min(to, sequence.length - 1);
  for (let start = Math.max(0, from - caps.windowSize + 1); start <= last; start++) if (!windowHolds(sequence, start, caps)) n++;
  return n;
}

/** The start of the first window of `sequence` that breaks the caps; -1 when none does (for tests and checks). */
export function firstCapViolation(sequence: readonly Video[], caps: WindowCaps): number {
  for (let start = 0; start < sequence.length; start++) if (!windowHolds(sequence, start, caps)) return start;
  return -1;
}
