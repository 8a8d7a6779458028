import type { Device, ImpressionEvent, ReelEvent, Surface, User, Video } from "../data/types";
import { ReelfeedError } from "../errors";
import type { UserAggregates, VideoAggregates } from "./aggregates";
import type { FeatureArtifacts } from "./artifacts";
import { userAffinity, writeAffinityFeaturesOf, type ItemNeighbours, type UserAffinity } from "./item-neighbours";
import {
  activityAtHour,
  crossFeatures,
  recentHistory,
  userFeatures,
  userLanguageOf,
  videoFeatures,
  type CrossFeatures,
  type RecentHistory,
  type UserFeatures,
  type VideoFeatures,
} from "./derived";
import { bucket, dayOfWeekCyclical, hourOfDayCyclical, normalize, type Normalizer, type NormalizerKind } from "./normalizers";
import { allocBatch, type BagColumn, type CategoricalColumn, type FeatureBatch, type FeatureSpec } from "./spec";

/**
 * The shared row builders: the function that builds a training row for (user, video, time) is the one the server
 * calls per request. Nothing here reads a clock, a store or a random source: a row is a pure function of
 * (artifacts, profile, aggregates, catalog entry, context), so training rows built from a replay snapshot and
 * serving rows built from the live state are byte-identical when the state is the same (a test proves it).
 *
 * Column order is part of the model: specs and builders iterate the same tables below.
 */

/** What the request (or, in training, the event) says about the moment of the row. */
export interface RowContext {
  /** Epoch ms: every time-dependent feature is computed "as of" this. */
  now: number;
  device?: Device;
  country?: string;
  surface?: Surface;
  /**
   * Slot the item was shown at (impressions in training). Unknown at ranking time: serving leaves it undefined,
   * which encodes as position 0, so the model learns position bias in training and scores "as if on top" online.
   */
  position?: number;
  /** Request language, used when the profile has none. */
  language?: string;
}

export interface RankerRowInput {
  user?: User;
  userAgg?: UserAggregates;
  video: Video;
  videoAgg?: VideoAggregates;
  context: RowContext;
}

export interface UserTowerRowInput {
  user?: User;
  userAgg?: UserAggregates;
  context: RowContext;
}

export interface VideoTowerRowInput {
  video: Video;
  videoAgg?: VideoAggregates;
  now: number;
}

/** Slots per bag. Stored in the artifacts so a bundle's rows keep their shape. */
export interface RowLayout {
  /** Most recent watched video ids, newest first. @default 20 */
  historyLength: number;
  /** Most recent liked video ids, newest first. @default 10 */
  likesLength: number;
  /** A video's tags, in its own order. @default 8 */
  tagsLength: number;
  /** The user's most watched categories, most first. @default 5 */
  categoriesLength: number;
}

export const DEFAULT_ROW_LAYOUT: RowLayout = { historyLength: 20, likesLength: 10, tagsLength: 8, categoriesLength: 5 };

type VocabName = keyof FeatureArtifacts["vocabularies"];

/**
 * Which vocabulary each categorical / bag column indexes into: a model may share one embedding table between
 * columns of the same vocabulary (videoId and the history bag, for instance).
 */
export const COLUMN_VOCABULARY: Readonly<Record<string, VocabName | "ageBucket">> = {
  userId: "userId",
  videoId: "videoId",
  category: "category",
  creatorId: "creatorId",
  country: "country",
  device: "device",
  surface: "surface",
  ageBucket: "ageBucket",
  language: "language",
  tags: "tag",
  history: "videoId",
  recentLikes: "videoId",
  userCategories: "category",
};

interface DenseDef<A extends unknown[]> {
  name: string;
  kind: NormalizerKind;
  get: (...args: A) => number;
}

type UserArgs = [uf: UserFeatures, now: number];
type VideoArgs = [vf: VideoFeatures];
type CrossArgs = [cf: CrossFeatures];
type ContextArgs = [ctx: RowContext];

const b = (x: boolean) => (x ? 1 : 0);

export const USER_DENSE: readonly DenseDef<UserArgs>[] = [
  { name: "user.events", kind: "log1p_zscore", get: (u) => u.events },
  { name: "user.watches", kind: "log1p_zscore", get: (u) => u.watches },
  { name: "user.avgWatchSec", kind: "log1p_zscore", get: (u) => u.avgWatchSec },
  { name: "user.completionRate", kind: "zscore", get: (u) => u.completionRate },
  { name: "user.likeRate", kind: "zscore", get: (u) => u.likeRate },
  { name: "user.clickRate", kind: "zscore", get: (u) => u.clickRate },
  { name: "user.preferredDurationSec", kind: "log1p_zscore", get: (u) => u.preferredDurationSec },
  { name: "user.engagementLevel", kind: "zscore", get: (u) => u.engagementLevel },
  { name: "user.daysSinceFirstSeen", kind: "log1p_zscore", get: (u) => u.daysSinceFirstSeen },
  { name: "user.daysSinceLastSeen", kind: "log1p_zscore", get: (u) => u.daysSinceLastSeen },
  { name: "user.activityAtHour", kind: "zscore", get: (u, now) => activityAtHour(u, now) },
  { name: "user.cold", kind: "identity", get: (u) => b(u.cold) },
];

export const VIDEO_DENSE: readonly DenseDef<VideoArgs>[] = [
  { name: "video.views", kind: "log1p_zscore", get: (v) => v.views },
  { name: "video.viewVelocity", kind: "log1p_zscore", get: (v) => v.viewVelocity },
  { name: "video.trendingScore", kind: "log1p_zscore", get: (v) => v.trendingScore },
  { name: "video.avgCompletion", kind: "zscore", get: (v) => v.avgCompletion },
  { name: "video.avgWatchSec", kind: "log1p_zscore", get: (v) => v.avgWatchSec },
  { name: "video.likeRatio", kind: "zscore", get: (v) => v.likeRatio },
  { name: "video.likeRate", kind: "zscore", get: (v) => v.likeRate },
  { name: "video.ctr", kind: "zscore", get: (v) => v.ctr },
  { name: "video.shareRate", kind: "zscore", get: (v) => v.shareRate },
  { name: "video.commentRate", kind: "zscore", get: (v) => v.commentRate },
  { name: "video.negativeRate", kind: "zscore", get: (v) => v.negativeRate },
  { name: "video.ageDays", kind: "log1p_zscore", get: (v) => v.ageDays },
  { name: "video.durationSec", kind: "log1p_zscore", get: (v) => v.durationSec },
  { name: "video.cold", kind: "identity", get: (v) => b(v.cold) },
];

export const CROSS_DENSE: readonly DenseDef<CrossArgs>[] = [
  { name: "cross.categoryAffinity", kind: "zscore", get: (c) => c.categoryAffinity },
  { name: "cross.durationLogRatio", kind: "zscore", get: (c) => c.durationLogRatio },
  { name: "cross.languageMatch", kind: "identity", get: (c) => c.languageMatch },
  { name: "cross.watchedRecently", kind: "identity", get: (c) => c.watchedRecently },
  { name: "cross.likedRecently", kind: "identity", get: (c) => c.likedRecently },
];

const CLOCK_DENSE: readonly DenseDef<ContextArgs>[] = [
  { name: "ctx.hourSin", kind: "identity", get: (c) => hourOfDayCyclical(c.now)[0] },
  { name: "ctx.hourCos", kind: "identity", get: (c) => hourOfDayCyclical(c.now)[1] },
  { name: "ctx.dowSin", kind: "identity", get: (c) => dayOfWeekCyclical(c.now)[0] },
  { name: "ctx.dowCos", kind: "identity", get: (c) => dayOfWeekCyclical(c.now)[1] },
];

export const CONTEXT_DENSE: readonly DenseDef<ContextArgs>[] = [
  ...CLOCK_DENSE,
  { name: "ctx.position", kind: "log1p_zscore", get: (c) => (c.position !== undefined && c.position > 0 ? c.position : 0) },
];

/**
 * User–video affinity from the item neighbours (item-neighbours.ts `affinityFeatures`): relative affinity, rank
 * and history hits. Already scale-free by construction, so they need no fitted normaliser; 0 / 1 / 0 when the
 * artifacts carry no neighbours or the user has no history. The strongest signal there is for users with history:
 * without it the ranker saw almost no user–item affinity and ranked below a most-popular list (issue 9).
 */
export const AFFINITY_DENSE = ["affinity.relative", "affinity.rank", "affinity.hits"] as const;

/** Video metadata the video tower sees: no per-request user state, nothing that changes per request. */
const VIDEO_TOWER_DENSE_NAMES = [
  "video.durationSec",
  "video.ageDays",
  "video.views",
  "video.trendingScore",
  "video.avgCompletion",
  "video.likeRatio",
  "video.cold",
];
const VIDEO_TOWER_DENSE = VIDEO_TOWER_DENSE_NAMES.map((n) => VIDEO_DENSE.find((d) => d.name === n)!);

/** Every dense column any spec uses, with the normaliser kind it is fitted with. */
export const DENSE_COLUMNS: readonly { name: string; kind: NormalizerKind }[] = [
  ...USER_DENSE,
  ...VIDEO_DENSE,
  ...CROSS_DENSE,
  ...CONTEXT_DENSE,
].map(({ name, kind }) => ({ name, kind }));

/**
 * Raw (un-normalised) dense values of a ranker row in DENSE_COLUMNS order: what normaliser statistics are fitted
 * on. Same derived features as the row builders, so fitted statistics describe exactly what the model receives.
 */
export function rawRankerDense(input: RankerRowInput): number[] {
  const { user, userAgg, video, videoAgg, context } = input;
  const uf = userFeatures(userAgg, context.now);
  const vf = videoFeatures(videoAgg, video, context.now);
  const cf = crossFeatures(uf, recentHistory(userAgg), video, userLanguageOf(user, context.language));
  return [
    ...USER_DENSE.map((d) => d.get(uf, context.now)),
    ...VIDEO_DENSE.map((d) => d.get(vf)),
    ...CROSS_DENSE.map((d) => d.get(cf)),
    ...CONTEXT_DENSE.map((d) => d.get(context)),
  ];
}

/** The row context of a logged event: its time, device, country, and for impressions/clicks surface and slot. */
export function eventContext(event: ReelEvent, user?: User): RowContext {
  const ctx: RowContext = {
    now: event.ts,
    device: event.device ?? user?.device,
    country: event.country ?? user?.country,
  };
  if (event.type === "impression" || event.type === "click") {
    const e = event as ImpressionEvent | Extract<ReelEvent, { type: "click" }>;
    if (e.surface !== undefined) ctx.surface = e.surface;
    if (e.position !== undefined) ctx.position = e.position;
  }
  return ctx;
}

// ---------------------------------------------------------------------------------------------------------------
// Specs

/** Embedding width by vocabulary size: the usual fourth-root rule, clamped. */
export function embeddingDim(vocabSize: number): number {
  return Math.max(4, Math.min(64, Math.round(6 * Math.pow(vocabSize, 0.25))));
}

function vocabSize(a: FeatureArtifacts, name: VocabName | "ageBucket"): number {
  return name === "ageBucket" ? a.ageBuckets.edges.length + 2 : a.vocabularies[name].size;
}

function cat(a: FeatureArtifacts, name: string): CategoricalColumn {
  const size = vocabSize(a, COLUMN_VOCABULARY[name]);
  return { name, vocabSize: size, dim: embeddingDim(size) };
}

function bag(a: FeatureArtifacts, name: string, length: number): BagColumn {
  return { ...cat(a, name), length };
}

const RANKER_CATEGORICAL = ["userId", "videoId", "category", "creatorId", "country", "device", "surface", "ageBucket", "language"];
const USER_TOWER_CATEGORICAL = ["userId", "country", "device", "surface", "ageBucket"];
const VIDEO_TOWER_CATEGORICAL = ["videoId", "category", "creatorId", "language"];

/**
 * The ranker's columns that depend on the request alone (user and context), never on the candidate: every row of a
 * request carries the same values in them (buildRankerRows writes the user part once and copies it). Serving runs
 * their branches of the model once per request (src/ranking/shared-inputs-graph.ts).
 */
export const RANKER_REQUEST_COLUMNS: readonly string[] = ["userId", "country", "device", "surface", "ageBucket", "history", "recentLikes", "userCategories"];

const specCache = new WeakMap<FeatureArtifacts, FeatureSpec>();

/** The ranker's columns. A fresh object per call: callers may keep or change it without affecting the builders. */
export function rankerSpec(a: FeatureArtifacts): FeatureSpec {
  return makeRankerSpec(a);
}

function cachedRankerSpec(a: FeatureArtifacts): FeatureSpec {
  let spec = specCache.get(a);
  if (!spec) {
    spec = makeRankerSpec(a);
    specCache.set(a, spec);
  }
  return spec;
}

function makeRankerSpec(a: FeatureArtifacts): FeatureSpec {
  const l = a.layout;
  return {
    categorical: RANKER_CATEGORICAL.map((n) => cat(a, n)),
    bags: [
      bag(a, "tags", l.tagsLength),
      bag(a, "history", l.historyLength),
      bag(a, "recentLikes", l.likesLength),
      bag(a, "userCategories", l.categoriesLength),
    ],
    dense: [...[...USER_DENSE, ...VIDEO_DENSE, ...CROSS_DENSE, ...CONTEXT_DENSE].map((d) => d.name), ...AFFINITY_DENSE],
  };
}

/**
 * Widest embedding of a video-id column in the towers. The towers' video-id tables (history, recent likes, the
 * video's own id) are catalog-sized and updated densely by Adam every step: on MovieLens-small, 57 → 32 halved the
 * two-tower's time per step (measured) at no measurable cost in recall.
 */
const TOWER_VIDEO_ID_DIM = 32;

function towerColumn<C extends CategoricalColumn>(c: C): C {
  return COLUMN_VOCABULARY[c.name] === "videoId" ? { ...c, dim: Math.min(c.dim, TOWER_VIDEO_ID_DIM) } : c;
}

/**
 * The user tower's dense inputs for new bundles: the user's own history statistics, nothing about the moment of the
 * request (time since the first and last visit, activity at this hour, the clock). Every training example is taken
 * at an interaction, when the user has just been active, so the tower only ever learned "last seen seconds ago";
 * a feed request after a week away (or an offline run ranking everyone at one moment) fed it values it never saw,
 * and retrieval collapsed: on MovieLens-small's warm protocol the tower scored NDCG@20 0.083 ranked at one moment
 * against 0.119 at each user's own last visit. Without the elapsed times it still lost 7 % at one moment against
 * its own moments (0.124 vs 0.132) through the clock inputs; without any of them it scores the same at both and
 * above item-kNN (docs/training.md). The tower retrieves by taste; the ranker, which keeps every time input (its
 * candidate rows are made at the fit's end, gaps included), weighs the moment. Stored in the artifacts
 * (`userTowerDense`) so each bundle keeps the inputs it was trained with.
 */
export const USER_TOWER_DENSE: readonly string[] = USER_DENSE.filter(
  (d) => d.name !== "user.daysSinceFirstSeen" && d.name !== "user.daysSinceLastSeen" && d.name !== "user.activityAtHour",
).map((d) => d.name);
/** The user tower's inputs of bundles trained before `userTowerDense` existed: every user column, then the clock. */
const LEGACY_USER_TOWER_DENSE: readonly string[] = [...USER_DENSE, ...CLOCK_DENSE].map((d) => d.name);
/** Every column a user tower may take, in the order `userPart` computes them (userDense, then clockDense). */
const USER_PART_DENSE: readonly string[] = LEGACY_USER_TOWER_DENSE;

const towerDenseAt = new WeakMap<FeatureArtifacts, Int32Array>();
/** Per user-tower dense input of `a`, its index among USER_PART_DENSE. */
function userTowerDenseAt(a: FeatureArtifacts): Int32Array {
  let at = towerDenseAt.get(a);
  if (!at) {
    at = Int32Array.from(a.userTowerDense ?? LEGACY_USER_TOWER_DENSE, (name) => USER_PART_DENSE.indexOf(name));
    towerDenseAt.set(a, at);
  }
  return at;
}

export function userTowerSpec(a: FeatureArtifacts): FeatureSpec {
  const l = a.layout;
  return {
    categorical: USER_TOWER_CATEGORICAL.map((n) => cat(a, n)),
    bags: [bag(a, "history", l.historyLength), bag(a, "recentLikes", l.likesLength), bag(a, "userCategories", l.categoriesLength)].map(towerColumn),
    dense: [...(a.userTowerDense ?? LEGACY_USER_TOWER_DENSE)],
  };
}

export function videoTowerSpec(a: FeatureArtifacts): FeatureSpec {
  return {
    categorical: VIDEO_TOWER_CATEGORICAL.map((n) => towerColumn(cat(a, n))),
    bags: [bag(a, "tags", a.layout.tagsLength)],
    dense: VIDEO_TOWER_DENSE.map((d) => d.name),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Builders

const compiled = new WeakMap<FeatureArtifacts, Map<string, Normalizer>>();

/** The artifacts' normalisers, checked once per artifacts object (start-up), never per row. */
function normalizers(a: FeatureArtifacts): Map<string, Normalizer> {
  let m = compiled.get(a);
  if (!m) {
    m = new Map();
    for (const { name } of DENSE_COLUMNS) {
      const n = a.dense[name];
      if (!n) throw new ReelfeedError("BAD_BUNDLE", `feature artifacts: no normaliser for dense column ${name}`, { field: `dense.${name}` });
      m.set(name, n);
    }
    compiled.set(a, m);
  }
  return m;
}

function normalizerList(a: FeatureArtifacts, defs: readonly { name: string }[]): Normalizer[] {
  const m = normalizers(a);
  return defs.map((d) => m.get(d.name)!);
}

function ageIndex(a: FeatureArtifacts, user: User | undefined): number {
  const age = user?.age;
  if (age === undefined || !Number.isFinite(age)) return 0;
  return 1 + bucket(a.ageBuckets, age);
}

/** Writes up to `len` indices into `out` at `o`, padding with 0 (the array may be a reused batch's). */
function fillBag(out: Int32Array, o: number, len: number, indices: readonly number[]): void {
  const n = Math.min(len, indices.length);
  for (let i = 0; i < n; i++) out[o + i] = indices[i];
  for (let i = n; i < len; i++) out[o + i] = 0;
}

/** Everything about the user side of a request: computed once per request, shared by all its rows. */
interface UserPart {
  uf: UserFeatures;
  recent: RecentHistory;
  userIdx: number;
  countryIdx: number;
  deviceIdx: number;
  surfaceIdx: number;
  ageIdx: number;
  history: number[];
  likes: number[];
  categories: number[];
  language: string | undefined;
  /** Normalised user dense values, then normalised clock values. */
  userDense: number[];
  clockDense: number[];
}

function userPart(a: FeatureArtifacts, user: User | undefined, agg: UserAggregates | undefined, ctx: RowContext): UserPart {
  const v = a.vocabularies;
  const l = a.layout;
  const uf = userFeatures(agg, ctx.now);
  const history: number[] = [];
  const likes: number[] = [];
  const categories: number[] = [];
  if (agg) {
    for (let i = agg.recent.length - 1; i >= 0 && history.length < l.historyLength; i--) history.push(v.videoId.index(agg.recent[i].videoId));
    for (let i = agg.recentLikes.length - 1; i >= 0 && likes.length < l.likesLength; i--) likes.push(v.videoId.index(agg.recentLikes[i]));
    // Most watched first; ties by name so the order does not depend on insertion order.
    const top = Object.entries(agg.categoryWatches)
      .filter(([, n]) => n > 0)
      .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    for (let i = 0; i < top.length && i < l.categoriesLength; i++) categories.push(v.category.index(top[i][0]));
  }
  const userUserId = user?.id ?? agg?.userId;
  const uNorm = normalizerList(a, USER_DENSE);
  const cNorm = normalizerList(a, CLOCK_DENSE);
  return {
    uf,
    recent: recentHistory(agg),
    userIdx: v.userId.index(userUserId),
    countryIdx: v.country.index(ctx.country ?? user?.country),
    deviceIdx: v.device.index(ctx.device ?? user?.device),
    surfaceIdx: v.surface.index(ctx.surface),
    ageIdx: ageIndex(a, user),
    history,
    likes,
    categories,
    language: userLanguageOf(user, ctx.language),
    userDense: USER_DENSE.map((d, i) => normalize(uNorm[i], d.get(uf, ctx.now))),
    clockDense: CLOCK_DENSE.map((d, i) => normalize(cNorm[i], d.get(ctx))),
  };
}

function sameUser(p: { user?: User; userAgg?: UserAggregates; ctx: RowContext }, user: User | undefined, agg: UserAggregates | undefined, ctx: RowContext): boolean {
  const c = p.ctx;
  return (
    p.user === user &&
    p.userAgg === agg &&
    c.now === ctx.now &&
    c.device === ctx.device &&
    c.country === ctx.country &&
    c.surface === ctx.surface &&
    c.language === ctx.language
  );
}

/**
 * What every ranker row of one artifacts object shares, resolved once (start-up, or the first request after a
 * swap): the spec, each dense column's normaliser by position, and the normalised video block of a video with no
 * aggregates (a new upload: most candidates of a large catalogue), whose only per-row values are its age and duration.
 */
interface RankerRowPlan {
  spec: FeatureSpec;
  d: number;
  vNorm: Normalizer[];
  xNorm: Normalizer[];
  posNorm: Normalizer;
  /** VIDEO_DENSE normalised for `videoFeatures(undefined, …)`; the ageDays and durationSec slots are filled per row. */
  coldVideo: Float64Array;
  ageAt: number;
  durationAt: number;
}

/** Any video: what `videoFeatures` returns without aggregates depends on it only through age and duration. */
const COLD_PROBE: Video = { id: "", creatorId: "", title: "", tags: [], category: "", durationSec: 0, uploadedAt: 0 };

const rankerPlans = new WeakMap<FeatureArtifacts, RankerRowPlan>();

function rankerPlan(a: FeatureArtifacts): RankerRowPlan {
  let plan = rankerPlans.get(a);
  if (plan) return plan;
  const spec = cachedRankerSpec(a);
  const vNorm = normalizerList(a, VIDEO_DENSE);
  const ageAt = VIDEO_DENSE.findIndex((d) => d.name === "video.ageDays");
  const durationAt = VIDEO_DENSE.findIndex((d) => d.name === "video.durationSec");
  // Any video and time give the same cold values outside the two per-video slots (videoFeatures' contract: without
  // aggregates, every other field is a prior or 0).
  const cold = videoFeatures(undefined, COLD_PROBE, 0);
  const coldVideo = Float64Array.from(VIDEO_DENSE, (d, i) => normalize(vNorm[i], d.get(cold)));
  plan = { spec, d: spec.dense.length, vNorm, xNorm: normalizerList(a, CROSS_DENSE), posNorm: normalizers(a).get("ctx.position")!, coldVideo, ageAt, durationAt };
  rankerPlans.set(a, plan);
  return plan;
}

/**
 * Ranker rows, one per input, in input order. Inputs of one request share the user and context: the user side is
 * computed once and reused while consecutive inputs carry the same user, aggregates and context values, and written
 * once per row by copy. The video side comes from a per-video block (indices, tags, normalised duration) memoised
 * per catalog entry; a video without aggregates takes the plan's cold block and computes only its age.
 *
 * `into`: a batch of inputs.length rows of the ranker spec to write (a BatchPool's; every value is overwritten).
 * @default a new batch
 */
export function buildRankerRows(a: FeatureArtifacts, inputs: readonly RankerRowInput[], into?: FeatureBatch): FeatureBatch {
  const l = a.layout;
  const n = inputs.length;
  const plan = rankerPlan(a);
  const { spec: ranker, d, vNorm, xNorm, posNorm, coldVideo, ageAt, durationAt } = plan;
  if (into && into.size !== n) throw new Error(`buildRankerRows: a batch of ${into.size} rows cannot take ${n}`);
  const batch = into ?? allocBatch(ranker, n);
  const { categorical, dense } = batch;
  const [userIdCol, videoIdCol, categoryCol, creatorCol, countryCol, deviceCol, surfaceCol, ageCol, languageCol] = categorical;
  const [tags, history, recentLikes, userCategories] = batch.bags;
  const nu = USER_DENSE.length;
  const nv = VIDEO_DENSE.length;
  const nx = CROSS_DENSE.length;
  const nc = CLOCK_DENSE.length;
  const positionSlot = CONTEXT_DENSE.length - 1;
  const neighbours = a.neighbours;
  // One features object of each kind for the whole batch, made by the first row and overwritten by the others (see
  // videoFeatures' `into`).
  let vf: VideoFeatures | undefined;
  let cf: CrossFeatures | undefined;
  let cache: { user?: User; userAgg?: UserAggregates; ctx: RowContext; part: UserPart; row: number; affinity?: UserAffinity } | undefined;
  for (let r = 0; r < n; r++) {
    const { user, userAgg, video, videoAgg, context } = inputs[r];
    let o = r * d;
    if (cache && sameUser(cache, user, userAgg, context)) {
      // Same user and moment as the row the user part was last written to: copy its user bags and dense values.
      // Plain loops: copyWithin is a call into the runtime, dearer than a few dozen element moves.
      const from = cache.row;
      copyRow(history, from, r, l.historyLength);
      copyRow(recentLikes, from, r, l.likesLength);
      copyRow(userCategories, from, r, l.categoriesLength);
      for (let i = 0; i < nu; i++) dense[o + i] = dense[from * d + i];
      for (let i = nu + nv + nx; i < nu + nv + nx + nc; i++) dense[o + i] = dense[from * d + i];
    } else {
      const part = userPart(a, user, userAgg, context);
      // The user's affinity once per user part, not looked up again for every candidate.
      cache = { user, userAgg, ctx: context, part, row: r, affinity: neighbours && userAffinity(neighbours, userAgg?.recent) };
      fillBag(history, r * l.historyLength, l.historyLength, part.history);
      fillBag(recentLikes, r * l.likesLength, l.likesLength, part.likes);
      fillBag(userCategories, r * l.categoriesLength, l.categoriesLength, part.categories);
      for (let i = 0; i < nu; i++) dense[o + i] = part.userDense[i];
      for (let i = 0; i < nc; i++) dense[o + nu + nv + nx + i] = part.clockDense[i];
    }
    const u = cache.part;
    userIdCol[r] = u.userIdx;
    countryCol[r] = u.countryIdx;
    deviceCol[r] = u.deviceIdx;
    surfaceCol[r] = u.surfaceIdx;
    ageCol[r] = u.ageIdx;
    const vb = videoBlock(a, video);
    const vi = vb.indices;
    videoIdCol[r] = vi[0];
    categoryCol[r] = vi[1];
    creatorCol[r] = vi[2];
    languageCol[r] = vi[3];
    for (let t = 0; t < l.tagsLength; t++) tags[r * l.tagsLength + t] = vi[4 + t];
    o += nu;
    if (videoAgg) {
      vf = videoFeatures(videoAgg, video, context.now, vf);
      for (let i = 0; i < nv; i++) dense[o + i] = normalize(vNorm[i], VIDEO_DENSE[i].get(vf));
    } else {
      for (let i = 0; i < nv; i++) dense[o + i] = coldVideo[i];
      vf = videoFeatures(undefined, video, context.now, vf);
      dense[o + ageAt] = normalize(vNorm[ageAt], VIDEO_DENSE[ageAt].get(vf));
      dense[o + durationAt] = vb.durationDense;
    }
    o += nv;
    cf = crossFeatures(u.uf, u.recent, video, u.language, cf);
    for (let i = 0; i < nx; i++) dense[o + i] = normalize(xNorm[i], CROSS_DENSE[i].get(cf));
    o += nx + nc;
    dense[o++] = normalize(posNorm, CONTEXT_DENSE[positionSlot].get(context));
    writeAffinityFeaturesOf(cache.affinity, userAgg?.recent.length ?? 0, vb.neighbourItem, dense, o);
  }
  return batch;
}

/** Copies row `from`'s `width` values of a row-major array to row `to`. */
function copyRow(a: Int32Array, from: number, to: number, width: number): void {
  for (let i = 0; i < width; i++) a[to * width + i] = a[from * width + i];
}

/**
 * The part of a row that depends on the catalog entry alone: [videoId, category, creatorId, language, ...tags padded
 * to tagsLength], and the normalised duration. Memoised per Video object (the catalog serves the same objects request
 * after request, and replaces, never mutates, an entry on update), in one WeakMap per artifacts: each weakly held
 * entry costs the garbage collector on every full mark, so a video has one entry, not one per use.
 */
interface VideoBlock {
  indices: Int32Array;
  durationDense: number;
  /** The item-neighbour model `neighbourItem` was resolved in (training sets the artifacts' model after load). */
  neighbourModel: ItemNeighbours | undefined;
  /** The video's item in that model (-1: not in it): each row would otherwise look its id up in the model's map. */
  neighbourItem: number;
}

const videoBlockCache = new WeakMap<FeatureArtifacts, WeakMap<Video, VideoBlock>>();

function videoBlock(a: FeatureArtifacts, video: Video): VideoBlock {
  let perVideo = videoBlockCache.get(a);
  if (!perVideo) {
    perVideo = new WeakMap();
    videoBlockCache.set(a, perVideo);
  }
  let vb = perVideo.get(video);
  if (!vb) {
    const v = a.vocabularies;
    const indices = new Int32Array(4 + a.layout.tagsLength);
    indices[0] = v.videoId.index(video.id);
    indices[1] = v.category.index(video.category);
    indices[2] = v.creatorId.index(video.creatorId);
    indices[3] = v.language.index(video.language);
    fillBag(indices, 4, a.layout.tagsLength, tagIndices(a, video));
    const plan = rankerPlan(a);
    const durationDense = normalize(plan.vNorm[plan.durationAt], VIDEO_DENSE[plan.durationAt].get(videoFeatures(undefined, video, 0)));
    vb = { indices, durationDense, neighbourModel: undefined, neighbourItem: -1 };
    perVideo.set(video, vb);
  }
  if (vb.neighbourModel !== a.neighbours) {
    vb.neighbourModel = a.neighbours;
    vb.neighbourItem = a.neighbours?.index.get(video.id) ?? -1;
  }
  return vb;
}

/** [videoId, category, creatorId, language, ...tags padded to tagsLength] of a video (its block's indices). */
function videoIndices(a: FeatureArtifacts, video: Video): Int32Array {
  return videoBlock(a, video).indices;
}

/** Tag indices of a video: distinct, in the video's order, unknown tags hashed. */
function tagIndices(a: FeatureArtifacts, video: Video): number[] {
  const out: number[] = [];
  const seen = new Set<string>();
  for (const t of video.tags) {
    if (out.length >= a.layout.tagsLength) break;
    if (t === "" || seen.has(t)) continue;
    seen.add(t);
    out.push(a.vocabularies.tag.index(t));
  }
  return out;
}

/** User-tower rows: identity, profile, history bags and context; no candidate video. */
export function buildUserTowerRows(a: FeatureArtifacts, inputs: readonly UserTowerRowInput[]): FeatureBatch {
  const l = a.layout;
  const n = inputs.length;
  const spec = userTowerSpec(a);
  const d = spec.dense.length;
  const at = userTowerDenseAt(a);
  const categorical = spec.categorical.map(() => new Int32Array(n));
  const [history, recentLikes, userCategories] = spec.bags.map((c) => new Int32Array(n * c.length));
  const dense = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    const { user, userAgg, context } = inputs[r];
    const u = userPart(a, user, userAgg, context);
    categorical[0][r] = u.userIdx;
    categorical[1][r] = u.countryIdx;
    categorical[2][r] = u.deviceIdx;
    categorical[3][r] = u.surfaceIdx;
    categorical[4][r] = u.ageIdx;
    fillBag(history, r * l.historyLength, l.historyLength, u.history);
    fillBag(recentLikes, r * l.likesLength, l.likesLength, u.likes);
    fillBag(userCategories, r * l.categoriesLength, l.categoriesLength, u.categories);
    const nu = u.userDense.length;
    for (let c = 0; c < d; c++) dense[r * d + c] = at[c] < nu ? u.userDense[at[c]] : u.clockDense[at[c] - nu];
  }
  return { size: n, categorical, bags: [history, recentLikes, userCategories], dense };
}

/** Video-tower rows: a function of the video, its aggregates and `now` only (no per-request user state). */
export function buildVideoTowerRows(a: FeatureArtifacts, inputs: readonly VideoTowerRowInput[]): FeatureBatch {
  const l = a.layout;
  const n = inputs.length;
  const spec = videoTowerSpec(a);
  const d = spec.dense.length;
  const categorical = spec.categorical.map(() => new Int32Array(n));
  const tags = new Int32Array(n * l.tagsLength);
  const dense = new Float32Array(n * d);
  const norms = normalizerList(a, VIDEO_TOWER_DENSE);
  for (let r = 0; r < n; r++) {
    const { video, videoAgg, now } = inputs[r];
    const vi = videoIndices(a, video);
    categorical[0][r] = vi[0];
    categorical[1][r] = vi[1];
    categorical[2][r] = vi[2];
    categorical[3][r] = vi[3];
    tags.set(vi.subarray(4), r * l.tagsLength);
    const vf = videoFeatures(videoAgg, video, now);
    for (let i = 0; i < VIDEO_TOWER_DENSE.length; i++) dense[r * d + i] = normalize(norms[i], VIDEO_TOWER_DENSE[i].get(vf));
  }
  return { size: n, categorical, bags: [tags], dense };
}
