import type { AuthConfig } from "../config";
import { ReelfeedError } from "../errors";

/**
 * Which rules a server runs under, decided once at start-up:
 *
 * - "enforced": keys and/or user tokens are configured (auth.mode "auto" or "enforce"); every request but the
 *   public /health and the IDE's static page needs a credential.
 * - "development": nothing configured, auth.mode "auto", and the operator did not say production. A fresh clone's
 *   `npm start` serves at once, with a warning in the log and `"auth": "development"` in /health.
 * - "off": the operator's explicit `auth.mode: "off"` (a gateway in front does auth). Allowed in production.
 *
 * "Production" is NODE_ENV=production as the operator set it. `reelfeed serve` itself defaults NODE_ENV to
 * production for graphql-js's speed; it records whether the operator had set it first (src/cli.ts), so a fresh
 * clone's `npm start` is development, and `NODE_ENV=production npm start` without auth is refused.
 */
export type AuthMode = "enforced" | "development" | "off";

export function resolveAuthMode(auth: AuthConfig, production: boolean): AuthMode {
  const configured = auth.keysFile !== undefined || auth.jwt !== undefined;
  if (auth.mode === "off") return "off";
  if (configured) return "enforced";
  if (auth.mode === "enforce") {
    throw new ReelfeedError("BAD_CONFIG", 'config auth.mode: "enforce" needs auth.keysFile or auth.jwt (nothing could authenticate)', { key: "auth.mode" });
  }
  if (production) {
    throw new ReelfeedError(
      "BAD_CONFIG",
      "config auth: NODE_ENV=production and no auth configured. Create a key (reelfeed keys create --scopes feed:read " +
        '--file var/keys.json) and set auth.keysFile (REELFEED_API_KEYS_FILE), or configure auth.jwt, or set auth.mode "off" ' +
        "if a gateway in front authenticates (docs/security.md)",
      { key: "auth" },
    );
  }
  return "development";
}

/** The start-up warning for the modes that let anyone in; undefined when auth is enforced. */
export function openModeWarning(mode: AuthMode): string | undefined {
  if (mode === "development") {
    return "[reelfeed] WARNING: development mode, no authentication: anyone who reaches this port can read any feed, record events and read /metrics. Configure auth.keysFile or auth.jwt before exposing it (docs/security.md).";
  }
  if (mode === "off") return '[reelfeed] WARNING: auth.mode "off": no authentication on this server; whatever is in front of it must authenticate (docs/security.md).';
  return undefined;
}
