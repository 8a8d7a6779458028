/**
 * A bounded LRU map whose entries expire `ttlMs` after their last use: ranked feed sessions live here between
 * page requests. In-process on purpose: a session is a few hundred ids, worthless once the user scrolls away, and
 * a missing one is recovered by re-ranking (the cursor still says how far the user got).
 */
export interface SessionCacheOptions {
  /** Idle time after which an entry is gone. */
  ttlMs: number;
  /** Most entries; the least recently used goes first. @default 10000 */
  maxEntries?: number;
  /** @default Date.now */
  clock?: () => number;
}

export interface SessionCache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  readonly size: number;
}

export function createSessionCache<V>(options: SessionCacheOptions): SessionCache<V> {
  const { ttlMs, maxEntries = 10_000, clock = Date.now } = options;
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, { value: V; expires: number }>();
  return {
    get(key) {
      const e = entries.get(key);
      if (!e) return undefined;
      entries.delete(key);
      if (e.expires <= clock()) return undefined;
      e.expires = clock() + ttlMs;
      entries.set(key, e);
      return e.value;
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, { value, expires: clock() + ttlMs });
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    delete(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}
