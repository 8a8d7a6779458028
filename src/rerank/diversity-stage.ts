import { z } from "zod";
import type { Video } from "../data/types";
import { defineStage } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import type { Removal, RerankStage, ScoredCandidate } from "../pipeline/types";
import { capBrokenByAppend, DEFAULT_CAPS, internKeys } from "./caps";

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
  const opts = parseOptions("Diversity", schema, options);
  return {
    name: "Diversity",
    apply(_query, ranked, ctx) {
      const caps = opts;
      const sequence: Video[] = ctx.servedEarlier.slice(-(caps.windowSize - 1));
      const prefix = sequence.length;
      const kept: ScoredCandidate[] = [];
      // Categories and creators as dense ids (the served prefix first, then the ranked list), counted in typed
      // arrays over the last windowSize−1 items of the sequence as it grows: each candidate check is two array reads
      // (capBrokenByAppend's answer), and a long run of blocked candidates is rechecked for every slot.
      const keys = internKeys([...sequence, ...ranked.map((c) => c.video)]);
      const catCount = new Int32Array(keys.categories);
      const creCount = new Int32Array(keys.creators);
      /** Key position of sequence item s: served prefix items, then ranked items by their index. */
      const keyAt: number[] = [];
      const bump = (k: number, d: number): void => {
        catCount[keys.category[k]] += d;
        creCount[keys.creator[k]] += d;
      };
      for (let i = 0; i < prefix; i++) {
        keyAt.push(i);
        bump(i, 1);
      }
      const fits = (k: number): boolean => creCount[keys.creator[k]] + 1 <= caps.maxPerCreator && catCount[keys.category[k]] + 1 <= caps.maxPerCategory;
      // Taken items are marked, not spliced out: the scan for the next slot starts at the first untaken item, and
      // no array is shifted per slot (a 500-item list would otherwise move ~125k entries per request).
      const taken = new Uint8Array(ranked.length);
      let first = 0;
      for (;;) {
        while (first < ranked.length && taken[first]) first++;
        let i = first;
        for (; i < ranked.length; i++) if (!taken[i] && fits(prefix + i)) break;
        if (i >= ranked.length) break;
        taken[i] = 1;
        kept.push(ranked[i]);
        sequence.push(ranked[i].video);
        keyAt.push(prefix + i);
        bump(prefix + i, 1);
        // The window for the next append holds the last windowSize−1 items.
        if (keyAt.length > caps.windowSize - 1) bump(keyAt[keyAt.length - caps.windowSize], -1);
      }
      const removed: Removal<ScoredCandidate>[] = [];
      for (let i = 0; i < ranked.length; i++) {
        if (!taken[i]) removed.push({ candidate: ranked[i], reason: capBrokenByAppend(sequence, ranked[i].video, caps) ?? "category_cap" });
      }
      return { kept, removed };
    },
  };
}

/** The Diversity stage as the pipeline registers it: config entries name it "Diversity". */
export const diversityStage = defineStage({ name: "Diversity", phase: "arrange", options: schema, create: createDiversityStage });
