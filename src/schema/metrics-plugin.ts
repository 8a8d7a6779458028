import type { ApolloServerPlugin } from "@apollo/server";
import { Kind, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import type { ReelfeedContext } from "./context";
import type { ServerMetrics } from "./metrics";

/**
 * Labels a GraphQL operation by the root fields it selects ("feed", "similarVideos+video"), never by the
 * client-chosen operation name: names are unbounded, the schema's root fields are not.
 */
export function operationLabel(schema: GraphQLSchema, operation: OperationDefinitionNode | undefined): string {
  if (!operation) return "invalid";
  const root =
    operation.operation === "query"
      ? schema.getQueryType()
      : operation.operation === "mutation"
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  const known = new Set(Object.keys(root?.getFields() ?? {}));
  const names = new Set<string>();
  let introspection = false;
  for (const sel of operation.selectionSet.selections) {
    if (sel.kind !== Kind.FIELD) {
      names.add("fragment");
      continue;
    }
    const name = sel.name.value;
    if (name.startsWith("__")) introspection = true;
    else names.add(known.has(name) ? name : "unknown");
  }
  if (names.size === 0) return introspection ? "introspection" : "unknown";
  return [...names].sort().join("+");
}

/** Request counts and latency per operation label, with outcome "error" when the response carries any error. */
export function createMetricsPlugin(schema: GraphQLSchema, metrics: ServerMetrics): ApolloServerPlugin<ReelfeedContext> {
  return {
    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse(rc) {
          const operation = operationLabel(schema, rc.operation);
          const body = rc.response.body;
          const failed = (rc.errors?.length ?? 0) > 0 || (body.kind === "single" && (body.singleResult.errors?.length ?? 0) > 0);
          metrics.graphqlRequests.inc({ operation, outcome: failed ? "error" : "ok" });
          metrics.graphqlDuration.observe({ operation }, (performance.now() - started) / 1000);
        },
      };
    },
  };
}
