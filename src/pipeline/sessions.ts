import { randomBytes } from "node:crypto";
import { badInput } from "../errors";
import { fnv1a } from "../util/random";
import { decodeCursor } from "./cursor";
import type { FeedRequest } from "./feed-page";
import { createSessionCache } from "./session-cache";
import type { SessionItems } from "./session-items";
import type { FeedQuery } from "./types";

/**
 * Sessions and paging. The first request of a feed ranks a whole session, kept in an in-process LRU; later pages
 * (the cursor) slice it, so they never repeat an item and the diversity windows run across page boundaries. A
 * cursor names its session, the offset reached, when it was issued and (by a short tag) for whom: it expires, and
 * is not transferable between users. A session evicted or idle past its TTL is ranked again from where the user
 * got to; what was served is in the state store's seen set (markServed), so the new ranking cannot repeat it.
 */
export interface Session {
  id: string;
  userId: string;
  /** The query the session was ranked for; continuation fills reuse it. */
  query: FeedQuery;
  /** Ranked list; items[i] sits at absolute position base + i. */
  items: SessionItems;
  base: number;
  /** Served by the overload path (the fill alone): not cached, so its next page is ranked once load allows. */
  overloaded?: boolean;
}

/** A short, stable tag of the user a cursor was issued to: a cursor is not transferable between users. */
export function userTag(userId: string): string {
  return fnv1a(userId).toString(36);
}

export interface SessionStoreOptions {
  sessionTtlMs: number;
  maxSessions: number;
  cursorTtlMs: number;
  clock: () => number;
}

export interface SessionStore {
  /**
   * The session a request continues (its cursor's, checked) or a new one from `start(id, base)`, with the absolute
   * offset the page starts at. New sessions are cached unless they were served by the overload path.
   */
  open(request: FeedRequest, now: number, start: (id: string, base: number) => Promise<Session>): Promise<{ session: Session; offset: number }>;
  readonly size: number;
}

export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const { sessionTtlMs, maxSessions, cursorTtlMs, clock } = options;
  const cache = createSessionCache<Session>({ ttlMs: sessionTtlMs, maxEntries: maxSessions, clock });
  const keep = (session: Session): Session => {
    if (!session.overloaded) cache.set(session.id, session);
    return session;
  };
  return {
    async open(request, now, start) {
      if (request.after === undefined) return { session: keep(await start(randomBytes(9).toString("base64url"), 0)), offset: 0 };
      const cursor = decodeCursor(request.after, now, cursorTtlMs);
      if (cursor.userTag !== userTag(request.userId)) throw badInput("after", "cursor was issued for another user");
      const offset = cursor.offset;
      const session = cache.get(cursor.sessionId);
      if (!session) return { session: keep(await start(cursor.sessionId, offset)), offset };
      if (offset < session.base || offset > session.base + session.items.length) throw badInput("after", "cursor offset lies outside its session");
      return { session, offset };
    },
    get size() {
      return cache.size;
    },
  };
}
