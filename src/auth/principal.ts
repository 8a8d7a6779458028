import { ReelfeedError } from "../errors";
import { SCOPES, type Scope } from "./scopes";

/**
 * Who is asking, decided once per HTTP request (src/auth/authenticator.ts) and read by every check after it.
 *
 * - `open`: no auth on this server (development mode, or `auth.mode: "off"`): every scope, any user.
 * - `key`: a partner's API key: its scopes, for any user.
 * - `user`: an end-user token (JWT): `feed:read` and `events:write`, for its subject only. Sent together with an
 *   API key, the key's scopes narrow it further (a frontend's backend acting for a signed-in viewer).
 */
export type Principal =
  | { kind: "open"; mode: "development" | "off" }
  | { kind: "key"; keyId: string; scopes: ReadonlySet<Scope> }
  | { kind: "user"; userId: string; scopes: ReadonlySet<Scope>; keyId?: string };

/** What a viewer's own token allows: reading their feed (and the public catalogue) and recording their events. */
export const USER_SCOPES: ReadonlySet<Scope> = new Set<Scope>(["feed:read", "events:write"]);

export const OPEN_DEVELOPMENT: Principal = { kind: "open", mode: "development" };
export const OPEN_OFF: Principal = { kind: "open", mode: "off" };

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.kind === "open" || principal.scopes.has(scope);
}

/** The scopes a principal holds, for /health and tests. */
export function scopesOf(principal: Principal): Scope[] {
  return principal.kind === "open" ? [...SCOPES] : [...principal.scopes];
}

/** Short identity for logs and rate-limit keys: never the credential itself. */
export function describePrincipal(principal: Principal): string {
  if (principal.kind === "open") return principal.mode;
  return principal.kind === "key" ? `key ${principal.keyId}` : `user ${principal.userId}${principal.keyId ? ` via key ${principal.keyId}` : ""}`;
}

/** One message for a missing, unknown, wrong, expired or malformed credential: the answer tells an attacker nothing. */
export const INVALID_CREDENTIALS = "invalid credentials";

export function unauthenticated(message = INVALID_CREDENTIALS): ReelfeedError {
  return new ReelfeedError("UNAUTHENTICATED", message);
}

export function forbidden(scope: Scope, what: string): ReelfeedError {
  return new ReelfeedError("FORBIDDEN", `${what} needs the "${scope}" scope`, { scope });
}

/** FORBIDDEN unless the principal holds `scope`. */
export function requireScope(principal: Principal, scope: Scope, what: string): void {
  if (!hasScope(principal, scope)) throw forbidden(scope, what);
}

/**
 * FORBIDDEN when a user token asks to act for someone else. Keys (and open servers) may act for any user: a
 * partner's backend serves many viewers; the key's scope was already checked.
 */
export function requireActsFor(principal: Principal, userId: string, argument: string): void {
  if (principal.kind === "user" && principal.userId !== userId) {
    throw new ReelfeedError("FORBIDDEN", `${argument}: a user token may only act for its own user`, { argument });
  }
}
