import type { ReelfeedConfig } from "../config";
import type { Catalog } from "../data/catalog";
import type { EventIngestor } from "../events/ingestor";
import type { FeedService } from "../pipeline/feed-page";
import type { ServerMetrics } from "./metrics";

/** The services the schema's resolvers call. Resolvers stay thin: they map arguments, call these, map back. */
export interface ReelfeedServices {
  feed: FeedService;
  catalog: Catalog;
  /** Event ingestion (the `recordEvents` mutation); absent on a read-only server. */
  ingestor?: EventIngestor;
}

/** Per-request GraphQL context (`@Ctx() ctx: ReelfeedContext`). */
export interface ReelfeedContext {
  services: ReelfeedServices;
  config: ReelfeedConfig;
  metrics: ServerMetrics;
  /** Unique per HTTP request; echoed in logs for errors whose details are withheld from the client. */
  requestId: string;
}
