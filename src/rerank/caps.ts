import type { Video } from "../data/types";

/** Per-window caps: in any `windowSize` consecutive items, at most so many of one category / one creator. */
export interface WindowCaps {
  windowSize: number;
  maxPerCategory: number;
  maxPerCreator: number;
}

/**
 * Default caps. Creator 3 (was 2): measured on MovieLens's per-user temporal hold-out, 2 per 10 cost 1 % of
 * NDCG@20 on its own, and with exploration the default stages cost more than the 3 % they may (docs/training.md).
 */
export const DEFAULT_CAPS: WindowCaps = { windowSize: 10, maxPerCategory: 4, maxPerCreator: 3 };

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

/**
 * Position → video of a sequence that need not exist as an array (a served prefix followed by a ranked list, say):
 * the exploration stage checks swaps with it without building the swapped list.
 */
export type VideoAt = (index: number) => Video;

/**
 * True when the window of length `length` sequence `at` starting at `start` (shorter at the end) respects the caps.
 * Windows are short (10 by default), so counting by rescanning the window is cheaper than allocating maps: no
 * allocation at all, which matters because the exploration stage checks a few thousand windows per request.
 */
export function windowHoldsAt(at: VideoAt, length: number, start: number, caps: WindowCaps): boolean {
  const end = Math.min(length, start + caps.windowSize);
  for (let i = start; i < end; i++) {
    const v = at(i);
    // Counts of v's category / creator within [start, i]: the same running counts a map would hold at step i.
    let category = 0;
    let creator = 0;
    for (let j = start; j <= i; j++) {
      const w = at(j);
      if (w.category === v.category) category++;
      if (w.creatorId === v.creatorId) creator++;
    }
    if (category > caps.maxPerCategory || creator > caps.maxPerCreator) return false;
  }
  return true;
}

/** True when the window of `sequence` starting at `start` (shorter at the end) respects the caps. */
export function windowHolds(sequence: readonly Video[], start: number, caps: WindowCaps): boolean {
  return windowHoldsAt((i) => sequence[i], sequence.length, start, caps);
}

/** How many windows touching positions [from, to] of sequence `at` (of length `length`) break the caps. */
export function violationsBetweenAt(at: VideoAt, length: number, from: number, to: number, caps: WindowCaps): number {
  let n = 0;
  const last = Math.min(to, length - 1);
  for (let start = Math.max(0, from - caps.windowSize + 1); start <= last; start++) if (!windowHoldsAt(at, length, start, caps)) n++;
  return n;
}

/** How many windows touching positions [from, to] break the caps. */
export function violationsBetween(sequence: readonly Video[], from: number, to: number, caps: WindowCaps): number {
  return violationsBetweenAt((i) => sequence[i], sequence.length, from, to, caps);
}

/** The start of the first window of `sequence` that breaks the caps; -1 when none does (for tests and checks). */
export function firstCapViolation(sequence: readonly Video[], caps: WindowCaps): number {
  for (let start = 0; start < sequence.length; start++) if (!windowHolds(sequence, start, caps)) return start;
  return -1;
}

/**
 * Small dense ids for the categories and creators of one sequence, so window counts live in typed arrays instead of
 * string-keyed maps: the stages count a few thousand windows per request.
 */
export interface InternedKeys {
  category: Int32Array;
  creator: Int32Array;
  categories: number;
  creators: number;
}

export function internKeys(videos: readonly Video[]): InternedKeys {
  const cats = new Map<string, number>();
  const cres = new Map<string, number>();
  const category = new Int32Array(videos.length);
  const creator = new Int32Array(videos.length);
  for (let i = 0; i < videos.length; i++) {
    const v = videos[i];
    let c = cats.get(v.category);
    if (c === undefined) cats.set(v.category, (c = cats.size));
    let k = cres.get(v.creatorId);
    if (k === undefined) cres.set(v.creatorId, (k = cres.size));
    category[i] = c;
    creator[i] = k;
  }
  return { category, creator, categories: cats.size, creators: cres.size };
}

/**
 * Sliding-window counter over an interned sequence: `violationsAround(p)` is violationsBetweenAt(…, p, p) computed
 * by sliding one window across the ≤ windowSize windows that touch p (O(windowSize) instead of O(windowSize³)).
 * A window breaks the caps exactly when some key's count in it exceeds its cap (the running counts of
 * windowHoldsAt peak at the window's full counts), so one "keys over cap" counter answers each window.
 */
export function createWindowCounter(keys: InternedKeys, caps: WindowCaps) {
  const catCount = new Int32Array(keys.categories);
  const creCount = new Int32Array(keys.creators);
  let over = 0;
  const add = (i: number): void => {
    if (++catCount[keys.category[i]] === caps.maxPerCategory + 1) over++;
    if (++creCount[keys.creator[i]] === caps.maxPerCreator + 1) over++;
  };
  const remove = (i: number): void => {
    if (catCount[keys.category[i]]-- === caps.maxPerCategory + 1) over--;
    if (creCount[keys.creator[i]]-- === caps.maxPerCreator + 1) over--;
  };
  return {
    /** Windows (of the sequence of length `length`) touching position p that break the caps. */
    violationsAround(p: number, length: number): number {
      const w = caps.windowSize;
      const lo = Math.max(0, p - w + 1);
      const hi = Math.min(p, length - 1);
      if (hi < lo) return 0;
      let end = Math.min(length, lo + w);
      for (let i = lo; i < end; i++) add(i);
      let n = 0;
      for (let s = lo; s <= hi; s++) {
        if (over > 0) n++;
        if (s === hi) break;
        remove(s);
        if (end < length) add(end++);
      }
      for (let i = hi; i < end; i++) remove(i);
      return n;
    },
    /** Swaps positions a and b of the interned sequence (the caller swaps its list alongside). */
    swap(a: number, b: number): void {
      const c = keys.category[a];
      keys.category[a] = keys.category[b];
      keys.category[b] = c;
      const k = keys.creator[a];
      keys.creator[a] = keys.creator[b];
      keys.creator[b] = k;
    },
  };
}
