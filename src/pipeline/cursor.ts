import { badInput } from "../errors";

/**
 * The opaque page cursor: base64url of a small JSON { v, s: session id, o: absolute offset, t: issue time, u: user tag }.
 * Everything in it is validated on the way back in; any doubt is BAD_USER_INPUT naming "after", never a crash or
 * a silently wrong page.
 */
export interface FeedCursor {
  sessionId: string;
  /** Position (in the whole session) of the next item to serve. */
  offset: number;
  /** When the cursor was issued (epoch ms). */
  issuedAt: number;
  /** A short hash of the user it was issued to: a cursor is not transferable. */
  userTag: string;
}

const VERSION = 1;
const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/;

export function encodeCursor(cursor: FeedCursor): string {
  return Buffer.from(JSON.stringify({ v: VERSION, s: cursor.sessionId, o: cursor.offset, t: cursor.issuedAt, u: cursor.userTag })).toString("base64url");
}

/** Decodes and validates a cursor; a cursor older than `maxAgeMs` is expired (the client should start over). */
export function decodeCursor(raw: string, now: number, maxAgeMs: number): FeedCursor {
  const malformed = () => badInput("after", "malformed cursor: pass endCursor from a previous page unchanged");
  if (raw.length === 0 || raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw malformed();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw malformed();
  }
  if (typeof parsed !== "object" || parsed === null) throw malformed();
  const { v, s, o, t, u } = parsed as Record<string, unknown>;
  if (v !== VERSION || typeof s !== "string" || !SESSION_ID.test(s)) throw malformed();
  if (typeof o !== "number" || !Number.isSafeInteger(o) || o < 0) throw malformed();
  if (typeof t !== "number" || !Number.isSafeInteger(t) || t <= 0) throw malformed();
  if (typeof u !== "string" || u.length === 0 || u.length > 16) throw malformed();
  if (now - t > maxAgeMs) throw badInput("after", "cursor expired: request the first page again");
  return { sessionId: s, offset: o, issuedAt: t, userTag: u };
}
