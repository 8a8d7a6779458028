import { z } from "zod";
import type { Video } from "../data/types";
import { optionsResolver } from "../pipeline/options";
import type { Removal, RerankStage, ScoredCandidate } from "../pipeline/types";
import { capBrokenByAppend, DEFAULT_CAPS } from "./caps";

/** Options of the diversity stage. */
export interface DiversityStageOptions {
  /** Sliding window the caps apply to. @default 10 */
  windowSize?: number;
  /** Most items of one category in any window. @default 4 */
  maxPerCategory?: number;
  /** Most items of one creator in any window. @default 2 */
  maxPerCreator?: number;
}

const schema = z
  .object({
    windowSize: z.number().int().min(2).default(DEFAULT_CAPS.windowSize),
    maxPerCategory: z.number().int().min(1).default(DEFAULT_CAPS.maxPerCategory),
    maxPerCreator: z.number().int().min(1).default(DEFAULT_CAPS.maxPerCreator),
  })
  .strict();

/**
 * Caps per category and per creator in any sliding window, the window starting on earlier pages of the session
 * (ctx.servedEarlier), so a page boundary is no loophole. Greedy: each slot takes the best remaining item that
 * keeps every window within caps. Items that no longer fit anywhere (the rest is all one category) are removed,
 * naming the cap: the popularity fill then tops the page up with other videos.
 */
export function createDiversityStage(options: DiversityStageOptions = {}): RerankStage {
  const resolver = optionsResolver("Diversity", schema, options);
  return {
    name: "Diversity",
    apply(_query, ranked, ctx) {
      const caps = resolver.resolve(ctx.options);
      const sequence: Video[] = ctx.servedEarlier.slice(-(caps.windowSize - 1));
      const kept: ScoredCandidate[] = [];
      // Counts of each category / creator among the last windowSize−1 items of the sequence, kept as it grows:
      // each candidate check is two lookups (capBrokenByAppend's answer) instead of a rescan of the window, and
      // a long run of blocked candidates is rescanned for every slot.
      const cats = new Map<string, number>();
      const cres = new Map<string, number>();
      const bump = (v: Video, d: number): void => {
        cats.set(v.category, (cats.get(v.category) ?? 0) + d);
        cres.set(v.creatorId, (cres.get(v.creatorId) ?? 0) + d);
      };
      const fromStart = Math.max(0, sequence.length - caps.windowSize + 1);
      for (let i = fromStart; i < sequence.length; i++) bump(sequence[i], 1);
      const fits = (v: Video): boolean => (cres.get(v.creatorId) ?? 0) + 1 <= caps.maxPerCreator && (cats.get(v.category) ?? 0) + 1 <= caps.maxPerCategory;
      // Taken items are marked, not spliced out: the scan for the next slot starts at the first untaken item, and
      // no array is shifted per slot (a 500-item list would otherwise move ~125k entries per request).
      const taken = new Uint8Array(ranked.length);
      let first = 0;
      for (;;) {
        while (first < ranked.length && taken[first]) first++;
        let i = first;
        for (; i < ranked.length; i++) if (!taken[i] && fits(ranked[i].video)) break;
        if (i >= ranked.length) break;
        taken[i] = 1;
        kept.push(ranked[i]);
        sequence.push(ranked[i].video);
        bump(ranked[i].video, 1);
        // The window for the next append holds the last windowSize−1 items.
        if (sequence.length > caps.windowSize - 1) bump(sequence[sequence.length - caps.windowSize], -1);
      }
      const removed: Removal<ScoredCandidate>[] = [];
      for (let i = 0; i < ranked.length; i++) {
        if (!taken[i]) removed.push({ candidate: ranked[i], reason: capBrokenByAppend(sequence, ranked[i].video, caps) ?? "category_cap" });
      }
      return { kept, removed };
    },
  };
}
