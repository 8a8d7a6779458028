import { ReelfeedError } from "../errors";

/**
 * What an API key may do. A key holds the smallest set its owner needs: a partner's feed integration gets
 * `feed:read`, an event collector `events:write`, an operator's dashboard `admin`.
 */
export const SCOPES = [
  /** feed, similarVideos, trending, video, user — for any user. */
  "feed:read",
  /** recordEvents and POST /events — for any user. */
  "events:write",
  /** The live-catalogue writes: upsertVideos, removeVideos, upsertUsers, upsertCreators and POST /catalog. */
  "catalog:write",
  /** `feed(debug: true)` traces: scores, model version, every filtered candidate. */
  "debug",
  /** /metrics and the detailed /health. */
  "admin",
] as const;

export type Scope = (typeof SCOPES)[number];

const KNOWN: ReadonlySet<string> = new Set(SCOPES);

export function isScope(value: string): value is Scope {
  return KNOWN.has(value);
}

/** "feed:read,events:write" → scopes; an unknown or empty list is BAD_USER_INPUT naming `argument`. */
export function parseScopes(list: string, argument = "scopes"): Scope[] {
  const parts = list.split(",").map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new ReelfeedError("BAD_USER_INPUT", `--${argument}: name at least one of ${SCOPES.join(", ")}`, { argument });
  for (const p of parts) {
    if (!isScope(p)) throw new ReelfeedError("BAD_USER_INPUT", `--${argument}: unknown scope "${p}" (one of ${SCOPES.join(", ")})`, { argument });
  }
  return [...new Set(parts as Scope[])];
}
