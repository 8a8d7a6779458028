/**
 * Most-popular baseline: every user gets the same list, the videos with the most (optionally time-decayed)
 * interaction weight in training. Any personalised model has to beat this to be worth serving.
 */
import { badInput, ReelfeedError } from "../../errors";
import type { Interactions, Recommender } from "./recommender";

/** Options for {@link createPopularityRecommender}. */
export interface PopularityRecommenderOptions {
  /** Report key. @default "popularity" */
  name?: string;
  /**
   * Half-life in days of an interaction's weight, measured back from the latest training interaction, so recent
   * popularity counts more (what a trending shelf does). Undefined: plain counts.
   * @default undefined
   */
  halfLifeDays?: number;
}

const DAY_MS = 86_400_000;

export function createPopularityRecommender(options: PopularityRecommenderOptions = {}): Recommender {
  const { name = "popularity", halfLifeDays } = options;
  if (halfLifeDays !== undefined && !(halfLifeDays > 0)) {
    throw badInput("halfLifeDays", `must be > 0, got ${halfLifeDays}`);
  }
  let ranked: string[] | undefined;
  return {
    name,
    fit(train: Interactions) {
      let latest = -Infinity;
      for (const r of train) latest = Math.max(latest, r.ts);
      const score = new Map<string, number>();
      for (const r of train) {
        const w = r.weight ?? 1;
        const decay = halfLifeDays === undefined ? 1 : Math.pow(0.5, (latest - r.ts) / (halfLifeDays * DAY_MS));
        score.set(r.videoId, (score.get(r.videoId) ?? 0) + w * decay);
      }
      // Ties broken by id so the list is the same on every run.
      ranked = [...score.entries()]
        .filter(([, s]) => s > 0)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .map(([id]) => id);
    },
    recommend(_userId: string, k: number, exclude: ReadonlySet<string>) {
      if (!ranked) throw new ReelfeedError("INTERNAL", `${name}: recommend() called before fit()`);
      const out: string[] = [];
      for (const id of ranked) {
        if (out.length >= k) break;
        if (!exclude.has(id)) out.push(id);
      }
      return out;
    },
  };
}
