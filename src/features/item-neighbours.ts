import { readFile } from "node:fs/promises";
import { ReelfeedError } from "../errors";
import { writeFileAtomic } from "../util/fs";
import type { RecentWatch } from "./aggregates";

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
export interface ItemNeighbours {
  /** The model's videos; neighbour lists refer to them by index. */
  readonly itemIds: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** CSR rows: neighbours of item i are targets[offsets[i] .. offsets[i + 1]), strongest first. */
  readonly offsets: Uint32Array;
  readonly targets: Uint32Array;
  readonly weights: Float32Array;
  /** Half-life, in history positions, of a watch's weight in the affinity. */
  readonly halfLife: number;
}

/** One user's affinity over the catalog, computed once per history and shared by the source and the ranker. */
export interface UserAffinity {
  /** Item index → affinity (only items reached through some neighbour list). */
  readonly scores: ReadonlyMap<number, number>;
  /** Item index → how many history items list it as a neighbour. */
  readonly hits: ReadonlyMap<number, number>;
  /** Item index → the history item (model index) that contributed most: the "because you watched" of a reason. */
  readonly because: ReadonlyMap<number, number>;
  /** Item index → 0-based rank by affinity (best first). */
  readonly ranks: ReadonlyMap<number, number>;
  /** Item indices by affinity, best first (positive affinities only). */
  readonly ordered: readonly number[];
  /** The best affinity (0 when there is none). */
  readonly max: number;
}

/** Default half-life of a history item's weight, in positions (newest = 0). */
export const DEFAULT_NEIGHBOUR_HALF_LIFE = 20;

const EMPTY: UserAffinity = { scores: new Map(), hits: new Map(), because: new Map(), ranks: new Map(), ordered: [], max: 0 };

/** Per history array (aggregates are immutable snapshots: a new watch makes a new array), per model. */
const memo = new WeakMap<ItemNeighbours, WeakMap<readonly RecentWatch[], UserAffinity>>();

/**
 * The user's affinity from their recent watches (oldest first, as UserAggregates.recent keeps them). Memoised per
 * history array: a request's ranker rows and its source share one computation, and so do a training example's
 * positive and negative rows.
 */
export function userAffinity(model: ItemNeighbours, recent: readonly RecentWatch[] | undefined): UserAffinity {
  if (!recent || recent.length === 0) return EMPTY;
  let perModel = memo.get(model);
  if (!perModel) memo.set(model, (perModel = new WeakMap()));
  const hit = perModel.get(recent);
  if (hit) return hit;
  const scores = new Map<number, number>();
  const hits = new Map<number, number>();
  const because = new Map<number, number>();
  const strongest = new Map<number, number>();
  const { offsets, targets, weights, index, halfLife } = model;
  const decay = Math.pow(0.5, 1 / halfLife);
  let w = 1;
  const counted = new Set<number>();
  for (let p = recent.length - 1; p >= 0; p--, w *= decay) {
    const i = index.get(recent[p].videoId);
    // A video watched twice counts once, at its newest position.
    if (i === undefined || counted.has(i)) continue;
    counted.add(i);
    for (let q = offsets[i]; q < offsets[i + 1]; q++) {
      const t = targets[q];
      const c = w * weights[q];
      scores.set(t, (scores.get(t) ?? 0) + c);
      hits.set(t, (hits.get(t) ?? 0) + 1);
      if (c > (strongest.get(t) ?? -Infinity)) {
        strongest.set(t, c);
        because.set(t, i);
      }
    }
  }
  const ordered: number[] = [];
  for (const [t, s] of scores) if (s > 0) ordered.push(t);
  // Ties by index: deterministic, whatever the Map's insertion order.
  ordered.sort((a, b) => scores.get(b)! - scores.get(a)! || a - b);
  const ranks = new Map<number, number>();
  for (let r = 0; r < ordered.length; r++) ranks.set(ordered[r], r);
  const result: UserAffinity = { scores, hits, because, ranks, ordered, max: ordered.length ? scores.get(ordered[0])! : 0 };
  perModel.set(recent, result);
  return result;
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
  if (!model || !recent || recent.length === 0) return [0, 1, 0];
  const a = userAffinity(model, recent);
  const i = model.index.get(videoId);
  if (i === undefined || a.max <= 0) return [0, 1, 0];
  const s = a.scores.get(i) ?? 0;
  const r = a.ranks.get(i);
  const rank = r === undefined || r >= AFFINITY_RANK_HORIZON ? 1 : Math.log1p(r) / Math.log1p(AFFINITY_RANK_HORIZON);
  return [s / a.max, rank, Math.log1p(a.hits.get(i) ?? 0) / Math.log1p(recent.length)];
}

// ---------------------------------------------------------------------------------------------------------------
// File format: a small JSON header line, then the three CSR arrays, little-endian.

const MAGIC = "reelfeed.item-neighbours/1";

export async function saveItemNeighbours(path: string, model: ItemNeighbours): Promise<void> {
  const header = Buffer.from(
    JSON.stringify({ format: MAGIC, halfLife: model.halfLife, items: model.itemIds.length, entries: model.targets.length, itemIds: model.itemIds }) + "\n",
    "utf8",
  );
  const body = [model.offsets, model.targets, model.weights].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  await writeFileAtomic(path, Buffer.concat([header, ...body]));
}

export async function loadItemNeighbours(path: string): Promise<ItemNeighbours> {
  const buf = await readFile(path);
  const bad = (why: string) => new ReelfeedError("BAD_BUNDLE", `${path}: ${why}`, { path });
  const nl = buf.indexOf(0x0a);
  if (nl < 0) throw bad("no header line");
  let header: { format?: string; halfLife?: number; items?: number; entries?: number; itemIds?: string[] };
  try {
    header = JSON.parse(buf.subarray(0, nl).toString("utf8"));
  } catch (err) {
    throw bad(`invalid header (${(err as Error).message})`);
  }
  const { format, halfLife, items, entries, itemIds } = header;
  if (format !== MAGIC) throw bad(`unsupported format ${JSON.stringify(format)} (expected ${MAGIC})`);
  if (!Number.isInteger(items) || !Number.isInteger(entries) || !Array.isArray(itemIds) || itemIds.length !== items || !(halfLife! > 0)) {
    throw bad("header fields missing or inconsistent");
  }
  const n = items!;
  const e = entries!;
  const expected = (n + 1) * 4 + e * 8;
  const body = buf.subarray(nl + 1);
  if (body.byteLength !== expected) throw bad(`expected ${expected} bytes of neighbour lists, found ${body.byteLength}`);
  // Copy into aligned buffers: the header's length leaves the body at any offset.
  const copy = (from: number, bytes: number) => {
    const out = new ArrayBuffer(bytes);
    new Uint8Array(out).set(body.subarray(from, from + bytes));
    return out;
  };
  const offsets = new Uint32Array(copy(0, (n + 1) * 4));
  const targets = new Uint32Array(copy((n + 1) * 4, e * 4));
  const weights = new Float32Array(copy((n + 1) * 4 + e * 4, e * 4));
  if (offsets[n] !== e) throw bad("neighbour offsets do not match the entry count");
  for (let q = 0; q < e; q++) if (targets[q] >= n) throw bad(`neighbour ${q} points past the item list`);
  return { itemIds, index: new Map(itemIds.map((id, i) => [id, i])), offsets, targets, weights, halfLife: halfLife! };
}
