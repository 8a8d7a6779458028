import type { Creator, Dataset, User, Video } from "./types";

/**
 * The catalog the server reads per request: videos, users and creators by id, plus the indexes candidate sources
 * need (newest uploads: all, per creator, per language). In-memory: metadata is small next to embeddings (1M videos ≈ a few
 * hundred MB), and every lookup on the hot path is a Map get.
 */
export interface Catalog {
  video(id: string): Video | undefined;
  user(id: string): User | undefined;
  creator(id: string): Creator | undefined;
  /** A creator's videos, newest first. */
  videosByCreator(creatorId: string): readonly Video[];
  /** The videos in one language, newest first (the Fresh source scans its user's language first). */
  newestInLanguage(language: string): readonly Video[];
  /** All videos, newest upload first. */
  newest(): readonly Video[];
  videoCount(): number;
  /**
   * Adds or replaces a video (new uploads at serving time; a takedown puts it back flagged "removed"). The catalog
   * keeps a copy in its one shape (catalogEntry), so `video(id)` equals the put video but is not the same object.
   */
  putVideo(video: Video): void;
  /**
   * putVideo for a batch, in order (the last of two puts of one id wins), with the lists updated once: a batch of
   * new uploads is one splice at the front instead of one per video (each an O(n) move: 2,000 uploads/s into a 100k
   * catalog spent more CPU than the feeds reading it).
   */
  putVideos(videos: readonly Video[]): void;
  putUser(user: User): void;
  putCreator(creator: Creator): void;
}

/**
 * A video as the catalog keeps it: every field present (absent optional ones as undefined) in one order, so every
 * catalog entry has one hidden class. Importers and the live catalogue add optional fields only when set, which gave
 * a 100k catalog a dozen shapes: every site that reads videos (sources, filters, rows, stages) then ran megamorphic
 * property loads, and optimised code kept bailing out on a shape it had not seen ("wrong map" deopts, about one per
 * request in the Fresh source alone; docs/benchmarks-feed.md, round 8).
 */
export function catalogEntry(v: Video): Video {
  return {
    id: v.id,
    creatorId: v.creatorId,
    title: v.title,
    description: v.description,
    tags: v.tags,
    category: v.category,
    language: v.language,
    durationSec: v.durationSec,
    uploadedAt: v.uploadedAt,
    ageRestricted: v.ageRestricted,
    policyFlags: v.policyFlags,
    blockedRegions: v.blockedRegions,
  };
}

// The first entry fixes the shape's field representations: a fractional duration here makes durationSec a double
// field from the start. A whole-number first duration would make it a small-integer field, and the first
// fractional one later would retire the shape, leaving every earlier entry to be migrated (and optimised code to
// bail out) the next time it is read.
catalogEntry({ id: "", creatorId: "", title: "", tags: [], category: "", durationSec: 0.5, uploadedAt: 0.5 });

export function createCatalog(data: Pick<Dataset, "videos" | "users" | "creators">): Catalog {
  const videos = new Map<string, Video>();
  const users = new Map(data.users.map((u) => [u.id, u]));
  const creators = new Map(data.creators.map((c) => [c.id, c]));
  // Newest-first lists of the videos that share a creator / a language, kept like `newest`.
  const groupings = [
    { key: (v: Video) => v.creatorId, lists: new Map<string, Video[]>() },
    { key: (v: Video) => v.language, lists: new Map<string, Video[]>() },
  ];
  const [byCreator, byLanguage] = groupings.map((g) => g.lists);
  let newest: Video[] | undefined;
  for (const v of data.videos) videos.set(v.id, catalogEntry(v));
  // Indexes are rebuilt lazily after writes: uploads are rare next to reads.
  const indexes = () => {
    if (!newest) {
      // Taken-down videos stay findable by id (the removed filter, cached sessions and lookups see the flag) but
      // leave the lists sources scan, so they never take a Fresh or Subscriptions slot.
      newest = [...videos.values()].filter((v) => !v.policyFlags?.includes("removed")).sort((a, b) => b.uploadedAt - a.uploadedAt);
      for (const { key, lists } of groupings) {
        lists.clear();
        for (const [k, list] of groupBy(newest, key)) lists.set(k, list);
      }
    }
    return newest;
  };
  return {
    video: (id) => videos.get(id),
    user: (id) => users.get(id),
    creator: (id) => creators.get(id),
    videosByCreator: (creatorId) => (indexes(), byCreator.get(creatorId) ?? []),
    newestInLanguage: (language) => (indexes(), byLanguage.get(language) ?? []),
    newest: () => indexes(),
    videoCount: () => videos.size,
    putVideo(put) {
      const video = catalogEntry(put);
      const old = videos.get(video.id);
      videos.set(video.id, video);
      if (!newest) return;
      // Kept up to date in place once built: the live catalogue writes thousands of videos a second, and a full
      // re-sort per write (O(n log n) on the next read) would cost more than the feeds reading it. Readers iterate
      // the lists synchronously, so an in-place splice never lands mid-iteration.
      if (old) {
        removeRef(newest, old);
        for (const { key, lists } of groupings) {
          const list = lists.get(key(old) as string);
          if (list) removeRef(list, old);
        }
      }
      if (video.policyFlags?.includes("removed")) return;
      insertByUpload(newest, video);
      for (const { key, lists } of groupings) {
        const k = key(video);
        if (k === undefined) continue;
        const list = lists.get(k);
        if (list) insertByUpload(list, video);
        else lists.set(k, [video]);
      }
    },
    putVideos(puts) {
      const replaced = new Set<Video>();
      const latest = new Map<string, Video>();
      for (const put of puts) {
        const v = catalogEntry(put);
        const old = videos.get(v.id);
        if (old) replaced.add(old);
        videos.set(v.id, v);
        latest.delete(v.id); // re-inserted below: the batch's order among equal upload times is its last put's
        latest.set(v.id, v);
      }
      if (!newest) return;
      for (const old of replaced) {
        removeSorted(newest, old);
        for (const { key, lists } of groupings) {
          const l = lists.get(key(old) as string);
          if (l) removeSorted(l, old);
        }
      }
      // Newest first; a stable sort keeps the batch's order among equal upload times, as one insert after another does.
      const adds = [...latest.values()].filter((v) => !v.policyFlags?.includes("removed")).sort((a, b) => b.uploadedAt - a.uploadedAt);
      insertSorted(newest, adds);
      for (const { key, lists } of groupings) {
        for (const [k, group] of groupBy(adds, key)) {
          const l = lists.get(k);
          if (l) insertSorted(l, group);
          else lists.set(k, group);
        }
      }
    },
    putUser(user) {
      users.set(user.id, user);
    },
    putCreator(creator) {
      creators.set(creator.id, creator);
    },
  };
}

/** `videos` by key, each group in the order given (a video without a key in none). */
function groupBy(videos: readonly Video[], key: (v: Video) => string | undefined): Map<string, Video[]> {
  const groups = new Map<string, Video[]>();
  for (const v of videos) {
    const k = key(v);
    if (k === undefined) continue;
    const group = groups.get(k);
    if (group) group.push(v);
    else groups.set(k, [v]);
  }
  return groups;
}

/** First index of newest-first `list`, from `lo`, whose video was uploaded before `t`: where a video of time `t` goes. */
function insertionIndex(list: readonly Video[], t: number, lo = 0): number {
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].uploadedAt >= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Inserts newest-first `adds` into newest-first `list`, in place, each after every listed video uploaded at the same
 * time or later (insertByUpload's order). Positions by binary search; then one splice per run of adds that share a
 * position, last run first so earlier positions hold. New uploads are one run at the front: one memmove of the list,
 * where a merge loop reading every listed video's time costs ~5× more (a cache miss per video) and a splice per
 * video 100×.
 */
function insertSorted(list: Video[], adds: readonly Video[]): void {
  const pos = new Array<number>(adds.length);
  let lo = 0;
  for (let j = 0; j < adds.length; j++) pos[j] = lo = insertionIndex(list, adds[j].uploadedAt, lo);
  let end = adds.length;
  for (let j = adds.length - 1; j >= 0; j--) {
    if (j > 0 && pos[j - 1] === pos[j]) continue;
    list.splice(pos[j], 0, ...adds.slice(j, end));
    end = j;
  }
}

/** Removes `v` from newest-first `list`: found by binary search on its upload time, then among its equals. */
function removeSorted(list: Video[], v: Video): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].uploadedAt > v.uploadedAt) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < list.length && list[i].uploadedAt === v.uploadedAt; i++) {
    if (list[i] === v) {
      list.splice(i, 1);
      return;
    }
  }
}

function removeRef(list: Video[], v: Video): void {
  const i = list.indexOf(v);
  if (i >= 0) list.splice(i, 1);
}

/** Inserts into a newest-first list after every video uploaded at the same time or later (as the stable sort does). */
function insertByUpload(list: Video[], v: Video): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].uploadedAt >= v.uploadedAt) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, v);
}
