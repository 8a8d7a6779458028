/**
 * A synthetic video platform with a known ground truth, for tests, demos and benchmarks: every event type the
 * product collects, generated from latent user tastes over topics, so a test can check that a model learned
 * something true (truth.affinity) rather than something merely self-consistent.
 *
 * The story, per day: users with tastes over K topics open sessions; each session shows a page (popular, random
 * and on-taste videos, or search results), the user clicks with a probability that rises with taste·topic and
 * falls with position, watches with a completion that depends on affinity and on how far the video's duration is
 * from the user's preferred one, and sometimes likes, shares, comments, saves, subscribes, reports... Creators
 * specialise in topics, and their videos' titles, tags and descriptions are drawn from per-topic vocabularies, so
 * content embeddings carry the topic signal too.
 *
 * Deterministic: the same options (seed included) give the same dataset, byte for byte. Nothing reads the clock.
 */
import { silentProgress, type Progress } from "../util/progress";
import { seededRandom } from "../util/random";
import type {
  Creator,
  Dataset,
  Device,
  Follow,
  PolicyFlag,
  ReelEvent,
  Subscription,
  Surface,
  User,
  Video,
} from "./types";

/** Options for {@link generateSynthetic}. */
export interface SyntheticOptions {
  /** Number of users. */
  users: number;
  /** Number of videos (uploads spread over the year before and the days simulated). */
  videos: number;
  /** Days of activity simulated, from startTs. */
  days: number;
  /** PRNG seed. @default 42 */
  seed?: number;
  /** Number of creators. @default max(3, round(videos / 25)) */
  creators?: number;
  /** Number of latent topics (categories). @default 12 */
  topics?: number;
  /** Start of the first simulated day (epoch ms, UTC). @default Date.UTC(2025, 0, 1) */
  startTs?: number;
  /** @default silentProgress */
  progress?: Progress;
}

/** What generated the data: the answers a model should recover. Indexes follow dataset.users / dataset.videos. */
export interface SyntheticTruth {
  /** Topic names; topic k is the category of videos whose main topic is k. */
  topics: string[];
  userIds: string[];
  videoIds: string[];
  /** users × topics, each row sums to 1. */
  userTaste: number[][];
  /** videos × topics, each row sums to 1. */
  videoTopic: number[][];
  /** Main topic index per video. */
  videoMainTopic: number[];
  /** Latent quality per video (standard normal): raises clicks and completion for everyone. */
  videoQuality: number[];
  /** Preferred video duration per user, seconds. */
  preferredDurationSec: number[];
  /** taste · topic, in [0, 1]: how much the user likes the video's topics. 0 for unknown ids. */
  affinity(userId: string, videoId: string): number;
}

const DAY_MS = 86_400_000;

const VOCAB: ReadonlyArray<[string, readonly string[]]> = [
  ["gaming", ["game", "level", "boss", "speedrun", "console", "multiplayer", "quest", "pixel", "controller", "esports", "strategy", "loot"]],
  ["cooking", ["recipe", "kitchen", "pasta", "bake", "spicy", "chef", "dessert", "grill", "vegan", "bread", "sauce", "flavor"]],
  ["music", ["guitar", "song", "concert", "album", "piano", "beat", "vocal", "remix", "drum", "melody", "band", "lyrics"]],
  ["sports", ["football", "goal", "match", "training", "basketball", "league", "score", "athlete", "tennis", "marathon", "coach", "stadium"]],
  ["tech", ["smartphone", "laptop", "review", "gadget", "unboxing", "software", "chip", "battery", "camera", "coding", "robot", "upgrade"]],
  ["travel", ["journey", "beach", "mountain", "city", "hotel", "flight", "island", "backpack", "road", "culture", "adventure", "map"]],
  ["comedy", ["prank", "sketch", "funny", "joke", "parody", "standup", "blooper", "laugh", "skit", "meme", "roast", "improv"]],
  ["education", ["lesson", "physics", "history", "math", "explained", "lecture", "chemistry", "tutorial", "theory", "quiz", "study", "exam"]],
  ["fitness", ["workout", "yoga", "cardio", "muscle", "stretch", "squat", "routine", "hiit", "protein", "running", "abs", "mobility"]],
  ["news", ["report", "election", "economy", "interview", "debate", "breaking", "policy", "analysis", "weather", "market", "summit", "headline"]],
  ["diy", ["craft", "woodworking", "repair", "build", "garden", "paint", "tools", "restore", "sew", "decor", "furniture", "project"]],
  ["animals", ["puppy", "kitten", "wildlife", "dog", "cat", "bird", "aquarium", "horse", "rescue", "zoo", "ocean", "safari"]],
  ["beauty", ["makeup", "skincare", "hair", "nails", "fashion", "outfit", "lipstick", "style", "glam", "cosmetics", "perfume", "haul"]],
  ["cars", ["engine", "drift", "supercar", "motor", "race", "garage", "electric", "tuning", "offroad", "truck", "drive", "horsepower"]],
  ["film", ["trailer", "movie", "cinema", "director", "scene", "critique", "actor", "animation", "horror", "oscars", "plot", "sequel"]],
  ["science", ["space", "rocket", "planet", "experiment", "biology", "telescope", "galaxy", "atom", "climate", "lab", "fossil", "energy"]],
];
const GENERIC_WORDS = ["best", "new", "how", "my", "top", "ultimate", "guide", "day", "vlog", "first", "time", "live", "easy", "real", "why"];
const SYLLABLES = ["ka", "lo", "mi", "ren", "to", "va", "shi", "por", "ell", "dun", "ix", "qua", "zo", "bel", "nar", "fi"];
const COUNTRIES: ReadonlyArray<[string, string, number]> = [
  ["US", "en", 35], ["IN", "en", 12], ["GB", "en", 10], ["BR", "pt", 8], ["DE", "de", 8],
  ["FR", "fr", 7], ["JP", "ja", 6], ["ES", "es", 6], ["MX", "es", 5], ["CA", "en", 3],
];
const DEVICE_WEIGHTS: ReadonlyArray<[Device, number]> = [["mobile", 55], ["desktop", 25], ["tv", 10], ["tablet", 10]];
const POLICY: readonly PolicyFlag[] = ["violence", "adult", "spam", "copyright", "misinformation"];
const REPORT_REASONS = ["spam", "misleading", "violence", "hateful", "sexual content", "copyright"];
const SHARE_TARGETS = ["whatsapp", "messages", "twitter", "facebook", "email", "copy_link"];
const COMMENT_GOOD = ["love this", "so good", "great video", "thanks for sharing", "more please", "amazing"];
const COMMENT_MEH = ["not sure about this", "too long", "meh", "first", "seen better", "ok I guess"];

/** The simulation's draws, all from one seeded stream (seeds are 32-bit). */
function createRng(seed: number) {
  const next = seededRandom(seed);
  const normal = () => {
    const u = 1 - next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  const gamma = (alpha: number): number => {
    // Marsaglia–Tsang; alpha < 1 via the boost gamma(alpha + 1) * U^(1/alpha).
    if (alpha < 1) return gamma(alpha + 1) * Math.pow(1 - next(), 1 / alpha);
    const d = alpha - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = next();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  };
  return {
    next,
    normal,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    weighted<T>(items: ReadonlyArray<readonly [T, ...unknown[]]>, weightAt: number): T {
      let total = 0;
      for (const it of items) total += it[weightAt] as number;
      let r = next() * total;
      for (const it of items) {
        r -= it[weightAt] as number;
        if (r <= 0) return it[0];
      }
      return items[items.length - 1][0];
    },
    dirichlet(k: number, alpha: number): number[] {
      const xs = Array.from({ length: k }, () => gamma(alpha) + 1e-12);
      const s = xs.reduce((a, b) => a + b, 0);
      return xs.map((x) => x / s);
    },
    /** Index drawn with probability proportional to `weights`. */
    categorical(weights: readonly number[]): number {
      let total = 0;
      for (const w of weights) total += w;
      let r = next() * total;
      for (let i = 0; i < weights.length; i++) {
        r -= weights[i];
        if (r <= 0) return i;
      }
      return weights.length - 1;
    },
  };
}
type Rng = ReturnType<typeof createRng>;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function topicVocab(k: number, rng: Rng): [string, readonly string[]] {
  if (k < VOCAB.length) return VOCAB[k];
  // Past the hand-written topics, invent pronounceable words so every topic still has its own vocabulary.
  const word = () => Array.from({ length: 2 + rng.int(2) }, () => rng.pick(SYLLABLES)).join("");
  return [`topic${k + 1}`, Array.from({ length: 12 }, word)];
}

function words(rng: Rng, vocab: readonly string[], n: number): string[] {
  return Array.from({ length: n }, () => rng.pick(vocab));
}

const capitalize = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);

export function generateSynthetic(options: SyntheticOptions): { dataset: Dataset; truth: SyntheticTruth } {
  const {
    users: nUsers,
    videos: nVideos,
    days,
    seed = 42,
    creators: nCreators = Math.max(3, Math.round(options.videos / 25)),
    topics: K = 12,
    startTs = Date.UTC(2025, 0, 1),
    progress = silentProgress,
  } = options;
  for (const [name, v] of Object.entries({ users: nUsers, videos: nVideos, days, creators: nCreators, topics: K })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`generateSynthetic: ${name} must be a positive integer, got ${v}`);
  }
  const rng = createRng(seed);
  const endTs = startTs + days * DAY_MS;
  const topicDefs = Array.from({ length: K }, (_, k) => topicVocab(k, rng));
  const topics = topicDefs.map(([name]) => name);

  // Creators: one main topic, sometimes a second; productivity is heavy-tailed like real platforms.
  const creators: Creator[] = [];
  const creatorTopics: number[][] = [];
  const creatorWeight: number[] = [];
  const creatorCountry: Array<[string, string]> = [];
  for (let c = 0; c < nCreators; c++) {
    const main = c < K ? c : rng.int(K); // every topic has at least one creator when possible
    const ts = [main];
    if (K > 1 && rng.chance(0.3)) ts.push((main + 1 + rng.int(K - 1)) % K);
    creatorTopics.push(ts);
    creatorWeight.push(1 / Math.pow(c + 1, 0.6));
    const country = rng.weighted(COUNTRIES, 2);
    const language = COUNTRIES.find(([cc]) => cc === country)![1];
    creatorCountry.push([country, language]);
    creators.push({
      id: `c${c}`,
      name: `${capitalize(rng.pick(topicDefs[main][1]))} ${rng.pick(["Lab", "Studio", "Channel", "TV", "Club", "Daily", "Show"])} ${c}`,
      country,
      language,
      createdAt: startTs - (400 + rng.int(1500)) * DAY_MS,
    });
  }

  // Videos.
  const videos: Video[] = [];
  const videoTopic: number[][] = [];
  const videoMain: number[] = [];
  const videoQuality: number[] = [];
  for (let v = 0; v < nVideos; v++) {
    const c = rng.categorical(creatorWeight);
    const ct = creatorTopics[c];
    const main = rng.chance(0.85) ? rng.pick(ct) : rng.int(K);
    const vec = new Array<number>(K).fill(0);
    const purity = 0.7 + 0.3 * rng.next();
    vec[main] += purity;
    const second = K > 1 ? (ct.find((t) => t !== main) ?? (main + 1 + rng.int(K - 1)) % K) : main;
    vec[second] += 1 - purity;
    const [, vocab] = topicDefs[main];
    const [, secondVocab] = topicDefs[second];
    const kind = rng.next();
    // Three formats: shorts, mid-length, long-form; log-normal spread within each.
    const base = kind < 0.35 ? 35 : kind < 0.8 ? 420 : 1800;
    const durationSec = Math.max(5, Math.round(base * Math.exp(0.4 * rng.normal())));
    // Half back catalogue (the year before), half uploaded during the simulated days, down to the last one.
    const uploadedAt = rng.chance(0.5)
      ? startTs - 1 - rng.int(365 * DAY_MS)
      : startTs + rng.int(days * DAY_MS);
    const tags = new Set(words(rng, vocab, 2 + rng.int(4)));
    if (rng.chance(0.4)) tags.add(rng.pick(secondVocab));
    const titleWords = [...words(rng, vocab, 2 + rng.int(3)), ...words(rng, GENERIC_WORDS, 1 + rng.int(2))];
    for (let i = titleWords.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [titleWords[i], titleWords[j]] = [titleWords[j], titleWords[i]];
    }
    const description = [
      ...words(rng, vocab, 6 + rng.int(6)),
      ...words(rng, secondVocab, 1 + rng.int(3)),
      ...words(rng, GENERIC_WORDS, 2),
    ];
    const video: Video = {
      id: `v${v}`,
      creatorId: creators[c].id,
      title: titleWords.map(capitalize).join(" "),
      description: description.join(" "),
      tags: [...tags],
      category: topics[main],
      language: rng.chance(0.8) ? creatorCountry[c][1] : "en",
      durationSec,
      uploadedAt,
    };
    if (rng.chance(0.03)) video.ageRestricted = true;
    if (rng.chance(0.02)) video.policyFlags = [rng.pick(POLICY)];
    if (rng.chance(0.02)) video.blockedRegions = [rng.weighted(COUNTRIES, 2)];
    videos.push(video);
    videoTopic.push(vec);
    videoMain.push(main);
    videoQuality.push(rng.normal());
  }

  // Users.
  const users: User[] = [];
  const taste: number[][] = [];
  const maxTaste: number[] = [];
  const prefLogDur: number[] = [];
  const activity: number[] = [];
  const peakHour: number[] = [];
  for (let u = 0; u < nUsers; u++) {
    const t = rng.dirichlet(K, 0.3);
    taste.push(t);
    maxTaste.push(Math.max(...t));
    prefLogDur.push(Math.log(30) + rng.next() * Math.log(3000 / 30));
    activity.push(0.1 + 0.8 * rng.next() ** 1.5);
    peakHour.push((18 + Math.round(4 * rng.normal()) + 24) % 24);
    const country = rng.weighted(COUNTRIES, 2);
    const user: User = {
      id: `u${u}`,
      country,
      language: COUNTRIES.find(([cc]) => cc === country)![1],
      device: rng.weighted(DEVICE_WEIGHTS, 1),
      // Most accounts predate the window; some sign up during it (cold start).
      createdAt: rng.chance(0.85) ? startTs - DAY_MS - rng.int(720 * DAY_MS) : startTs + rng.int(days * DAY_MS),
    };
    const a = rng.next();
    // ~10% unknown age (treated as minors by the age filter), ~8% minors.
    if (a >= 0.1) user.age = a < 0.18 ? 13 + rng.int(5) : 18 + Math.round(Math.abs(rng.normal()) * 18);
    const g = rng.next();
    if (g < 0.45) user.gender = "female";
    else if (g < 0.9) user.gender = "male";
    else if (g < 0.95) user.gender = "nonbinary";
    users.push(user);
  }
  const affinityIdx = (u: number, v: number) => {
    const t = taste[u];
    const x = videoTopic[v];
    let s = 0;
    for (let k = 0; k < K; k++) s += t[k] * x[k];
    return s;
  };

  const creatorsByTopic: number[][] = Array.from({ length: K }, () => []);
  creatorTopics.forEach((ts, c) => ts.forEach((t) => creatorsByTopic[t].push(c)));
  const topTopics = (u: number, n: number) =>
    taste[u]
      .map((w, k) => [w, k] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, n)
      .map(([, k]) => k);

  // Social graph: follow candidates chosen by taste similarity (homophily); some follows predate the window.
  const follows: Follow[] = [];
  const followed: Array<Set<number>> = Array.from({ length: nUsers }, () => new Set());
  const followCandidates: number[][] = [];
  for (let u = 0; u < nUsers; u++) {
    const pool: Array<[number, number]> = [];
    for (let i = 0; i < Math.min(30, nUsers - 1); i++) {
      const o = rng.int(nUsers);
      if (o === u) continue;
      let sim = 0;
      for (let k = 0; k < K; k++) sim += taste[u][k] * taste[o][k];
      pool.push([o, sim]);
    }
    pool.sort((a, b) => b[1] - a[1]);
    followCandidates.push(pool.slice(0, 10).map(([o]) => o));
    const preWindow = users[u].createdAt! < startTs ? rng.int(5) : 0;
    for (const o of followCandidates[u].slice(0, preWindow)) {
      if (followed[u].has(o) || users[o].createdAt! >= startTs) continue;
      followed[u].add(o);
      const ts = Math.max(users[u].createdAt!, users[o].createdAt!) + rng.int(DAY_MS);
      follows.push({ followerId: users[u].id, followeeId: users[o].id, ts: Math.min(ts, startTs - 1) });
    }
  }
  // Subscriptions to creators of the user's favourite topics; unsubscribes remove them (the list is the state).
  const subscribed: Array<Map<number, number>> = Array.from({ length: nUsers }, () => new Map());
  for (let u = 0; u < nUsers; u++) {
    if (users[u].createdAt! >= startTs) continue;
    for (const k of topTopics(u, 2)) {
      const cs = creatorsByTopic[k];
      if (cs.length > 0 && rng.chance(0.6)) {
        const c = rng.pick(cs);
        if (!subscribed[u].has(c)) subscribed[u].set(c, users[u].createdAt! + rng.int(startTs - users[u].createdAt!));
      }
    }
  }

  // Sessions, day by day.
  const events: ReelEvent[] = [];
  let eventNo = 0;
  let sessionNo = 0;
  const nextId = () => `syn:e${(eventNo++).toString(36)}`;
  const videoOrder = videos.map((_, i) => i).sort((a, b) => videos[a].uploadedAt - videos[b].uploadedAt);
  const available: number[] = [];
  const availableByTopic: number[][] = Array.from({ length: K }, () => []);
  const availableByCreator: number[][] = Array.from({ length: nCreators }, () => []);
  const creatorIndex = new Map(creators.map((c, i) => [c.id, i]));
  let cursor = 0;
  const popularity = new Float64Array(nVideos);
  const watched: Array<Set<number>> = Array.from({ length: nUsers }, () => new Set());
  let popular: number[] = [];
  const step = progress.step("synthetic days", days);

  for (let d = 0; d < days; d++) {
    const dayStart = startTs + d * DAY_MS;
    while (cursor < videoOrder.length && videos[videoOrder[cursor]].uploadedAt < dayStart) {
      const v = videoOrder[cursor++];
      available.push(v);
      availableByTopic[videoMain[v]].push(v);
      availableByCreator[creatorIndex.get(videos[v].creatorId)!].push(v);
    }
    if (available.length === 0) {
      step.tick();
      continue;
    }
    for (let i = 0; i < nVideos; i++) popularity[i] *= 0.7;
    popular = [...available].sort((a, b) => popularity[b] - popularity[a] || a - b).slice(0, 50);

    for (let u = 0; u < nUsers; u++) {
      const user = users[u];
      if (user.createdAt! >= dayStart + DAY_MS || !rng.chance(activity[u])) continue;
      const sessions = 1 + (rng.chance(0.3) ? 1 : 0);
      for (let s = 0; s < sessions; s++) {
        const hour = (peakHour[u] + Math.round(3 * rng.normal()) + 48) % 24;
        let t = Math.max(dayStart + hour * 3_600_000 + rng.int(3_600_000), user.createdAt! + 60_000);
        if (t >= endTs) continue;
        runSession(u, t);
      }
    }
    step.tick();
  }
  step.done(`${events.length} events`);

  function runSession(u: number, t0: number): void {
    const user = users[u];
    const sessionId = `syn:s${(sessionNo++).toString(36)}`;
    const device: Device = rng.chance(0.8) ? user.device! : rng.weighted(DEVICE_WEIGHTS, 1);
    const base = { userId: user.id, sessionId, device, country: user.country! };
    let t = t0;
    const emit = (e: Record<string, unknown>) => {
      events.push({ id: nextId(), ...base, ...e, ts: e.ts ?? t } as unknown as ReelEvent);
    };
    const tastes = taste[u];
    const onTaste = () => {
      for (let tries = 0; tries < 4; tries++) {
        const list = availableByTopic[rng.categorical(tastes)];
        if (list.length > 0) return rng.pick(list);
      }
      return rng.pick(available);
    };

    // Page: search results, subscriptions feed, or a home/trending/shorts mix.
    const r = rng.next();
    let surface: Surface;
    let page: number[];
    let searchQuery: string | undefined;
    const subs = [...subscribed[u].keys()];
    if (r < 0.12) {
      surface = "search";
      const k = rng.categorical(tastes);
      searchQuery = words(rng, topicDefs[k][1], 1 + rng.int(2)).join(" ");
      const list = availableByTopic[k].length > 0 ? availableByTopic[k] : available;
      page = Array.from({ length: 8 }, () => rng.pick(list));
    } else if (r < 0.22 && subs.length > 0) {
      surface = "subscriptions";
      page = [];
      for (let i = 0; i < 10; i++) {
        const list = availableByCreator[rng.pick(subs)];
        page.push(list.length > 0 ? list[list.length - 1 - rng.int(Math.min(5, list.length))] : onTaste());
      }
    } else {
      surface = r < 0.32 ? "trending" : r < 0.42 ? "shorts" : "home";
      page = [];
      const size = 8 + rng.int(8);
      for (let i = 0; i < size; i++) {
        const x = rng.next();
        page.push(x < 0.3 ? rng.pick(popular) : x < 0.5 ? rng.pick(available) : onTaste());
      }
    }
    page = [...new Set(page)];
    const trackingId = `syn:t${sessionNo.toString(36)}`;
    const clicked: string[] = [];
    const searchTs = t;
    t += 1000;

    for (let pos = 0; pos < page.length; pos++) {
      const v = page[pos];
      const video = videos[v];
      emit({ type: "impression", videoId: video.id, position: pos, surface, trackingId, ts: t });
      const rel = affinityIdx(u, v) / maxTaste[u];
      const fresh = t - video.uploadedAt < 2 * DAY_MS ? 0.3 : 0;
      const pClick = sigmoid(-3.2 + 4.2 * rel + 0.4 * videoQuality[v] + fresh - 0.35 * Math.log1p(pos) - (watched[u].has(v) ? 1.5 : 0));
      if (!rng.chance(pClick)) {
        if (rng.chance(0.3)) emit({ type: "dwell", videoId: video.id, dwellMs: Math.round(300 + rng.next() * 2000 + 1500 * rel), scrolledPast: true, ts: t + 400 });
        if (rng.chance(0.03 * (1 - rel))) {
          emit({ type: "not_interested", videoId: video.id, ts: t + 800 });
          if (rng.chance(0.08)) emit({ type: "block_creator", creatorId: video.creatorId, ts: t + 1200 });
        }
        t += 700 + rng.int(1500);
        continue;
      }
      // Clicked: watch it through.
      t += 1500 + rng.int(4000);
      clicked.push(video.id);
      emit({ type: "click", videoId: video.id, surface, position: pos, trackingId, ts: t });
      t += 800;
      emit({ type: "start", videoId: video.id, ts: t });
      popularity[v] += 1;
      const dur = video.durationSec;
      const durMismatch = Math.abs(Math.log(dur) - prefLogDur[u]);
      let completion = sigmoid(-0.3 + 3 * rel + 0.5 * videoQuality[v] - 0.6 * durMismatch + 0.6 * rng.normal());
      if (completion > 0.97) completion = 1;
      let watchedSec = Math.max(1, Math.round(completion * dur));
      if (watchedSec > dur) watchedSec = dur;
      const startT = t;
      let wall = 0; // extra wall-clock ms (pauses)
      const checkpoints = [25, 50, 75, 100] as const;
      const pauseAt = dur > 60 && rng.chance(0.2) ? rng.next() * watchedSec : -1;
      const seekAt = dur > 120 && rng.chance(0.15) ? rng.next() * watchedSec : -1;
      let paused = pauseAt < 0;
      let seeked = seekAt < 0;
      for (const pct of checkpoints) {
        const at = (pct / 100) * dur;
        if (at > watchedSec + 1e-9) break;
        if (!paused && pauseAt <= at) {
          paused = true;
          const pt = Math.round(pauseAt);
          emit({ type: "pause", videoId: video.id, positionSec: pt, ts: startT + pt * 1000 + wall });
          wall += 5_000 + rng.int(115_000);
          emit({ type: "resume", videoId: video.id, positionSec: pt, ts: startT + pt * 1000 + wall });
        }
        if (!seeked && seekAt <= at) {
          seeked = true;
          const from = Math.round(seekAt);
          // Low affinity skips ahead (boring), high affinity goes back (rewatch).
          const to = rel < 0.5 ? Math.min(dur, from + 10 + rng.int(60)) : Math.max(0, from - 5 - rng.int(30));
          emit({ type: "seek", videoId: video.id, fromSec: from, toSec: to, ts: startT + from * 1000 + wall });
        }
        emit({ type: "progress", videoId: video.id, percent: pct, ts: startT + Math.round(at * 1000) + wall });
      }
      t = startT + watchedSec * 1000 + wall;
      emit({ type: "watch", videoId: video.id, watchedSec, videoDurationSec: dur, ts: t });
      watched[u].add(v);
      const c = creatorIndex.get(video.creatorId)!;
      t += 500;
      if (rng.chance(sigmoid(-5 + 3 * rel + 2 * completion + 0.3 * videoQuality[v]))) {
        emit({ type: "like", videoId: video.id, ts: t });
        if (!subscribed[u].has(c) && rng.chance(0.15)) {
          subscribed[u].set(c, t);
          emit({ type: "subscribe", creatorId: video.creatorId, sourceVideoId: video.id, ts: t + 300 });
        }
      } else if (rng.chance(0.25 * (1 - rel) * (1 - completion) + 0.01)) {
        emit({ type: "dislike", videoId: video.id, ts: t });
        if (rng.chance(0.15)) emit({ type: "block_creator", creatorId: video.creatorId, ts: t + 400 });
      }
      if (rng.chance(0.02 + 0.05 * rel)) emit({ type: "comment", videoId: video.id, text: rng.pick(rel > 0.5 ? COMMENT_GOOD : COMMENT_MEH), ts: t + 1000 });
      if (rng.chance(0.005 + 0.03 * rel * completion)) emit({ type: "share", videoId: video.id, target: rng.pick(SHARE_TARGETS), ts: t + 1500 });
      if (rng.chance(0.01 + 0.04 * rel)) emit({ type: "save", videoId: video.id, playlistId: rng.chance(0.7) ? "watch_later" : `pl-${user.id}-${rng.int(3)}`, ts: t + 1800 });
      const pReport = video.policyFlags ? 0.15 : 0.003;
      if (rng.chance(pReport)) emit({ type: "report", videoId: video.id, reason: rng.pick(REPORT_REASONS), ts: t + 2000 });
      t += 2500;
      if (rng.chance(0.3)) break; // sessions end after a watch, sometimes
    }
    if (searchQuery !== undefined) {
      const e: Record<string, unknown> = { type: "search", query: searchQuery, ts: searchTs };
      if (clicked.length > 0) e.clickedVideoIds = clicked;
      emit(e);
    }
    // Occasional social actions at the end of a session.
    if (rng.chance(0.04)) {
      const o = followCandidates[u].find((x) => !followed[u].has(x) && users[x].createdAt! <= t);
      if (o !== undefined) {
        followed[u].add(o);
        follows.push({ followerId: user.id, followeeId: users[o].id, ts: t });
        emit({ type: "follow", followeeId: users[o].id, ts: t });
      }
    }
    if (subs.length > 0 && rng.chance(0.02)) {
      // Drop the subscription furthest from current taste.
      let worst = subs[0];
      let worstAff = Infinity;
      for (const c of subs) {
        let a = 0;
        for (const k of creatorTopics[c]) a += tastes[k];
        if (a < worstAff) [worst, worstAff] = [c, a];
      }
      subscribed[u].delete(worst);
      emit({ type: "unsubscribe", creatorId: creators[worst].id, ts: t + 1000 });
    }
  }

  // The search event is emitted after its page (it needs the clicks) with the page's first timestamp: sort.
  events.sort((a, b) => a.ts - b.ts);
  const subscriptions: Subscription[] = [];
  subscribed.forEach((m, u) => {
    for (const [c, ts] of m) subscriptions.push({ userId: users[u].id, creatorId: creators[c].id, ts });
  });
  follows.sort((a, b) => a.ts - b.ts);
  subscriptions.sort((a, b) => a.ts - b.ts);

  const userIndex = new Map(users.map((u, i) => [u.id, i]));
  const videoIndex = new Map(videos.map((v, i) => [v.id, i]));
  const truth: SyntheticTruth = {
    topics,
    userIds: users.map((u) => u.id),
    videoIds: videos.map((v) => v.id),
    userTaste: taste,
    videoTopic,
    videoMainTopic: videoMain,
    videoQuality,
    preferredDurationSec: prefLogDur.map((x) => Math.round(Math.exp(x))),
    affinity(userId, videoId) {
      const u = userIndex.get(userId);
      const v = videoIndex.get(videoId);
      return u === undefined || v === undefined ? 0 : affinityIdx(u, v);
    },
  };
  const dataset: Dataset = {
    source: `synthetic:seed=${seed},users=${nUsers},videos=${nVideos},days=${days}`,
    users,
    creators,
    videos,
    follows,
    subscriptions,
    events,
  };
  return { dataset, truth };
}
