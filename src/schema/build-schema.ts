import "reflect-metadata";
import type { GraphQLSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { CatalogMutationsResolver } from "./catalog-mutations";
import { CatalogResolver } from "./catalog-resolver";
import { DashboardResolver } from "./dashboard-resolver";
import { EventsResolver } from "./events-resolver";
import { ExperimentsResolver } from "./experiments-resolver";
import { FeedResolver } from "./feed-resolver";
import { ModelsResolver } from "./models-resolver";

/**
 * The public schema. Its printed form is committed as /schema.graphql; tests fail when the two differ and list
 * any breaking change against it, so a partner-facing change is always a deliberate, reviewed diff.
 */
export async function buildReelfeedSchema(): Promise<GraphQLSchema> {
  // validate: false — arguments are checked in the resolvers (validation.ts), not by class-validator.
  return buildSchema({ resolvers: [FeedResolver, CatalogResolver, EventsResolver, CatalogMutationsResolver, ExperimentsResolver, DashboardResolver, ModelsResolver], validate: false });
}
