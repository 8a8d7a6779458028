import type { Dataset, ReelEvent, User, Video } from "../../src/data/types";
import { DAY_MS, HOUR_MS } from "../../src/features/aggregates";

/** A small, deterministic platform: 3 categories, 12 videos, 6 users, ~10 days of mixed events. */
export const T0 = Date.UTC(2024, 0, 1);

export function tinyDataset(): Dataset {
  const categories = ["music", "sports", "cooking"];
  const videos: Video[] = Array.from({ length: 12 }, (_, i) => ({
    id: `v${i}`,
    creatorId: `c${i % 4}`,
    title: `${categories[i % 3]} video ${i}`,
    tags: [categories[i % 3], i % 2 ? "long" : "short"],
    category: categories[i % 3],
    language: i % 5 === 0 ? "fr" : "en",
    durationSec: 60 + 30 * i,
    uploadedAt: T0 - (12 - i) * DAY_MS,
  }));
  const users: User[] = Array.from({ length: 6 }, (_, i) => ({
    id: `u${i}`,
    age: 16 + 9 * i,
    country: i % 2 ? "US" : "FR",
    language: i % 2 ? "en" : "fr",
    device: i % 3 === 0 ? "tv" : "mobile",
  }));
  const events: ReelEvent[] = [];
  let n = 0;
  let s = 7;
  const rand = () => (s = (s * 16807) % 2147483647) / 2147483647;
  for (let d = 0; d < 10; d++) {
    for (const u of users) {
      for (let k = 0; k < 3; k++) {
        const v = videos[Math.floor(rand() * videos.length)];
        const ts = T0 + d * DAY_MS + Math.floor(rand() * 20) * HOUR_MS;
        const base = { userId: u.id, videoId: v.id, device: u.device, country: u.country };
        events.push({ ...base, id: `e${n++}`, type: "impression", ts, position: k, surface: "home" });
        if (rand() < 0.6) {
          events.push({ ...base, id: `e${n++}`, type: "click", ts: ts + 1000, surface: "home", position: k });
          events.push({ ...base, id: `e${n++}`, type: "watch", ts: ts + 60_000, watchedSec: Math.floor(rand() * v.durationSec), videoDurationSec: v.durationSec });
          if (rand() < 0.3) events.push({ ...base, id: `e${n++}`, type: "like", ts: ts + 61_000 });
          // Same timestamp as the like: must not see each other in replay.
          if (rand() < 0.2) events.push({ ...base, id: `e${n++}`, type: "share", ts: ts + 61_000 });
        }
      }
    }
  }
  events.sort((a, b) => a.ts - b.ts);
  return { source: "test:tiny", users, creators: [], videos, follows: [], subscriptions: [], events };
}
