import { badInput } from "../errors";
import { DEFAULT_NEIGHBOUR_HALF_LIFE, type ItemNeighbours } from "../features/item-neighbours";
import { DEFAULT_EASE_MAX_ITEMS, fitEase } from "./baselines/ease-recommender";
import type { Interactions } from "./baselines/recommender";

/** Options of {@link fitItemNeighbours}. */
export interface ItemNeighboursFitOptions {
  /** Neighbours kept per video (the strongest positive weights of its EASE row). @default 100 */
  k?: number;
  /** EASE regularisation. @default 200 */
  lambda?: number;
  /** Videos in the model, most engaged first (EASE's fit is O(n³)). @default DEFAULT_EASE_MAX_ITEMS */
  maxItems?: number;
  /** History half-life in positions (item-neighbours.ts). @default DEFAULT_NEIGHBOUR_HALF_LIFE */
  halfLife?: number;
}

/**
 * Item-to-item neighbours from an EASE model (Steck 2019): row i of B says how much having engaged with i raises
 * each other video's score, with the popularity of both already accounted for by the closed-form fit. Keeping the
 * k strongest positive weights per row makes serving one sparse pass over the history (item-neighbours.ts), and
 * on MovieLens-small the truncated model ranks as well as the full one (docs/training.md).
 */
export function fitItemNeighbours(train: Interactions, options: ItemNeighboursFitOptions = {}): ItemNeighbours {
  const { k = 100, lambda = 200, maxItems = DEFAULT_EASE_MAX_ITEMS, halfLife = DEFAULT_NEIGHBOUR_HALF_LIFE } = options;
  if (!Number.isInteger(k) || k <= 0) throw badInput("k", `must be a positive integer, got ${k}`);
  if (!(halfLife > 0)) throw badInput("halfLife", `must be > 0, got ${halfLife}`);
  if (train.length === 0) {
    return { itemIds: [], index: new Map(), offsets: new Uint32Array(1), targets: new Uint32Array(0), weights: new Float32Array(0), halfLife };
  }
  const ease = fitEase(train, { lambda, maxItems });
  const n = ease.itemIds.length;
  const offsets = new Uint32Array(n + 1);
  const targets: number[] = [];
  const weights: number[] = [];
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const row = ease.weights.subarray(i * n, (i + 1) * n);
    let m = 0;
    for (let j = 0; j < n; j++) if (row[j] > 0) order[m++] = j;
    const kept = Array.from(order.subarray(0, m)).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
    for (const j of kept) {
      targets.push(j);
      weights.push(row[j]);
    }
    offsets[i + 1] = targets.length;
  }
  return { itemIds: ease.itemIds, index: ease.itemIndex, offsets, targets: Uint32Array.from(targets), weights: Float32Array.from(weights), halfLife };
}
