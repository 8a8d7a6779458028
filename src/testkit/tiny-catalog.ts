import type { Creator, User, Video } from "../data/types";
import { DAY_MS } from "../features/aggregates";
import { seededRandom } from "../util/random";

/** Options of the generated test catalog. */
export interface TinyCatalogOptions {
  /** @default 60 */
  videos?: number;
  /** @default 6 */
  creators?: number;
  /** @default ["comedy", "drama", "music", "sports", "science"] */
  categories?: readonly string[];
  /** Uploads are spread over the `spreadDays` days before `now`. @default 60 */
  spreadDays?: number;
  /** "Now" of the catalog. */
  now: number;
  /** @default "testkit" */
  seed?: string;
}

export interface TinyCatalog {
  videos: Video[];
  users: User[];
  creators: Creator[];
}

/**
 * A small, deterministic catalog for tests: videos `v1..vN` round-robin over categories and creators (`c1..`),
 * uploads spread over recent days, a few languages; users covering the cases filters care about:
 * `u1`–`u5` adults (US, FR, DE, US, GB), `u6` a minor (15), `u7` of unknown age.
 */
export function createTinyCatalog(options: TinyCatalogOptions): TinyCatalog {
  const {
    videos: n = 60,
    creators: nc = 6,
    categories = ["comedy", "drama", "music", "sports", "science"],
    spreadDays = 60,
    now,
    seed = "testkit",
  } = options;
  const random = seededRandom(seed);
  const languages = ["en", "en", "fr", "de"];
  const creators: Creator[] = Array.from({ length: nc }, (_, i) => ({ id: `c${i + 1}`, name: `Creator ${i + 1}` }));
  const videos: Video[] = Array.from({ length: n }, (_, i) => ({
    id: `v${i + 1}`,
    creatorId: creators[i % nc].id,
    title: `Video ${i + 1}`,
    tags: [categories[i % categories.length]],
    category: categories[i % categories.length],
    language: languages[i % languages.length],
    durationSec: 30 + Math.floor(random() * 1800),
    uploadedAt: now - Math.floor(random() * spreadDays * DAY_MS) - 60_000,
  }));
  const users: User[] = [
    { id: "u1", age: 30, country: "US", language: "en", device: "mobile" },
    { id: "u2", age: 41, country: "FR", language: "fr", device: "desktop" },
    { id: "u3", age: 25, country: "DE", language: "de", device: "tv" },
    { id: "u4", age: 19, country: "US", language: "en", device: "mobile" },
    { id: "u5", age: 52, country: "GB", language: "en", device: "tablet" },
    { id: "u6", age: 15, country: "US", language: "en", device: "mobile" },
    { id: "u7", country: "US", language: "en", device: "mobile" },
  ];
  return { videos, users, creators };
}

/**
 * Deterministic unit embeddings that carry the catalog's structure: a video is its category's direction plus a
 * smaller creator direction plus noise, so neighbours share a category (and more so a creator).
 */
export function categoryEmbeddings(videos: readonly Video[], dim: number, seed = "embeddings"): Map<string, Float32Array> {
  const random = seededRandom(seed);
  const direction = new Map<string, Float32Array>();
  const dirOf = (key: string): Float32Array => {
    let d = direction.get(key);
    if (!d) {
      d = Float32Array.from({ length: dim }, () => random() * 2 - 1);
      direction.set(key, d);
    }
    return d;
  };
  const out = new Map<string, Float32Array>();
  for (const v of videos) {
    const cat = dirOf(`cat:${v.category}`);
    const cre = dirOf(`cre:${v.creatorId}`);
    const vec = Float32Array.from({ length: dim }, (_, i) => 2 * cat[i] + 0.5 * cre[i] + 0.3 * (random() * 2 - 1));
    let norm = 0;
    for (const x of vec) norm += x * x;
    norm = Math.sqrt(norm);
    out.set(v.id, vec.map((x) => x / norm));
  }
  return out;
}
