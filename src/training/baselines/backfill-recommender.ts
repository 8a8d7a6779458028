/**
 * Backfill: the primary model's list, topped up from a fallback when it returns fewer than k items. Personalised
 * models (item-KNN, EASE) have nothing to say about a user with no training history, and a real feed never
 * returns an empty page: serving backfills from trending, so an honest offline comparison on all users does too.
 * Evaluating a model both bare and backfilled separates "how good is its personalisation" (warm users) from
 * "how good is the feed it would serve" (everyone).
 */
import type { Interactions, Recommender } from "./recommender";

/** Options for {@link createBackfillRecommender}. */
export interface BackfillRecommenderOptions {
  primary: Recommender;
  fallback: Recommender;
  /** Report key. @default `${primary.name}+${fallback.name}` */
  name?: string;
}

export function createBackfillRecommender(options: BackfillRecommenderOptions): Recommender {
  const { primary, fallback, name = `${primary.name}+${fallback.name}` } = options;
  return {
    name,
    async fit(train: Interactions) {
      await primary.fit(train);
      await fallback.fit(train);
    },
    recommend(userId: string, k: number, exclude: ReadonlySet<string>) {
      const list = primary.recommend(userId, k, exclude);
      if (list.length >= k) return list;
      const taken = new Set<string>([...exclude, ...list]);
      const out = [...list];
      for (const id of fallback.recommend(userId, k + list.length, taken)) {
        if (out.length >= k) break;
        if (!taken.has(id)) {
          taken.add(id);
          out.push(id);
        }
      }
      return out;
    },
  };
}
