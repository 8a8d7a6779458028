import { HeaderMap } from "@apollo/server";
import { GraphQLError } from "graphql";
import type { ReelfeedError, ReelfeedErrorCode } from "../errors";

/**
 * The HTTP side of the auth and limit errors, the same for GraphQL and plain routes: 401 with a Bearer challenge,
 * 403, 429 with Retry-After, 400 for a query over its limits.
 */
export const AUTH_STATUS: Partial<Record<ReelfeedErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  QUERY_TOO_COMPLEX: 400,
};

export function authHeaders(err: ReelfeedError): Record<string, string> {
  if (err.code === "UNAUTHENTICATED") return { "www-authenticate": 'Bearer realm="reelfeed"' };
  if (err.code === "RATE_LIMITED") return { "retry-after": String(err.details.retryAfterSec ?? 1) };
  return {};
}

/**
 * A GraphQLError Apollo answers with the error's HTTP status (its `extensions.http`, which Apollo removes from the
 * response); formatError still judges it by the ReelfeedError inside.
 */
export function toGraphQLError(err: ReelfeedError): GraphQLError {
  const headers = new HeaderMap(Object.entries(authHeaders(err)));
  return new GraphQLError(err.message, {
    originalError: err,
    extensions: { code: err.code, ...err.details, http: { status: AUTH_STATUS[err.code] ?? 400, headers } },
  });
}
