import type { Dataset, ReelEvent, User, Video } from "../data/types";
import type { UserAggregates } from "../features/aggregates";
import { COMPLETION_THRESHOLD } from "../features/aggregates";
import { replayEvents, type AggregateState, type AggregatesSnapshot } from "../features/replay";
import type { RankerRowInput } from "../features/rows";
import type { Progress } from "../util/progress";
import { badInput } from "../errors";
import { isPositive } from "./split";

/**
 * Training examples, point-in-time: every example's features come from the replayed aggregates strictly before
 * its own timestamp (features/replay.ts), through the same row inputs the server builds at request time.
 */

/** Post-click outcomes are joined to an impression when they happen within this window after it. */
export const OUTCOME_WINDOW_MS = 6 * 3_600_000;
/** A click counts for an impression within this window. */
export const CLICK_WINDOW_MS = 30 * 60_000;

export const RANKER_HEADS = ["click", "completion", "like", "dislike"] as const;
export type RankerHead = (typeof RANKER_HEADS)[number];

export interface RankerExamples {
  inputs: RankerRowInput[];
  labels: Record<RankerHead, Float32Array>;
  /** 1 where a head's label applies: post-click heads learn only from clicked rows (selection bias). */
  masks: Record<RankerHead, Float32Array>;
  /**
   * How the rows were made: "impressions" (logged), "sampled-negatives" (a watch and random unwatched videos), or
   * "candidates" (what the sources would propose, labelled by what the user went on to watch).
   */
  negatives: "impressions" | "sampled-negatives" | "candidates";
  /** Per row, the time of the event it was made from (ascending). */
  ts: Float64Array;
}

export interface TwoTowerExamples {
  /** The user side of each example, as the user was just before the positive interaction. */
  users: Array<{ user?: User; userAgg?: UserAggregates; context: { now: number; device?: ReelEvent["device"]; country?: string } }>;
  /** Catalog row of the positive video per example. */
  positives: Int32Array;
}

interface Outcome {
  ts: number;
  type: ReelEvent["type"];
  completion?: number;
}

/** (user, video) → that pair's click/watch/like/dislike events in time order. */
function outcomeIndex(events: readonly ReelEvent[]): Map<string, Outcome[]> {
  const index = new Map<string, Outcome[]>();
  for (const e of events) {
    if (e.type !== "click" && e.type !== "watch" && e.type !== "like" && e.type !== "dislike") continue;
    const key = `${e.userId}\u0000${e.videoId}`;
    const completion = e.type === "watch" && e.videoDurationSec > 0 ? Math.min(1, e.watchedSec / e.videoDurationSec) : undefined;
    const list = index.get(key);
    const o = { ts: e.ts, type: e.type, completion };
    if (list) list.push(o);
    else index.set(key, [o]);
  }
  for (const list of index.values()) list.sort((a, b) => a.ts - b.ts);
  return index;
}

/**
 * What (user, video) did from `from` to `to` (inclusive): a click by `clickBy`, the best completion (as the
 * COMPLETION_THRESHOLD label), a like, a dislike.
 */
function outcomesBetween(index: ReadonlyMap<string, Outcome[]>, userId: string, videoId: string, from: number, to: number, clickBy = -Infinity) {
  const list = index.get(`${userId}\u0000${videoId}`) ?? [];
  let clicked = false;
  let completion = 0;
  let like = 0;
  let dislike = 0;
  for (let i = firstAtOrAfter(list, from); i < list.length && list[i].ts <= to; i++) {
    const o = list[i];
    if (o.type === "click" && o.ts <= clickBy) clicked = true;
    if (o.type === "watch") completion = Math.max(completion, o.completion ?? 0);
    if (o.type === "like") like = 1;
    if (o.type === "dislike") dislike = 1;
  }
  return { clicked, completion: completion >= COMPLETION_THRESHOLD ? 1 : 0, like, dislike };
}

function firstAtOrAfter(list: readonly Outcome[], ts: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Seeded PRNG (mulberry32): sampled negatives are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ExampleOptions {
  /** Only events with from ≤ ts < until become examples (features still see all earlier history). */
  from?: number;
  until: number;
  progress?: Progress;
}

export interface RankerExampleOptions extends ExampleOptions {
  /** Negatives sampled per positive when the data has no impressions. @default 3 */
  negativesPerPositive?: number;
  /** Share of those negatives drawn uniformly from the videos uploaded before the event (see {@link rankerCollector}). @default UNIFORM_NEGATIVE_SHARE */
  uniformNegativeShare?: number;
  /** @default 7 */
  seed?: number;
  /** Keep at most this many examples (uniformly subsampled, seeded). @default Infinity */
  maxExamples?: number;
}

type Visitor = (e: ReelEvent, before: AggregatesSnapshot, state: Readonly<AggregateState>) => void;

interface RankerRow {
  ts: number;
  input: RankerRowInput;
  heads: Record<RankerHead, [label: number, mask: number]>;
}

/**
 * Share of sampled negatives drawn uniformly from the uploaded catalog; the rest are drawn in proportion to
 * popularity. Popularity-proportional negatives make every video about as often a negative as a positive, so the
 * click head learns to ignore popularity: it then re-orders a retrieval list by everything *but* the strongest
 * signal of the data, and the funnel lost to plain popularity on MovieLens (docs/training.md, "The serving funnel").
 */
export const UNIFORM_NEGATIVE_SHARE = 1;

/**
 * The ranker rows of one replay, collected by a visitor so one pass over the events can feed several collectors.
 * With impressions: one row per impression, click = a click on it within CLICK_WINDOW_MS, completion/like/dislike
 * from what followed the click within OUTCOME_WINDOW_MS (masked to clicked rows). Without impressions (e.g.
 * MovieLens): every watch is a clicked row and `negativesPerPositive` unclicked rows with the same point-in-time
 * features are sampled among the videos already uploaded: a `uniformShare` of them uniformly, the rest in
 * proportion to popularity (watches so far). Both draws come from the one seeded stream, so rows are reproducible.
 */
function rankerCollector(
  dataset: Dataset,
  options: { from: number; until: number; negativesPerPositive: number; uniformShare: number; random: () => number },
) {
  const { from, until, negativesPerPositive, uniformShare, random } = options;
  if (!(uniformShare >= 0 && uniformShare <= 1)) throw badInput("uniformNegativeShare", `must be in [0, 1], got ${uniformShare}`);
  const users = new Map(dataset.users.map((u) => [u.id, u]));
  const videos = new Map(dataset.videos.map((v) => [v.id, v]));
  const hasImpressions = dataset.events.some((e) => e.type === "impression" && e.ts < until && e.ts >= from);
  const outcomes = outcomeIndex(dataset.events);
  const rows: RankerRow[] = [];
  // Popularity-proportional sampling pool of watched videos (a video enters once uploaded and watched).
  const pool: Video[] = [];
  // Uniform draws: the catalog by upload time; the videos uploaded by t are a prefix of it.
  const byUpload = uniformShare > 0 ? [...dataset.videos].sort((a, b) => a.uploadedAt - b.uploadedAt || a.id.localeCompare(b.id)) : [];
  const uploadedBy = (t: number): number => {
    let lo = 0;
    let hi = byUpload.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (byUpload[mid].uploadedAt <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const outcomesAfter = (userId: string, videoId: string, ts: number, clickRequired: boolean) => {
    const o = outcomesBetween(outcomes, userId, videoId, ts, ts + OUTCOME_WINDOW_MS, ts + CLICK_WINDOW_MS);
    return { ...o, clicked: o.clicked || !clickRequired };
  };

  const visit: Visitor = (e, before, current) => {
    if (e.ts >= until) return;
    if (e.ts < from) {
      if (!hasImpressions && e.type === "watch") {
        const v = videos.get(e.videoId);
        if (v) pool.push(v);
      }
      return;
    }
    const user = users.get(e.userId);
    const context = { now: e.ts, device: e.device ?? user?.device, country: e.country ?? user?.country };
    if (hasImpressions && e.type === "impression") {
      const video = videos.get(e.videoId);
      if (!video) return;
      const o = outcomesAfter(e.userId, e.videoId, e.ts, true);
      const post = o.clicked ? 1 : 0;
      rows.push({
        ts: e.ts,
        input: { user, userAgg: before.userAgg, video, videoAgg: before.videoAgg, context: { ...context, surface: e.surface, position: e.position } },
        heads: { click: [o.clicked ? 1 : 0, 1], completion: [o.completion, post], like: [o.like, post], dislike: [o.dislike, post] },
      });
    } else if (!hasImpressions && e.type === "watch") {
      const video = videos.get(e.videoId);
      if (!video) return;
      const o = outcomesAfter(e.userId, e.videoId, e.ts, false);
      rows.push({
        ts: e.ts,
        input: { user, userAgg: before.userAgg, video, videoAgg: before.videoAgg, context },
        heads: { click: [1, 1], completion: [o.completion, 1], like: [o.like, 1], dislike: [o.dislike, 1] },
      });
      const seen = new Set(before.userAgg?.recent.map((r) => r.videoId));
      seen.add(video.id);
      const uploaded = uniformShare > 0 ? uploadedBy(e.ts) : 0;
      for (let n = 0, tries = 0; n < negativesPerPositive && tries < negativesPerPositive * 5; tries++) {
        const uniform = uniformShare > 0 && (uniformShare >= 1 || random() < uniformShare);
        const from = uniform ? byUpload : pool;
        const size = uniform ? uploaded : pool.length;
        if (size === 0) continue;
        const neg = from[Math.floor(random() * size)];
        if (seen.has(neg.id) || neg.uploadedAt > e.ts) continue;
        seen.add(neg.id);
        rows.push({
          ts: e.ts,
          input: { user, userAgg: before.userAgg, video: neg, videoAgg: current.videos.get(neg.id), context },
          heads: { click: [0, 1], completion: [0, 0], like: [0, 0], dislike: [0, 0] },
        });
        n++;
      }
      pool.push(video);
    }
  };
  const negatives: RankerExamples["negatives"] = hasImpressions ? "impressions" : "sampled-negatives";
  return { visit, rows, negatives };
}

function toRankerExamples(rows: readonly RankerRow[], keep: ArrayLike<number>, negatives: RankerExamples["negatives"]): RankerExamples {
  const n = keep.length;
  const labels = {} as Record<RankerHead, Float32Array>;
  const masks = {} as Record<RankerHead, Float32Array>;
  for (const head of RANKER_HEADS) {
    labels[head] = new Float32Array(n);
    masks[head] = new Float32Array(n);
  }
  const inputs: RankerRowInput[] = new Array(n);
  const ts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = rows[keep[i]];
    inputs[i] = row.input;
    ts[i] = row.ts;
    for (const head of RANKER_HEADS) {
      labels[head][i] = row.heads[head][0];
      masks[head][i] = row.heads[head][1];
    }
  }
  return { inputs, labels, masks, negatives, ts };
}

/** Indices of `[0, n)` kept by a seeded uniform subsample of at most `max`, in ascending order. */
function subsample(indices: number[], max: number, random: () => number): number[] {
  if (indices.length <= max) return indices;
  const keep = indices.slice();
  for (let i = keep.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [keep[i], keep[j]] = [keep[j], keep[i]];
  }
  return keep.slice(0, max).sort((a, b) => a - b);
}

/**
 * Impression-level ranker rows, point-in-time (see {@link rankerCollector} for the label rules). Rows are kept in
 * time order; at most `maxExamples`, uniformly subsampled with the seed.
 */
export function buildRankerExamples(dataset: Dataset, options: RankerExampleOptions): RankerExamples {
  const { from = -Infinity, until, negativesPerPositive = 3, uniformNegativeShare = UNIFORM_NEGATIVE_SHARE, seed = 7, maxExamples = Infinity, progress } = options;
  const random = seededRandom(seed);
  const collector = rankerCollector(dataset, { from, until, negativesPerPositive, uniformShare: uniformNegativeShare, random });
  replayEvents(dataset, collector.visit, { until, progress });
  const keep = subsample(Array.from(collector.rows.keys()), maxExamples, random);
  return toRankerExamples(collector.rows, keep, collector.negatives);
}

/** Rows of `examples` with from ≤ ts < until, at most `maxExamples` (seeded uniform subsample), in time order. */
export function selectRankerExamples(
  examples: RankerExamples,
  options: { from?: number; until?: number; maxExamples?: number; seed?: number },
): RankerExamples {
  const { from = -Infinity, until = Infinity, maxExamples = Infinity, seed = 7 } = options;
  const idx: number[] = [];
  for (let i = 0; i < examples.ts.length; i++) if (examples.ts[i] >= from && examples.ts[i] < until) idx.push(i);
  const keep = subsample(idx, maxExamples, seededRandom(seed));
  const rows: RankerRow[] = keep.map((i) => ({
    ts: examples.ts[i],
    input: examples.inputs[i],
    heads: Object.fromEntries(RANKER_HEADS.map((h) => [h, [examples.labels[h][i], examples.masks[h][i]]])) as RankerRow["heads"],
  }));
  return toRankerExamples(rows, Array.from(rows.keys()), examples.negatives);
}

/** Options of {@link rankerColdStart}. */
export interface RankerColdStartOptions {
  /** Share of rows shown as the same user without history. */
  rate: number;
  /** Share of the other rows whose user id is also dropped (cold rows always drop it). @default 0 */
  idRate?: number;
  /** @default 7 */
  seed?: number;
}

/**
 * Cold-start dropout for ranker rows, as the two-tower has it (two-tower.ts `coldStart`, `idDropout`): a seeded
 * `rate` share of the rows is shown as the same user would be without history (no aggregates: no history bags, no
 * cross features, the cold flag), with the same video, context and label. Without it the ranker sees "no history"
 * once per user, while most users of a test period (and of a growing service) arrive without any, and it ranked
 * their candidates by noise. Returns the rows and, per row, whether its user id must be replaced by an
 * out-of-vocabulary bucket (an unseen user hashes to one, and those embeddings are otherwise never trained): the
 * caller does that on the encoded rows, where the buckets are.
 */
export function rankerColdStart(examples: RankerExamples, options: RankerColdStartOptions): { examples: RankerExamples; dropUserId: Uint8Array } {
  const { rate, idRate = 0, seed = 7 } = options;
  if (!(rate >= 0 && rate <= 1)) throw badInput("coldStartRate", `must be in [0, 1], got ${rate}`);
  if (!(idRate >= 0 && idRate <= 1)) throw badInput("userIdDropout", `must be in [0, 1], got ${idRate}`);
  const random = seededRandom(seed);
  const n = examples.inputs.length;
  const dropUserId = new Uint8Array(n);
  const inputs = examples.inputs.slice();
  for (let i = 0; i < n; i++) {
    if (random() < rate) {
      if (inputs[i].userAgg) inputs[i] = { ...inputs[i], userAgg: undefined };
      dropUserId[i] = 1;
    } else if (random() < idRate) dropUserId[i] = 1;
  }
  return { examples: { ...examples, inputs }, dropUserId };
}

function twoTowerCollector(dataset: Dataset, videoRow: ReadonlyMap<string, number>, from: number) {
  const users = new Map(dataset.users.map((u) => [u.id, u]));
  const out: TwoTowerExamples["users"] = [];
  const positives: number[] = [];
  // A watch and a like of the same video are one interaction: the first positive event makes the example.
  const done = new Set<string>();
  const visit: Visitor = (e, before) => {
    if (e.ts < from || !isPositive(e)) return;
    const videoId = (e as { videoId: string }).videoId;
    const row = videoRow.get(videoId);
    const key = `${e.userId}\u0000${videoId}`;
    if (row === undefined || done.has(key)) return;
    done.add(key);
    const user = users.get(e.userId);
    out.push({ user, userAgg: before.userAgg, context: { now: e.ts, device: e.device ?? user?.device, country: e.country ?? user?.country } });
    positives.push(row);
  };
  return { visit, result: (): TwoTowerExamples => ({ users: out, positives: Int32Array.from(positives) }) };
}

/** One example per positive interaction (split.ts `isPositive`) in [from, until): the user as they were just before. */
export function buildTwoTowerExamples(dataset: Dataset, videoRow: ReadonlyMap<string, number>, options: ExampleOptions): TwoTowerExamples {
  const { from = -Infinity, until, progress } = options;
  const collector = twoTowerCollector(dataset, videoRow, from);
  replayEvents(dataset, collector.visit, { until, progress });
  return collector.result();
}

/** The two-tower examples before `until` (examples are in time order, so this is a prefix). */
export function selectTwoTowerExamples(examples: TwoTowerExamples, until: number): TwoTowerExamples {
  let n = 0;
  while (n < examples.users.length && examples.users[n].context.now < until) n++;
  return { users: examples.users.slice(0, n), positives: examples.positives.slice(0, n) };
}

export interface AllExamples {
  twoTower: TwoTowerExamples;
  /** Every ranker row (no subsampling), in time order: pick subsets with {@link selectRankerExamples}. */
  ranker: RankerExamples;
  /** Per cut in `cuts`, the aggregates of every event before it (what `aggregatesAt(dataset, cut)` returns). */
  snapshots: AggregateState[];
  /** The aggregates after every event. */
  final: AggregateState;
}

/**
 * Everything the pipeline needs from the event history in ONE point-in-time replay: two-tower examples, ranker
 * rows, and the aggregate states at the split cuts. Each replay of MovieLens costs seconds; the pipeline used to
 * run eight of them.
 */
export function buildAllExamples(
  dataset: Dataset,
  videoRow: ReadonlyMap<string, number>,
  options: { cuts: readonly number[]; negativesPerPositive?: number; uniformNegativeShare?: number; seed?: number; progress?: Progress },
): AllExamples {
  const { cuts, negativesPerPositive = 3, uniformNegativeShare = UNIFORM_NEGATIVE_SHARE, seed = 7, progress } = options;
  const ranker = rankerCollector(dataset, {
    from: -Infinity,
    until: Infinity,
    negativesPerPositive,
    uniformShare: uniformNegativeShare,
    random: seededRandom(seed),
  });
  const twoTower = twoTowerCollector(dataset, videoRow, -Infinity);
  const snapshots: Array<AggregateState | undefined> = cuts.map(() => undefined);
  // Maps are replaced entry by entry with immutable aggregates, so a shallow copy is a consistent snapshot.
  const snap = (state: Readonly<AggregateState>): AggregateState => ({ users: new Map(state.users), videos: new Map(state.videos) });
  const final = replayEvents(
    dataset,
    (e, before, state) => {
      for (let c = 0; c < cuts.length; c++) if (snapshots[c] === undefined && e.ts >= cuts[c]) snapshots[c] = snap(state);
      ranker.visit(e, before, state);
      twoTower.visit(e, before, state);
    },
    { progress },
  );
  return {
    twoTower: twoTower.result(),
    ranker: toRankerExamples(ranker.rows, Array.from(ranker.rows.keys()), ranker.negatives),
    snapshots: snapshots.map((s) => s ?? snap(final)),
    final,
  };
}

/** The rows of `parts`, one after the other (their `negatives` are the first part's). */
export function concatRankerExamples(parts: readonly RankerExamples[]): RankerExamples {
  const n = parts.reduce((m, p) => m + p.inputs.length, 0);
  const labels = {} as Record<RankerHead, Float32Array>;
  const masks = {} as Record<RankerHead, Float32Array>;
  for (const head of RANKER_HEADS) {
    labels[head] = new Float32Array(n);
    masks[head] = new Float32Array(n);
  }
  const ts = new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    for (const head of RANKER_HEADS) {
      labels[head].set(p.labels[head], o);
      masks[head].set(p.masks[head], o);
    }
    ts.set(p.ts, o);
    o += p.inputs.length;
  }
  return { inputs: parts.flatMap((p) => p.inputs), labels, masks, negatives: parts[0].negatives, ts };
}

/** Options of {@link buildCandidateRankerExamples}. */
export interface CandidateExampleOptions {
  /**
   * The events before every labelled slice (each user's history up to their query): the users' histories and the
   * videos' aggregates of the rows come from them alone, so no row's features count its own label's events.
   */
  history: readonly ReelEvent[];
  /** Per user: when their labelled slice begins (their query) and the videos they engaged with in it. */
  labelled: ReadonlyMap<string, { from: number; positives: ReadonlySet<string> }>;
  /** The candidate source's proposals for a user's aggregates, best first. */
  candidates: (userAgg: UserAggregates | undefined) => readonly string[];
  /**
   * The moment the rows' context describes: the end of the data the models are fitted on, which is when serving
   * will rank (an offline run, or a live server retrained on recent data). Rows at each query's own time instead
   * taught the ranker time features (a user's days since last seen, what trended that week) that serving never
   * shows it, and it ranked worse than the item neighbours alone (measured on MovieLens, whose users span 22 years).
   */
  asOf: number;
  /** Proposals kept per query. @default 100 */
  perQuery?: number;
  /** Most viewed videos added to each query, as the popularity sources add them. @default 30 */
  popular?: number;
  /** Videos drawn uniformly from the uploaded catalog per query (what the other sources might add). @default 20 */
  random?: number;
  /** @default 7 */
  seed?: number;
  /** Keep at most this many rows (uniformly subsampled, seeded). @default Infinity */
  maxExamples?: number;
  progress?: Progress;
}

/**
 * Ranker rows as serving will meet them, for data without impressions: for each user, the candidates the sources
 * would propose from their history before the labelled slice (the item neighbours' best, the most viewed, a few
 * random videos; the history excluded) become rows, and a candidate is a positive when the user went on to engage
 * with it in the labelled slice.
 *
 * Why not a watch plus sampled negatives: there, positives come from everywhere while negatives come from where
 * they were sampled, so a feature that marks the sampling region is learned backwards (negatives drawn from the
 * item neighbours' best taught the ranker that high affinity means "not watched": funnel NDCG@20 0.006 on
 * MovieLens). Here both labels come from the same candidate set, so P(watch | features) is what ranking needs.
 * Post-click heads learn from the positive rows, with the user's later outcomes on that video.
 */
export function buildCandidateRankerExamples(dataset: Dataset, options: CandidateExampleOptions): RankerExamples {
  const { history, labelled, candidates, asOf, perQuery = 100, popular = 30, random: randomPerQuery = 20, seed = 7, maxExamples = Infinity, progress } = options;
  const random = seededRandom(seed);
  const users = new Map(dataset.users.map((u) => [u.id, u]));
  const videos = new Map(dataset.videos.map((v) => [v.id, v]));
  const byUpload = [...dataset.videos].sort((a, b) => a.uploadedAt - b.uploadedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const outcomes = outcomeIndex(dataset.events);
  const state = replayEvents({ ...dataset, events: [...history] }, () => undefined, { until: asOf, progress });
  const mostViewed = [...state.videos.values()].sort((a, b) => b.views - a.views || (a.videoId < b.videoId ? -1 : 1)).map((v) => v.videoId);
  let uploaded = 0;
  while (uploaded < byUpload.length && byUpload[uploaded].uploadedAt < asOf) uploaded++;
  const rows: RankerRow[] = [];
  for (const [userId, { from, positives }] of labelled) {
    const user = users.get(userId);
    const userAgg = state.users.get(userId);
    const context = { now: asOf, device: user?.device, country: user?.country };
    const seen = new Set(userAgg?.recent.map((r) => r.videoId));
    const picked: Video[] = [];
    const add = (id: string): boolean => {
      const v = videos.get(id);
      if (!v || seen.has(id) || v.uploadedAt >= asOf) return false;
      seen.add(id);
      picked.push(v);
      return true;
    };
    for (const id of candidates(userAgg)) {
      if (picked.length >= perQuery) break;
      add(id);
    }
    for (let i = 0, n = 0; i < mostViewed.length && n < popular; i++) if (add(mostViewed[i])) n++;
    for (let n = 0, tries = 0; n < randomPerQuery && tries < randomPerQuery * 5 && uploaded > 0; tries++) {
      if (add(byUpload[Math.floor(random() * uploaded)].id)) n++;
    }
    for (const video of picked) {
      const positive = positives.has(video.id);
      // The user's outcomes on a positive, from the labelled slice on (MovieLens: the rating's like or dislike).
      const o = positive ? outcomesBetween(outcomes, userId, video.id, from, asOf - 1) : { completion: 0, like: 0, dislike: 0 };
      const post = positive ? 1 : 0;
      rows.push({
        ts: from,
        input: { user, userAgg, video, videoAgg: state.videos.get(video.id), context },
        heads: { click: [post, 1], completion: [o.completion, post], like: [o.like, post], dislike: [o.dislike, post] },
      });
    }
  }
  rows.sort((a, b) => a.ts - b.ts);
  const keep = subsample(Array.from(rows.keys()), maxExamples, random);
  return toRankerExamples(rows, keep, "candidates");
}
