import type { IncomingHttpHeaders } from "node:http";
import type { AuthConfig } from "../config";
import { createApiKeySet, type ApiKeySet } from "./api-keys";
import { resolveAuthMode, type AuthMode } from "./auth-mode";
import { hasCredentials, readCredentials } from "./credentials";
import { watchKeyFile, type WatchedKeyFile } from "./key-file";
import { OPEN_DEVELOPMENT, OPEN_OFF, unauthenticated, USER_SCOPES, type Principal } from "./principal";
import type { Scope } from "./scopes";
import { createUserTokenVerifier, type UserTokenVerifier } from "./user-tokens";

/**
 * Turns a request's headers into a Principal, once per request. Everything that can fail at start-up (a missing
 * keys file, a bad JWKS, production without auth) fails in createAuthenticator, not on the first request.
 */
export interface Authenticator {
  readonly mode: AuthMode;
  /**
   * The caller. UNAUTHENTICATED for credentials that do not verify, and for none at all unless `optional` (then
   * undefined: the anonymous caller of a public route). Open modes answer the open principal whatever was sent.
   */
  authenticate(headers: IncomingHttpHeaders, options?: { optional?: boolean }): Promise<Principal | undefined>;
  /** Stops watching the keys file. */
  close(): void;
}

export interface AuthenticatorOptions {
  auth: AuthConfig;
  /** The operator set NODE_ENV=production: refuse to start without auth (see auth-mode.ts). */
  production: boolean;
  /** Key reloads and bad key files. @default console.error */
  log?: (message: string) => void;
}

export const MISSING_CREDENTIALS = "missing credentials: send Authorization: Bearer <API key or user token>, or x-api-key: <API key>";

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { auth, production, log } = options;
  const mode = resolveAuthMode(auth, production);
  if (mode !== "enforced") {
    const open = mode === "development" ? OPEN_DEVELOPMENT : OPEN_OFF;
    return { mode, authenticate: async () => open, close: () => {} };
  }

  const watched: WatchedKeyFile | undefined = auth.keysFile ? watchKeyFile({ path: auth.keysFile, reloadMs: auth.keysReloadMs, log }) : undefined;
  const noKeys = createApiKeySet([]);
  const keys = (): ApiKeySet => watched?.current() ?? noKeys;
  const verifyToken: UserTokenVerifier | undefined = auth.jwt ? createUserTokenVerifier(auth.jwt) : undefined;

  return {
    mode,
    async authenticate(headers, opts = {}) {
      const creds = readCredentials(headers);
      if (!hasCredentials(creds)) {
        if (opts.optional) return undefined;
        throw unauthenticated(MISSING_CREDENTIALS);
      }
      if (creds.malformed) throw unauthenticated();
      // A key is always checked against every stored hash, even when a token came too: same work, same time.
      const key = creds.apiKey !== undefined ? keys().verify(creds.apiKey) : undefined;
      if (creds.apiKey !== undefined && key === undefined) throw unauthenticated();
      if (creds.userToken === undefined) return { kind: "key", keyId: key!.id, scopes: key!.scopes };
      if (!verifyToken) throw unauthenticated();
      const userId = await verifyToken(creds.userToken);
      const scopes = key ? new Set<Scope>([...USER_SCOPES].filter((s) => key.scopes.has(s))) : USER_SCOPES;
      return { kind: "user", userId, scopes, keyId: key?.id };
    },
    close: () => watched?.close(),
  };
}
