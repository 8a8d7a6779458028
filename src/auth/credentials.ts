import type { IncomingHttpHeaders } from "node:http";

/**
 * What a request presents: an API key (`x-api-key`, or `Authorization: Bearer <key>`) and/or a user token
 * (`Authorization: Bearer <jwt>`). A JWT is told apart by its shape (three base64url parts); keys never contain dots.
 */
export interface Credentials {
  apiKey?: string;
  userToken?: string;
  /** A header was present but not in a form we accept (another scheme, two keys, an empty value). */
  malformed: boolean;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function readCredentials(headers: IncomingHttpHeaders): Credentials {
  const out: Credentials = { malformed: false };
  const xKey = headers["x-api-key"];
  if (xKey !== undefined) {
    if (typeof xKey !== "string" || xKey.trim() === "") out.malformed = true;
    else out.apiKey = xKey.trim();
  }
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) out.malformed = true;
    else if (JWT_SHAPE.test(m[1])) out.userToken = m[1];
    else if (out.apiKey !== undefined) out.malformed = true; // two keys: which one would we mean?
    else out.apiKey = m[1];
  }
  return out;
}

export function hasCredentials(c: Credentials): boolean {
  return c.malformed || c.apiKey !== undefined || c.userToken !== undefined;
}
