/**
 * The contract every offline recommender meets (the classical baselines here, and adapters around the two-tower
 * model), plus the interaction data they are fitted on.
 *
 * Interactions are a flat list of (user, video, time, weight) rows rather than a matrix type: importers, the time
 * split and positive rules all produce rows, and each model builds the index it needs (see interaction-matrix.ts).
 */
import type { PositiveInteraction } from "../split";

/** One observed user → video interaction used for fitting. */
export interface Interaction {
  userId: string;
  videoId: string;
  /** Epoch ms; used by time-decayed popularity. */
  ts: number;
  /** Strength of the signal; models that use it treat a missing weight as 1. Repeated pairs add up. */
  weight?: number;
}

export type Interactions = readonly Interaction[];

export interface Recommender {
  /** Stable camelCase identity used as the model's key in reports ("popularity", "itemKnn", ...). */
  readonly name: string;
  /** Learns from the training interactions, replacing whatever an earlier fit learned. */
  fit(train: Interactions): void | Promise<void>;
  /**
   * Returns at most `k` distinct video ids, best first, none of them in `exclude`. Never throws for a user it has
   * not seen: it returns what it can for them (possibly []). Calling it before `fit` is a bug and throws.
   */
  recommend(userId: string, k: number, exclude: ReadonlySet<string>): string[];
}

/** Interactions from positive events (see positiveInteractions in ../split), each with weight 1. */
export function interactionsFromPositives(positives: readonly PositiveInteraction[]): Interaction[] {
  return positives.map((p) => ({ userId: p.userId, videoId: p.videoId, ts: p.ts, weight: 1 }));
}
