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
      videos.set(video.id, video);
      byCreator = undefined;
      newest = undefined;
    },
    putUser(user) {
      users.set(user.id, user);
    },
    putCreator(creator) {
      creators.set(creator.id, creator);
    },
  };
}
