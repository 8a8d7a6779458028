/**
 * Item-based nearest neighbours (Sarwar et al. 2001; Deshpande & Karypis 2004): items are similar when the same
 * users interacted with them (cosine over user vectors), each item keeps only its top-N neighbours, and a user's
 * score for a candidate is the sum of its similarities to the items in the user's history.
 *
 * Scoring walks the neighbour lists of the user's own items (candidate i scores sim(j, i) for each history item j
 * that has i among its top-N), which touches |history| · N entries instead of the whole catalog.
 */
import { badInput, ReelfeedError } from "../../errors";
import { buildInteractionMatrix, type InteractionMatrix } from "./interaction-matrix";
import type { Interactions, Recommender } from "./recommender";
import { topKIndices } from "./top-k";

/** Options for {@link createItemKnnRecommender}. */
export interface ItemKnnRecommenderOptions {
  /** Report key. @default "itemKnn" */
  name?: string;
  /** Neighbours kept per item. @default 100 */
  neighbors?: number;
  /**
   * Added to the cosine denominator: damps similarities supported by few co-occurrences, which are mostly noise.
   * @default 10
   */
  shrink?: number;
  /** Treat every present (user, item) pair as 1, ignoring weights. @default true */
  binary?: boolean;
}

interface Fitted {
  matrix: InteractionMatrix;
  nbrPtr: Uint32Array;
  nbrIdx: Uint32Array;
  nbrSim: Float64Array;
}

export function createItemKnnRecommender(options: ItemKnnRecommenderOptions = {}): Recommender & {
  /** The fitted neighbours of a video, best first (for tests and explanations). */
  neighbors(videoId: string): Array<{ videoId: string; similarity: number }>;
} {
  const { name = "itemKnn", neighbors = 100, shrink = 10, binary = true } = options;
  if (!Number.isInteger(neighbors) || neighbors <= 0) throw badInput("neighbors", `must be a positive integer, got ${neighbors}`);
  if (!(shrink >= 0)) throw badInput("shrink", `must be ≥ 0, got ${shrink}`);
  let fitted: Fitted | undefined;

  const need = (): Fitted => {
    if (!fitted) throw new ReelfeedError("INTERNAL", `${name}: recommend() called before fit()`);
    return fitted;
  };

  return {
    name,
    fit(train: Interactions) {
      const m = buildInteractionMatrix(train, { binary });
      const nItems = m.itemIds.length;
      const norms = new Float64Array(nItems);
      for (let i = 0; i < nItems; i++) {
        let s = 0;
        for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) s += m.itemValues[q] * m.itemValues[q];
        norms[i] = Math.sqrt(s);
      }
      const acc = new Float64Array(nItems);
      const touched = new Uint32Array(nItems);
      const nbrPtr = new Uint32Array(nItems + 1);
      const idx: number[] = [];
      const sim: number[] = [];
      for (let i = 0; i < nItems; i++) {
        // Co-occurrence of i with every item sharing a user, via i's users and their rows.
        let nTouched = 0;
        for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) {
          const u = m.usersOfItem[q];
          const vi = m.itemValues[q];
          for (let r = m.userPtr[u]; r < m.userPtr[u + 1]; r++) {
            const j = m.itemsOfUser[r];
            if (j === i) continue;
            if (acc[j] === 0) touched[nTouched++] = j;
            acc[j] += vi * m.userValues[r];
          }
        }
        const cand = new Float64Array(nTouched);
        for (let t = 0; t < nTouched; t++) {
          const j = touched[t];
          cand[t] = acc[j] / (norms[i] * norms[j] + shrink);
        }
        for (const t of topKIndices(cand, neighbors, undefined, 0)) {
          idx.push(touched[t]);
          sim.push(cand[t]);
        }
        for (let t = 0; t < nTouched; t++) acc[touched[t]] = 0;
        nbrPtr[i + 1] = idx.length;
      }
      fitted = { matrix: m, nbrPtr, nbrIdx: Uint32Array.from(idx), nbrSim: Float64Array.from(sim) };
    },
    recommend(userId: string, k: number, exclude: ReadonlySet<string>) {
      const { matrix: m, nbrPtr, nbrIdx, nbrSim } = need();
      const u = m.userIndex.get(userId);
      if (u === undefined || k <= 0) return [];
      const scores = new Float64Array(m.itemIds.length);
      for (let q = m.userPtr[u]; q < m.userPtr[u + 1]; q++) {
        const j = m.itemsOfUser[q];
        const w = m.userValues[q];
        for (let t = nbrPtr[j]; t < nbrPtr[j + 1]; t++) scores[nbrIdx[t]] += w * nbrSim[t];
      }
      return topKIndices(scores, k, (i) => exclude.has(m.itemIds[i]), 0).map((i) => m.itemIds[i]);
    },
    neighbors(videoId: string) {
      const { matrix: m, nbrPtr, nbrIdx, nbrSim } = need();
      const i = m.itemIndex.get(videoId);
      if (i === undefined) return [];
      const out: Array<{ videoId: string; similarity: number }> = [];
      for (let t = nbrPtr[i]; t < nbrPtr[i + 1]; t++) out.push({ videoId: m.itemIds[nbrIdx[t]], similarity: nbrSim[t] });
      return out;
    },
  };
}
