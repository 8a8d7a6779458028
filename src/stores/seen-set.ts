import type { SeenSet } from "./state-store";

/**
 * SeenSet builders. `everWatched` is the Bloom filter's answer; the exact sets are the store's recent ones.
 */
export function createSeenSet(parts: { watched?: Iterable<string>; served?: Iterable<string>; everWatched?: (videoId: string) => boolean }): SeenSet {
  const served: ReadonlySet<string> = new Set(parts.served ?? []);
  const recent = new Set(parts.watched ?? []);
  for (const id of served) recent.add(id);
  const ever = parts.everWatched;
  return {
    has: ever ? (id) => recent.has(id) || ever(id) : (id) => recent.has(id),
    recent,
    served,
    size: recent.size,
  };
}

/** Nothing seen: unknown users, anonymous queries, a state store that did not answer. */
export const EMPTY_SEEN: SeenSet = createSeenSet({});

/**
 * The seen set of a rewatch surface (pipeline.rewatchSurfaces): only what was served recently is left out, so a
 * past watch can come back; the page-to-page "no repeats" guarantee still holds.
 */
export function servedOnly(seen: SeenSet): SeenSet {
  return createSeenSet({ served: seen.served });
}

/** `seen` with more ids known exactly (not written anywhere). */
export function withSeen(seen: SeenSet, extra: Iterable<string>): SeenSet {
  const more = new Set(extra);
  if (more.size === 0) return seen;
  return createSeenSet({ watched: [...seen.recent, ...more], served: seen.served, everWatched: (id) => seen.has(id) });
}
