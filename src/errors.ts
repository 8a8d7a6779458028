/**
 * Typed errors with machine-readable codes. The GraphQL layer maps `code` to `extensions.code`; the CLI maps a
 * ReelfeedError to its message and exit code 2 (never a stack trace). Anything else is a bug: exit 1.
 */
export type ReelfeedErrorCode =
  | "BAD_USER_INPUT" // an argument or field a caller sent is invalid
  | "BAD_FILE" // a file is missing, unreadable, or has the wrong shape (message names path and line)
  | "BAD_CONFIG" // configuration failed validation at start-up
  | "BAD_PLUGIN" // a plugin failed validation at start-up
  | "BAD_BUNDLE" // a model bundle is missing files or its manifest is invalid
  | "PAYLOAD_TOO_LARGE" // batch or body past its bound
  | "UNAVAILABLE" // a backend is down; retryable
  | "NOT_FOUND"
  | "UNAUTHENTICATED" // no credentials, or credentials that do not verify (one answer for unknown and wrong keys)
  | "FORBIDDEN" // valid credentials without the scope, or a user token acting for another user
  | "RATE_LIMITED" // over the caller's rate limit; retryable after `retryAfterSec`
  | "QUERY_TOO_COMPLEX" // over the query depth, alias or cost limit; refused before execution
  | "INTERNAL";

export class ReelfeedError extends Error {
  constructor(
    readonly code: ReelfeedErrorCode,
    message: string,
    /** Extra machine-readable context: { argument: "first" }, { path, line }, ... */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ReelfeedError";
  }
}

/** A file-level failure: always names the file, and the line when there is one. */
export function badFile(path: string, message: string, line?: number): ReelfeedError {
  const where = line === undefined ? path : `${path}:${line}`;
  return new ReelfeedError("BAD_FILE", `${where}: ${message}`, { path, line });
}

export function badInput(argument: string, message: string): ReelfeedError {
  return new ReelfeedError("BAD_USER_INPUT", `${argument}: ${message}`, { argument });
}
