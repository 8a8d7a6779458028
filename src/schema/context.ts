import { guardIngestor } from "../auth/guarded-ingestor";
import { OPEN_DEVELOPMENT, type Principal } from "../auth/principal";
import type { ReelfeedConfig } from "../config";
import type { CatalogWriter } from "../catalog/catalog-writer";
import type { Catalog } from "../data/catalog";
import { ReelfeedError } from "../errors";
import type { EventIngestor } from "../events/ingestor";
import type { ExperimentsAdmin } from "../experiments/admin";
import type { FeedService } from "../pipeline/feed-page";
import type { EventsContext } from "./events-resolver";
import type { ServerMetrics } from "./metrics";

/** The services the schema's resolvers call. Resolvers stay thin: they map arguments, call these, map back. */
export interface ReelfeedServices {
  feed: FeedService;
  catalog: Catalog;
  /** Event ingestion (the `recordEvents` mutation); absent on a read-only server. */
  ingestor?: EventIngestor;
  /** The live-catalogue writes (upsertVideos, removeVideos, ...); absent: they answer UNAVAILABLE. */
  catalogWriter?: CatalogWriter;
  /** Experiment reports (the admin `experimentReport` query); absent: it answers UNAVAILABLE. */
  experiments?: ExperimentsAdmin;
}

/** Per-request GraphQL context (`@Ctx() ctx: ReelfeedContext`). */
export interface ReelfeedContext extends EventsContext {
  services: ReelfeedServices;
  config: ReelfeedConfig;
  metrics: ServerMetrics;
  /** Unique per HTTP request; echoed in logs for errors whose details are withheld from the client. */
  requestId: string;
  /** Who is asking (src/auth): the operation guard has checked every root field against it before execution. */
  principal: Principal;
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
  /** @default the open development principal (a server without auth, and schema tests) */
  principal: Principal = OPEN_DEVELOPMENT,
): ReelfeedContext {
  // A user token's ingestor refuses events for other users: the second line behind the operation guard.
  return { services, config, metrics, requestId, principal, ingestor: guardIngestor(services.ingestor ?? NO_INGESTOR, principal) };
}
