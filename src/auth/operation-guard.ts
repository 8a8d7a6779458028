import type { ApolloServerPlugin } from "@apollo/server";
import {
  getArgumentValues,
  getVariableValues,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import type { LimitsConfig } from "../config";
import { ReelfeedError } from "../errors";
import { toGraphQLError } from "./http-answers";
import { requireActsFor, requireScope, type Principal } from "./principal";
import { fragmentsOf, measureOperation } from "./query-shape";
import { INTROSPECTION_COST, ROOT_FIELD_RULES, type Args, type CostInputs } from "./root-fields";

/**
 * Decides a GraphQL operation before anything runs (Apollo's didResolveOperation: parsed, validated, operation
 * chosen, nothing executed): its shape (depth, aliases), then who may call each root field with these arguments,
 * then its cost. One refusal answers the whole request with its HTTP status; no resolver has started, so nothing
 * was ranked, read or recorded. Resolvers need no auth code of their own.
 */

export interface OperationGuardOptions {
  limits: LimitsConfig["query"];
  costInputs: CostInputs;
}

/** The principal Apollo's context carries (src/schema/context.ts). */
interface WithPrincipal {
  principal: Principal;
}

function tooComplex(measure: string, actual: number, limit: number): ReelfeedError {
  return new ReelfeedError("QUERY_TOO_COMPLEX", `query ${measure} ${actual} is over the limit of ${limit}`, { measure, actual, limit });
}

function rootFieldNodes(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, out: FieldNode[] = [], seen = new Set<string>()): FieldNode[] {
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) out.push(sel);
    else if (sel.kind === Kind.INLINE_FRAGMENT) rootFieldNodes(sel.selectionSet, fragments, out, seen);
    else if (!seen.has(sel.name.value)) {
      seen.add(sel.name.value);
      const fragment = fragments.get(sel.name.value);
      if (fragment) rootFieldNodes(fragment.selectionSet, fragments, out, seen);
    }
  }
  return out;
}

/** Checks one operation for one principal; throws the ReelfeedError that refuses it. Pure: tested without a server. */
export function checkOperation(
  input: { schema: GraphQLSchema; document: DocumentNode; operation: OperationDefinitionNode; variables?: Record<string, unknown> },
  principal: Principal,
  options: OperationGuardOptions,
): void {
  const { schema, document, operation } = input;
  const { limits, costInputs } = options;
  const fragments = fragmentsOf(document);

  const shape = measureOperation(operation, fragments);
  if (shape.depth > limits.maxDepth) throw tooComplex("depth", shape.depth, limits.maxDepth);
  if (shape.aliases > limits.maxAliases) throw tooComplex("aliases", shape.aliases, limits.maxAliases);

  const rootType: GraphQLObjectType | null | undefined = operation.operation === "mutation" ? schema.getMutationType() : schema.getQueryType();
  const rules = operation.operation === "mutation" ? ROOT_FIELD_RULES.Mutation : operation.operation === "query" ? ROOT_FIELD_RULES.Query : {};
  // Variables that do not coerce fail execution before any resolver runs; argument checks then have nothing to do.
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], input.variables ?? {});
  const variables = coerced.coerced;

  let cost = 0;
  for (const node of rootFieldNodes(operation.selectionSet, fragments)) {
    const name = node.name.value;
    if (name in INTROSPECTION_COST) {
      cost += INTROSPECTION_COST[name];
      continue;
    }
    const rule = rules[name];
    const def = rootType?.getFields()[name];
    if (!rule || !def) {
      // Subscriptions, or a field validation let through that has no rule: refuse rather than guess.
      throw new ReelfeedError("FORBIDDEN", `${name} is not available`, { field: name });
    }
    requireScope(principal, rule.scope, name);
    let args: Args | undefined;
    if (variables) {
      try {
        args = getArgumentValues(def, node, variables);
      } catch {
        args = undefined; // a bad literal fails execution the same way, before the resolver runs
      }
    }
    // Arguments that do not coerce: execution refuses the field before its resolver runs; only its scope matters.
    if (args === undefined) {
      cost += rule.cost({}, costInputs);
      continue;
    }
    for (const extra of rule.extraScopes?.(args) ?? []) requireScope(principal, extra.scope, extra.what);
    for (const subject of rule.actsFor?.(args) ?? []) {
      // Arguments that are not strings are rejected by the resolver's own validation; a user token still may not
      // pass them, so compare their string form.
      requireActsFor(principal, String(subject.userId), subject.argument);
    }
    cost += rule.cost(args, costInputs);
  }
  if (cost > limits.maxCost) throw tooComplex("cost", cost, limits.maxCost);
}

export function createOperationGuardPlugin(options: OperationGuardOptions): ApolloServerPlugin<WithPrincipal> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request, contextValue }) {
          if (!operation) return;
          try {
            checkOperation({ schema, document, operation, variables: request.variables }, contextValue.principal, options);
          } catch (err) {
            throw err instanceof ReelfeedError ? toGraphQLError(err) : err;
          }
        },
      };
    },
  };
}
