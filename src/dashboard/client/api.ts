/**
 * The dashboard's only way to the server: the public and admin GraphQL API, and /health. The operator's API key
 * (scopes admin, feed:read, debug) is kept in sessionStorage — gone when the tab closes — and sent as a Bearer
 * header; it never goes into a URL, where proxies and history would keep it.
 */

const KEY_STORAGE = "reelfeed.dashboard.apiKey";

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** A GraphQL or HTTP failure, with the server's code (UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, ...). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly status: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

function headers(): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json" };
  const key = apiKey();
  if (key) h.authorization = `Bearer ${key}`;
  return h;
}

/** The GraphQL endpoint, given by the server in the page shell (it knows where it serves GraphQL). */
const endpoint = (): string => document.body.dataset.graphql ?? "/graphql";

interface GqlBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(endpoint(), { method: "POST", headers: headers(), body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError("the server did not answer", "NETWORK", 0);
  }
  let body: GqlBody<T>;
  try {
    body = (await res.json()) as GqlBody<T>;
  } catch {
    throw new ApiError(`HTTP ${res.status}`, undefined, res.status);
  }
  if (body.errors && body.errors.length > 0) {
    throw new ApiError(body.errors.map((e) => e.message).join("; "), body.errors[0].extensions?.code, res.status);
  }
  if (!body.data) throw new ApiError(`HTTP ${res.status}: no data`, undefined, res.status);
  return body.data;
}

export interface Health {
  ok: boolean;
  /** "development" or "off" when auth is not enforced. */
  auth?: string;
  /** Only with the admin scope. */
  modelVersion?: string | null;
  executionProvider?: string | null;
  uptimeSec?: number;
}

export async function health(): Promise<Health> {
  const res = await fetch(document.body.dataset.health ?? "/health", { headers: headers() });
  // 503 still carries the report (a backend is down): show it rather than fail.
  return (await res.json()) as Health;
}
