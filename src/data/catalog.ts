import type { Creator, Dataset, User, Video } from "./types";

/**
 * The catalog the server reads per request: videos, users and creators by id, plus the indexes candidate sources
 * need (uploads per creator, newest uploads). In-memory: metadata is small next to embeddings (1M videos ≈ a few
 * hundred MB), and every lookup on the hot path is a Map get.
 */
export interface Catalog {
  video(id: string): Video | undefined;
  user(id: string): User | undefined;
  creator(id: string): Creator | undefined;
  /** A creator's videos, newest first. */
  videosByCreator(creatorId: string): readonly Video[];
  /** All videos, newest upload first. */
  newest(): readonly Video[];
  videoCount(): number;
  /** Adds or replaces a video (new uploads at serving time; a takedown puts it back flagged "removed"). */
  putVideo(video: Video): void;
  putUser(user: User): void;
  putCreator(creator: Creator): void;
}

export function createCatalog(data: Pick<Dataset, "videos" | "users" | "creators">): Catalog {
  const videos = new Map<string, Video>();
  const users = new Map(data.users.map((u) => [u.id, u]));
  const creators = new Map(data.creators.map((c) => [c.id, c]));
  let byCreator: Map<string, Video[]> | undefined;
  let newest: Video[] | undefined;
  for (const v of data.videos) videos.set(v.id, v);
  // Indexes are rebuilt lazily after writes: uploads are rare next to reads.
  const indexes = () => {
    if (!byCreator || !newest) {
      // Taken-down videos stay findable by id (the removed filter, cached sessions and lookups see the flag) but
      // leave the lists sources scan, so they never take a Fresh or Subscriptions slot.
      newest = [...videos.values()].filter((v) => !v.policyFlags?.includes("removed")).sort((a, b) => b.uploadedAt - a.uploadedAt);
      byCreator = new Map();
      for (const v of newest) {
        const list = byCreator.get(v.creatorId);
        if (list) list.push(v);
        else byCreator.set(v.creatorId, [v]);
      }
    }
    return { byCreator, newest };
  };
  return {
    video: (id) => videos.get(id),
    user: (id) => users.get(id),
    creator: (id) => creators.get(id),
    videosByCreator: (creatorId) => indexes().byCreator.get(creatorId) ?? [],
    newest: () => indexes().newest,
    videoCount: () => videos.size,
    putVideo(video) {
      const old = videos.get(video.id);
      videos.set(video.id, video);
      if (!byCreator || !newest) return;
      // Kept up to date in place once built: the live catalogue writes thousands of videos a second, and a full
      // re-sort per write (O(n log n) on the next read) would cost more than the feeds reading it. Readers iterate
      // the lists synchronously, so an in-place splice never lands mid-iteration.
      if (old) {
        removeRef(newest, old);
        const list = byCreator.get(old.creatorId);
        if (list) removeRef(list, old);
      }
      if (video.policyFlags?.includes("removed")) return;
      insertByUpload(newest, video);
      const list = byCreator.get(video.creatorId);
      if (list) insertByUpload(list, video);
      else byCreator.set(video.creatorId, [video]);
    },
    putUser(user) {
      users.set(user.id, user);
    },
    putCreator(creator) {
      creators.set(creator.id, creator);
    },
  };
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
