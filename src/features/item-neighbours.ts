import { ReelfeedError } from "../errors";
import type { RecentWatch } from "./aggregates";
import { loadNeighbourLists, saveNeighbourLists, type NeighbourLists } from "./neighbour-lists";

/**
 * Collaborative item-to-item neighbours: for each video, the videos most often engaged with together with it,
 * weighted. Fitted at training time (src/training/item-neighbours-fit.ts: the strongest weights of each row of an
 * EASE model) and shipped in the bundle beside the feature artifacts.
 *
 * Serving reads them twice, from the same per-user affinity: the Neighbours candidate source proposes the videos
 * with the highest affinity, and the ranker receives each candidate's affinity as features (rows.ts). Both cost one
 * pass over the user's recent history × K neighbours (50 × 100 additions), far cheaper than a seed vector search
 * per history item, and on users with history this signal is the strongest one there is (docs/training.md).
 *
 * affinity(u, v) = Σ over u's recent watches h, newest first at position i: decay(i) · w(h → v),
 * decay(i) = 0.5^(i / halfLife). Recency is by position in the history, not by clock time, so a replay, a live
 * server and an offline run over old data weigh the same history the same way.
 */
export interface ItemNeighbours extends NeighbourLists {
  /** Half-life, in history positions, of a watch's weight in the affinity. */
  readonly halfLife: number;
}

/**
 * One user's affinity over the catalog, computed once per history and shared by the source and the ranker: the
 * videos some neighbour list reaches, best affinity first, in aligned columns (no per-video objects: a request
 * reaches ~1,000 videos).
 */
export interface UserAffinity {
  /** Reached item indices, best affinity first (positive ones, then the rest). */
  readonly items: Int32Array;
  /** Affinity of items[r]. */
  readonly scores: Float64Array;
  /** How many history items list items[r] as a neighbour. */
  readonly hits: Uint16Array;
  /** The history item (model index) that contributed most to items[r]: the "because you watched" of a reason. */
  readonly because: Int32Array;
  /** Item index → r (its 0-based rank). */
  readonly rankOf: ReadonlyMap<number, number>;
  /** items[0 .. positive) have a positive affinity. */
  readonly positive: number;
  /** The best affinity (0 when there is none). */
  readonly max: number;
}

/** Default half-life of a history item's weight, in positions (newest = 0). */
export const DEFAULT_NEIGHBOUR_HALF_LIFE = 20;

const EMPTY: UserAffinity = {
  items: new Int32Array(0),
  scores: new Float64Array(0),
  hits: new Uint16Array(0),
  because: new Int32Array(0),
  rankOf: new Map(),
  positive: 0,
  max: 0,
};

/** Per history array (aggregates are immutable snapshots: a new watch makes a new array), per model. */
const memo = new WeakMap<ItemNeighbours, WeakMap<readonly RecentWatch[], UserAffinity>>();

/** Dense accumulators per model, reused by every computation (JavaScript runs one at a time) and reset after use. */
interface Scratch {
  score: Float64Array;
  hits: Uint16Array;
  because: Int32Array;
  strongest: Float64Array;
  /** The history item indices counted in this computation (a video watched twice counts once). */
  counted: Uint8Array;
}
const scratches = new WeakMap<ItemNeighbours, Scratch>();

/** The item indices a user's history reaches, best first; the first `n` of them as video ids. */
export function topVideos(model: ItemNeighbours, affinity: UserAffinity, n: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < affinity.positive && out.length < n; r++) out.push(model.itemIds[affinity.items[r]]);
  return out;
}

/**
 * The user's affinity from their recent watches (oldest first, as UserAggregates.recent keeps them). Memoised per
 * history array: a request's ranker rows and its source share one computation, and so do a training query's rows.
 */
export function userAffinity(model: ItemNeighbours, recent: readonly RecentWatch[] | undefined): UserAffinity {
  if (!recent || recent.length === 0) return EMPTY;
  let perModel = memo.get(model);
  if (!perModel) memo.set(model, (perModel = new WeakMap()));
  const hit = perModel.get(recent);
  if (hit) return hit;
  const { offsets, targets, weights, index, halfLife } = model;
  const n = model.itemIds.length;
  let s = scratches.get(model);
  if (!s) {
    s = { score: new Float64Array(n), hits: new Uint16Array(n), because: new Int32Array(n), strongest: new Float64Array(n), counted: new Uint8Array(n) };
    scratches.set(model, s);
  }
  const touched: number[] = [];
  const history: number[] = [];
  const decay = Math.pow(0.5, 1 / halfLife);
  let w = 1;
  for (let p = recent.length - 1; p >= 0; p--, w *= decay) {
    const i = index.get(recent[p].videoId);
    // A video watched twice counts once, at its newest position.
    if (i === undefined || s.counted[i]) continue;
    s.counted[i] = 1;
    history.push(i);
    for (let q = offsets[i]; q < offsets[i + 1]; q++) {
      const t = targets[q];
      const c = w * weights[q];
      if (s.hits[t] === 0) {
        touched.push(t);
        s.strongest[t] = -Infinity;
      }
      s.score[t] += c;
      s.hits[t]++;
      if (c > s.strongest[t]) {
        s.strongest[t] = c;
        s.because[t] = i;
      }
    }
  }
  // Ties by index: deterministic, whatever the order of the history.
  const score = s.score;
  touched.sort((a, b) => score[b] - score[a] || a - b);
  const m = touched.length;
  const out = {
    items: Int32Array.from(touched),
    scores: new Float64Array(m),
    hits: new Uint16Array(m),
    because: new Int32Array(m),
    rankOf: new Map<number, number>(),
    positive: 0,
    max: 0,
  };
  for (let r = 0; r < m; r++) {
    const t = touched[r];
    out.scores[r] = score[t];
    out.hits[r] = s.hits[t];
    out.because[r] = s.because[t];
    out.rankOf.set(t, r);
    if (score[t] > 0) out.positive = r + 1;
    score[t] = 0;
    s.hits[t] = 0;
  }
  for (const i of history) s.counted[i] = 0;
  out.max = out.positive > 0 ? out.scores[0] : 0;
  perModel.set(recent, out);
  return out;
}

/** Ranks past this read as "not in the list" to the ranker's rank feature. */
export const AFFINITY_RANK_HORIZON = 1000;

/**
 * The ranker's three affinity features of one video, all scale-free (a model refit on more data, a user with a
 * longer history, another dataset: the same meaning), each in [0, 1] or close:
 * - relative: affinity / the user's best affinity (≤ 1; negative when the neighbours speak against it);
 * - rank: log(1 + rank) / log(1 + horizon), 1 when unranked;
 * - hits: log(1 + history items listing it) / log(1 + history length).
 */
export function affinityFeatures(model: ItemNeighbours | undefined, recent: readonly RecentWatch[] | undefined, videoId: string): [relative: number, rank: number, hits: number] {
  const out: [number, number, number] = [0, 0, 0];
  writeAffinityFeatures(model, model && userAffinity(model, recent), recent?.length ?? 0, videoId, out, 0);
  return out;
}

/**
 * `affinityFeatures` of one video written into `out` at `o`, from the user's affinity computed beforehand (the row
 * builder and Rank resolve it once per request instead of once per candidate; undefined: no model). An affinity that
 * ranks nothing (no history) costs no lookup. `historyLength` is the length of the recent history it was computed from.
 */
export function writeAffinityFeatures(
  model: ItemNeighbours | undefined,
  a: UserAffinity | undefined,
  historyLength: number,
  videoId: string,
  out: Float32Array | number[],
  o: number,
): void {
  writeAffinityFeaturesOf(a, historyLength, a && a.max > 0 ? (model?.index.get(videoId) ?? -1) : -1, out, o);
}

/** writeAffinityFeatures of a video known by its item in the model (-1: not in it), for a caller that keeps it. */
export function writeAffinityFeaturesOf(a: UserAffinity | undefined, historyLength: number, item: number, out: Float32Array | number[], o: number): void {
  const r = item < 0 ? undefined : a?.rankOf.get(item);
  if (!a || r === undefined || a.max <= 0) {
    out[o] = 0;
    out[o + 1] = 1;
    out[o + 2] = 0;
    return;
  }
  // Only positive affinities are ranked; a video the neighbours speak against reads as unranked.
  out[o] = a.scores[r] / a.max;
  out[o + 1] = r >= a.positive || r >= AFFINITY_RANK_HORIZON ? 1 : Math.log1p(r) / Math.log1p(AFFINITY_RANK_HORIZON);
  out[o + 2] = Math.log1p(a.hits[r]) / Math.log1p(historyLength);
}

// ---------------------------------------------------------------------------------------------------------------
// File format: neighbour-lists.ts's, with the half-life in the header.

const MAGIC = "reelfeed.item-neighbours/1";

export async function saveItemNeighbours(path: string, model: ItemNeighbours): Promise<void> {
  await saveNeighbourLists(path, MAGIC, model, { halfLife: model.halfLife });
}

export async function loadItemNeighbours(path: string): Promise<ItemNeighbours> {
  const { lists, header } = await loadNeighbourLists(path, MAGIC);
  const halfLife = header.halfLife;
  if (typeof halfLife !== "number" || !(halfLife > 0)) throw new ReelfeedError("BAD_BUNDLE", `${path}: header fields missing or inconsistent (halfLife)`, { path });
  return { ...lists, halfLife };
}
