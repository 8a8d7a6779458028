export { createTwoTowerSource, type TwoTowerSourceOptions } from "./two-tower-source";
export { createMultiQuerySource, type MultiQuerySourceOptions } from "./multi-query-source";
export { createContentSource, type ContentSourceOptions } from "./content-source";
export { createTrendingSource, type TrendingSourceOptions } from "./trending-source";
export { createSocialSource, type SocialSourceOptions } from "./social-source";
export { createSubscriptionsSource, type SubscriptionsSourceOptions } from "./subscriptions-source";
export { createFreshSource, type FreshSourceOptions } from "./fresh-source";
export { fetchPopular, type PopularOptions } from "./popular";
