import type { ReelfeedConfig } from "../config";
import type { Catalog } from "../data/catalog";
import { ReelfeedError } from "../errors";
import type { EventIngestor } from "../events/ingestor";
import type { FeedService } from "../pipeline/feed-page";
import type { EventsContext } from "./events-resolver";
import type { ServerMetrics } from "./metrics";

/** The services the schema's resolvers call. Resolvers stay thin: they map arguments, call these, map back. */
export interface ReelfeedServices {
  feed: FeedService;
  catalog: Catalog;
  /** Event ingestion (the `recordEvents` mutation); absent on a read-only server. */
  ingestor?: EventIngestor;
}

/** Per-request GraphQL context (`@Ctx() ctx: ReelfeedContext`). */
export interface ReelfeedContext extends EventsContext {
  services: ReelfeedServices;
  config: ReelfeedConfig;
  metrics: ServerMetrics;
  /** Unique per HTTP request; echoed in logs for errors whose details are withheld from the client. */
  requestId: string;
}

/**
 * The schema is the same on every deployment (the committed schema.graphql is the contract), so a server without
 * ingestion still has `recordEvents`; it answers UNAVAILABLE instead of disappearing from the schema.
 */
const NO_INGESTOR: EventIngestor = {
  ingest: () => Promise.reject(new ReelfeedError("UNAVAILABLE", "event ingestion is not enabled on this server")),
};

export function createContext(
  services: ReelfeedServices,
  config: ReelfeedConfig,
  metrics: ServerMetrics,
  requestId: string,
): ReelfeedContext {
  return { services, config, metrics, requestId, ingestor: services.ingestor ?? NO_INGESTOR };
}
