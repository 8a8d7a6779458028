export { createTwoTowerSource, twoTowerSource, type TwoTowerSourceOptions } from "./two-tower-source";
export { createMultiQuerySource, multiQuerySource, type MultiQuerySourceOptions } from "./multi-query-source";
export { createContentSource, contentSource, type ContentSourceOptions } from "./content-source";
export { createTrendingSource, trendingSource, type TrendingSourceOptions } from "./trending-source";
export { createSocialSource, socialSource, type SocialSourceOptions } from "./social-source";
export { createSubscriptionsSource, subscriptionsSource, type SubscriptionsSourceOptions } from "./subscriptions-source";
export { createFreshSource, freshSource, type FreshSourceOptions } from "./fresh-source";
export { fetchPopular, type PopularOptions } from "./popular";
export { createNeighboursSource, neighboursSource, type NeighboursSourceOptions } from "./neighbours-source";

import { contentSource } from "./content-source";
import { freshSource } from "./fresh-source";
import { multiQuerySource } from "./multi-query-source";
import { neighboursSource } from "./neighbours-source";
import { socialSource } from "./social-source";
import { subscriptionsSource } from "./subscriptions-source";
import { trendingSource } from "./trending-source";
import { twoTowerSource } from "./two-tower-source";

/** The built-in candidate sources, registered under their names; config lists which run, with their settings. */
export const BUILTIN_SOURCES = [
  neighboursSource,
  twoTowerSource,
  multiQuerySource,
  contentSource,
  trendingSource,
  socialSource,
  subscriptionsSource,
  freshSource,
] as const;
