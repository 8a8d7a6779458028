import { unwrapResolverError } from "@apollo/server/errors";
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { ReelfeedError, type ReelfeedErrorCode } from "../errors";

/**
 * What a client may see of an error. ReelfeedErrors a caller can act on keep their code, message and public
 * details; server-side failures (a bad bundle, a bug) become INTERNAL_SERVER_ERROR with a generic message, and the
 * original is logged instead. No response ever carries a stack trace or an exception object.
 */

export const INTERNAL_MESSAGE = "Internal server error";

/** ReelfeedError codes that describe the caller's request or a retryable condition, not the server's insides. */
const CLIENT_CODES: ReadonlySet<ReelfeedErrorCode> = new Set<ReelfeedErrorCode>([
  "BAD_USER_INPUT",
  "NOT_FOUND",
  "PAYLOAD_TOO_LARGE",
  "UNAVAILABLE",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "RATE_LIMITED",
  "QUERY_TOO_COMPLEX",
]);

/** Detail (and extension) keys that can carry file system paths, hosts or internals. */
const PRIVATE_DETAILS = new Set(["path", "file", "url", "uri", "host", "stack", "cause", "exception", "stacktrace"]);

function publicDetails(details: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(details)) {
    if (PRIVATE_DETAILS.has(key)) continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[key] = value;
  }
  return out;
}

function withoutInternals(extensions: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!extensions) return undefined;
  const { stacktrace: _s, exception: _e, ...rest } = extensions;
  return rest;
}

export type ErrorLogger = (message: string, error: unknown) => void;

export interface FormatErrorOptions {
  /** Where withheld errors go. @default console.error */
  log?: ErrorLogger;
}

/** An Apollo `formatError`: `new ApolloServer({ formatError: createFormatError() })`. */
export function createFormatError(options: FormatErrorOptions = {}) {
  const { log = (message: string, error: unknown) => console.error(message, error) } = options;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const unwrapped = unwrapResolverError(error);
    // A resolver may wrap a ReelfeedError in a GraphQLError (originalError); judge it by the ReelfeedError.
    const original = unwrapped instanceof GraphQLError && unwrapped.originalError instanceof ReelfeedError ? unwrapped.originalError : unwrapped;
    const where = { locations: formatted.locations, path: formatted.path };
    if (original instanceof ReelfeedError) {
      if (CLIENT_CODES.has(original.code)) {
        const extensions = { ...publicDetails(formatted.extensions ?? {}), ...publicDetails(original.details), code: original.code };
        return { message: original.message, ...where, extensions };
      }
      log(`[reelfeed] ${original.code} withheld from client at ${formatted.path?.join(".") ?? "request"}:`, original);
      return { message: INTERNAL_MESSAGE, ...where, extensions: { code: "INTERNAL_SERVER_ERROR" } };
    }
    if (original instanceof GraphQLError && formatted.extensions?.code !== "INTERNAL_SERVER_ERROR") {
      // Our own argument errors and GraphQL/Apollo request errors (parse, validation, variables): safe to show.
      return { ...formatted, extensions: withoutInternals(formatted.extensions) };
    }
    log(`[reelfeed] unexpected error at ${formatted.path?.join(".") ?? "request"}:`, original);
    return { message: INTERNAL_MESSAGE, ...where, extensions: { code: "INTERNAL_SERVER_ERROR" } };
  };
}
