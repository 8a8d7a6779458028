import { z } from "zod";
import type { Video } from "../data/types";
import { DAY_MS } from "../features/aggregates";
import { defineStage } from "../pipeline/components";
import { parseOptions } from "../pipeline/options";
import { withScore, type RerankStage } from "../pipeline/types";
import { seededRandom } from "../util/random";
import { createWindowCounter, DEFAULT_CAPS, internKeys } from "./caps";

/** Options of the exploration stage. */
export interface ExplorationStageOptions {
  /**
   * Share of slots given to exploration: one slot in every round(1/share). 0 turns it off. @default 0.05 (one in
   * 20: at 0.1 exploration alone cost 2.6 % of warm users' NDCG@20 on MovieLens, at 0.05 about 1 %)
   */
  share?: number;
  /** Items ranked at or after this position form the exploration pool (half the list when it is shorter). @default 20 */
  poolStart?: number;
  /** A pool item uploaded within this many days is preferred ("fresh"); otherwise a good one is drawn at random. @default 14 */
  freshDays?: number;
  /** A "random-good" draw is among the best this many remaining pool items. @default 30 */
  goodPoolSize?: number;
  /** Explicit seed; by default the session id (or user and request time), so a session is reproducible. */
  seed?: string;
  /** Diversity caps an exploration move must keep (same meaning and defaults as the Diversity stage's). */
  windowSize?: number;
  maxPerCategory?: number;
  maxPerCreator?: number;
}

const schema = z
  .object({
    share: z.number().min(0).max(0.5).default(0.05),
    poolStart: z.number().int().min(1).default(20),
    freshDays: z.number().positive().default(14),
    goodPoolSize: z.number().int().min(1).default(30),
    seed: z.string().optional(),
    windowSize: z.number().int().min(2).default(DEFAULT_CAPS.windowSize),
    maxPerCategory: z.number().int().min(1).default(DEFAULT_CAPS.maxPerCategory),
    maxPerCreator: z.number().int().min(1).default(DEFAULT_CAPS.maxPerCreator),
  })
  .strict();

/**
 * Gives a share of the slots to items the ranker would have buried: in every block of round(1/share) slots, one
 * slot (at a seeded position) swaps its item with one from deep in the ranked list, preferring fresh uploads,
 * else one drawn among the best remaining deep items (a swap, not an insertion: it touches two positions only, so
 * the caps are checked locally and the rest of the arranged list stays as it was). Moved items are marked EXPLORATION {kind, from}, so their outcomes
 * can be told apart in training (they are the unbiased sample). Deterministic per session seed. A move that would
 * break the diversity caps is not made: exploration widens the feed, it never narrows it.
 */
export function createExplorationStage(options: ExplorationStageOptions = {}): RerankStage {
  const opts = parseOptions("Exploration", schema, options);
  return {
    name: "Exploration",
    apply(query, ranked, ctx) {
      const n = ranked.length;
      if (opts.share === 0 || n < 2) return { kept: [...ranked], removed: [] };
      const seed = opts.seed ?? ctx.sessionId;
      // servedEarlier's length keeps a continuation (a later fill) from replaying the first page's choices.
      const random = seededRandom(`${seed}#${ctx.servedEarlier.length}`);
      const every = Math.max(2, Math.round(1 / opts.share));
      const poolStart = Math.min(opts.poolStart, Math.floor(n / 2));
      const freshSince = query.context.now - opts.freshDays * DAY_MS;
      const prefix: Video[] = ctx.servedEarlier.slice(-(opts.windowSize - 1));
      const list = [...ranked];
      // Pool membership by position, swapped along with the items (a typed-array read per check, not a set lookup).
      const inPool = new Uint8Array(list.length);
      inPool.fill(1, poolStart);
      const off = prefix.length;
      const length = off + list.length;
      // The served prefix followed by the list, as dense category / creator ids: a swap is checked by sliding one
      // window over the positions it touches (caps.ts), with no string compares and no allocation per attempt.
      const keys = internKeys([...prefix, ...list.map((c) => c.video)]);
      const counter = createWindowCounter(keys, opts);
      const touched = (a: number, b: number): number => counter.violationsAround(off + a, length) + counter.violationsAround(off + b, length);
      // Scratch buffers for every block, allocated once: arrays emptied and refilled per block re-grew their backing
      // stores each time (most of this stage's garbage).
      const eligible = new Int32Array(list.length);
      const fresh = new Int32Array(list.length);
      const r = new Float64Array(list.length);
      for (let blockStart = 0; blockStart < list.length; blockStart += every) {
        const slot = blockStart + Math.floor(random() * every);
        if (slot >= list.length) break;
        // Positions, not items: a refused swap is undone, so they stay valid for the whole block.
        let eligibleCount = 0;
        let freshCount = 0;
        for (let i = slot + 1; i < list.length; i++) {
          if (!inPool[i]) continue;
          eligible[eligibleCount++] = i;
          const up = list[i].video.uploadedAt;
          if (up >= freshSince && up <= query.context.now) fresh[freshCount++] = i;
        }
        if (eligibleCount === 0) break;
        const kind = freshCount ? "fresh" : "random";
        const draw = freshCount ? fresh : eligible;
        const drawCount = freshCount || Math.min(eligibleCount, opts.goodPoolSize);
        // Picks in seeded random order; the first whose swap keeps the caps wins. Every pick gets its draw up front
        // (the seeded sequence must not depend on how soon a pick is accepted); the order is then read lazily —
        // smallest draw first, ties by list order like the stable sort it replaces — since the first pick
        // usually wins and sorting hundreds of fresh items per block was most of this stage's cost.
        for (let j = 0; j < drawCount; j++) r[j] = random();
        for (let attempt = 0; attempt < drawCount; attempt++) {
          let best = -1;
          for (let j = 0; j < drawCount; j++) if (r[j] >= 0 && (best < 0 || r[j] < r[best])) best = j;
          r[best] = -1;
          const from = draw[best];
          const pick = list[from];
          // Only windows touching the two swapped positions change: the swap must not add a violation there.
          // Checked by swapping in place (and back when refused): no copy of the list per attempt.
          const before = touched(slot, from);
          list[from] = list[slot];
          list[slot] = pick;
          counter.swap(off + slot, off + from);
          if (touched(slot, from) > before) {
            list[slot] = list[from];
            list[from] = pick;
            counter.swap(off + slot, off + from);
            continue;
          }
          // The item that moved down keeps its membership; the pick, now at the slot, leaves the pool.
          inPool[from] = inPool[slot];
          inPool[slot] = 0;
          list[slot] = withScore(pick, pick.score, { code: "EXPLORATION", params: { kind, from: pick.reason.code } });
          break;
        }
      }
      return { kept: list, removed: [] };
    },
  };
}

/** The Exploration stage as the pipeline registers it: config entries name it "Exploration". */
export const explorationStage = defineStage({ name: "Exploration", phase: "explore", options: schema, create: createExplorationStage });
