/**
 * Uniform random baseline: the floor every model must clear. Seeded, and the list for a user depends only on
 * (seed, userId, k, exclude), not on call order, so a report can be reproduced exactly.
 */
import { ReelfeedError } from "../../errors";
import type { Interactions, Recommender } from "./recommender";
import { seededRandom } from "../../util/random";

/** Options for {@link createRandomRecommender}. */
export interface RandomRecommenderOptions {
  /** Report key. @default "random" */
  name?: string;
  /** @default 42 */
  seed?: number;
  /**
   * The ids to draw from. Undefined: every video that appears in the training interactions.
   * @default undefined
   */
  catalog?: readonly string[];
}

/** FNV-1a over the user id, mixed with the seed: a per-user stream independent of call order. */
function userSeed(seed: number, userId: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function createRandomRecommender(options: RandomRecommenderOptions = {}): Recommender {
  const { name = "random", seed = 42, catalog } = options;
  let items: string[] | undefined;
  return {
    name,
    fit(train: Interactions) {
      items = catalog ? [...new Set(catalog)] : [...new Set(train.map((r) => r.videoId))];
      items.sort();
    },
    recommend(userId: string, k: number, exclude: ReadonlySet<string>) {
      if (!items) throw new ReelfeedError("INTERNAL", `${name}: recommend() called before fit()`);
      const rand = seededRandom(userSeed(seed, userId));
      // Partial Fisher–Yates over an index permutation: O(k + excluded ids drawn), no rejection loop.
      const n = items.length;
      const perm = new Uint32Array(n);
      for (let i = 0; i < n; i++) perm[i] = i;
      const out: string[] = [];
      for (let i = 0; i < n && out.length < k; i++) {
        const j = i + Math.floor(rand() * (n - i));
        const t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        const id = items[perm[i]];
        if (!exclude.has(id)) out.push(id);
      }
      return out;
    },
  };
}
