import { ApolloServer } from "@apollo/server";
import type { GraphQLFormattedError } from "graphql";
import { configSchema, type ReelfeedConfig } from "../../src/config";
import { buildReelfeedSchema } from "../../src/schema/build-schema";
import { createContext, type ReelfeedContext, type ReelfeedServices } from "../../src/schema/context";
import { createFormatError } from "../../src/schema/format-error";
import { createServerMetrics, type ServerMetrics } from "../../src/schema/metrics";

/**
 * Runs operations through a real ApolloServer (formatError included) without HTTP: the schema tests check what a
 * client would receive, error shapes and all. The HTTP path is covered in test/integration.
 */
export interface Harness {
  exec(query: string, variables?: Record<string, unknown>, services?: Partial<ReelfeedServices>): Promise<ExecResult>;
  metrics: ServerMetrics;
  config: ReelfeedConfig;
  /** Errors withheld from clients and logged instead. */
  logged: unknown[];
  stop(): Promise<void>;
}

export interface ExecResult {
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLFormattedError[];
}

export async function createHarness(services: ReelfeedServices, overrides: Record<string, unknown> = {}): Promise<Harness> {
  const config = configSchema.parse(overrides);
  const logged: unknown[] = [];
  const metrics = createServerMetrics();
  const apollo = new ApolloServer<ReelfeedContext>({
    schema: await buildReelfeedSchema(),
    includeStacktraceInErrorResponses: false,
    formatError: createFormatError({ log: (_m, e) => logged.push(e) }),
  });
  await apollo.start();
  return {
    metrics,
    config,
    logged,
    async exec(query, variables, extra = {}) {
      const res = await apollo.executeOperation(
        { query, variables },
        { contextValue: createContext({ ...services, ...extra }, config, metrics, "test-request") },
      );
      if (res.body.kind !== "single") throw new Error("expected a single result");
      // Through JSON, as a client receives it (scalars serialised, no class instances).
      return JSON.parse(JSON.stringify(res.body.singleResult)) as ExecResult;
    },
    stop: () => apollo.stop(),
  };
}

/** The first error's code and argument, for compact assertions. */
export const errorOf = (r: ExecResult) => ({
  code: r.errors?.[0]?.extensions?.code,
  argument: r.errors?.[0]?.extensions?.argument,
});
