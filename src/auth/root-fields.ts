import type { GraphQLSchema } from "graphql";
import { ReelfeedError } from "../errors";
import type { Scope } from "./scopes";

/**
 * Every root field of the public schema, with who may call it and what it costs — one table, read before any
 * resolver runs (operation-guard.ts). A root field added to the schema without a row here stops the server at
 * start-up (checkRootFieldRules): a new field is never reachable by accident.
 *
 * Cost units are roughly milliseconds of CPU. A `feed` field ranks `ranking.candidatesToRank` candidates (500 by
 * default, ~11 ms of CPU per ranked request in docs/benchmarks.md), so it costs candidatesToRank / 50; lookups
 * and the precomputed lists cost 1.
 */

export type Args = Record<string, unknown>;

export interface CostInputs {
  /** config.ranking.candidatesToRank */
  candidatesToRank: number;
}

export interface RootFieldRule {
  /** The scope an API key needs (a user token holds feed:read and events:write). */
  scope: Scope;
  /** Further scopes some argument values need, e.g. `debug: true` → "debug". */
  extraScopes?: (args: Args) => Array<{ scope: Scope; what: string }>;
  /** The user ids the call acts for, with the argument each came from: a user token must be each of them. */
  actsFor?: (args: Args) => Array<{ userId: unknown; argument: string }>;
  cost: (args: Args, inputs: CostInputs) => number;
}

const listLength = (v: unknown): number => (Array.isArray(v) ? v.length : 0);

export const feedCost = (inputs: CostInputs): number => Math.max(1, Math.ceil(inputs.candidatesToRank / 50));

export const ROOT_FIELD_RULES: { Query: Record<string, RootFieldRule>; Mutation: Record<string, RootFieldRule> } = {
  Query: {
    feed: {
      scope: "feed:read",
      // Traces expose scores, the model version and every filtered candidate, and a preview records nothing (no
      // impression, no served mark): operators only.
      extraScopes: (args) => [
        ...(args.debug === true ? [{ scope: "debug" as const, what: "feed(debug: true)" }] : []),
        ...(args.preview === true ? [{ scope: "debug" as const, what: "feed(preview: true)" }] : []),
      ],
      actsFor: (args) => [{ userId: args.userId, argument: "userId" }],
      cost: (_args, inputs) => feedCost(inputs),
    },
    similarVideos: { scope: "feed:read", cost: () => 2 },
    trending: { scope: "feed:read", cost: () => 1 },
    video: { scope: "feed:read", cost: () => 1 },
    // A public profile (no watch history): readable with feed:read, for any user.
    user: { scope: "feed:read", cost: () => 1 },
    // Experiment results: operators only (src/schema/experiments-resolver.ts); reads counters, no ranking.
    experimentReport: { scope: "admin", cost: () => 2 },
    // The operator dashboard's reads (src/schema/dashboard-resolver.ts, models-resolver.ts): operators only. A search
    // scans the catalogue (a few ms on 100k videos); a snapshot renders the metrics registry; models reads report files.
    searchVideos: { scope: "admin", cost: () => 2 },
    searchUsers: { scope: "admin", cost: () => 1 },
    experiments: { scope: "admin", cost: () => 1 },
    featureDrift: { scope: "admin", cost: () => 1 },
    metricsSnapshot: { scope: "admin", cost: () => 1 },
    models: { scope: "admin", cost: () => 2 },
  },
  Mutation: {
    recordEvents: {
      scope: "events:write",
      actsFor: (args) => (Array.isArray(args.events) ? args.events : []).map((e, i) => ({ userId: (e as Args)?.userId, argument: `events.${i}.userId` })),
      cost: (args) => 1 + Math.floor((Array.isArray(args.events) ? args.events.length : 0) / 100),
    },
    // The live catalogue (src/catalog): API keys with catalog:write only (a user token never holds it). A video costs
    // more than an event: it is embedded (content model + ONNX video tower) before the answer.
    upsertVideos: { scope: "catalog:write", cost: (args) => 1 + Math.floor(listLength(args.videos) / 20) },
    removeVideos: { scope: "catalog:write", cost: (args) => 1 + Math.floor(listLength(args.ids) / 100) },
    upsertUsers: { scope: "catalog:write", cost: (args) => 1 + Math.floor(listLength(args.users) / 100) },
    upsertCreators: { scope: "catalog:write", cost: (args) => 1 + Math.floor(listLength(args.creators) / 100) },
    // The model registry (src/schema/models-resolver.ts): what is served to everyone, so operators only.
    activateModel: { scope: "admin", cost: () => 2 },
    rollbackModel: { scope: "admin", cost: () => 2 },
  },
};

/** Introspection root fields: any caller who got past authentication; Apollo's `introspection` switch decides. */
export const INTROSPECTION_COST: Record<string, number> = { __schema: 5, __type: 1, __typename: 0 };

/** Start-up check: every root field of `schema` has a rule (and no rule names a field that is gone). */
export function checkRootFieldRules(schema: GraphQLSchema): void {
  for (const [typeName, type] of [["Query", schema.getQueryType()], ["Mutation", schema.getMutationType()]] as const) {
    const rules = ROOT_FIELD_RULES[typeName];
    const fields = Object.keys(type?.getFields() ?? {});
    const missing = fields.filter((f) => !(f in rules));
    if (missing.length > 0) {
      throw new ReelfeedError("INTERNAL", `${typeName}.${missing[0]} has no access rule: add one to ROOT_FIELD_RULES in src/auth/root-fields.ts`, {
        field: `${typeName}.${missing[0]}`,
      });
    }
  }
}
