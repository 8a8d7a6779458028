import type { Video } from "../data/types";
import type { FeedItem } from "./feed-page";
import type { Reason, ScoredCandidate } from "./types";

/** One ranked item as a session serves it: a FeedItem without its page position and tracking id. */
export type SessionItem = Omit<FeedItem, "trackingId" | "position">;

/**
 * The ranked list a session keeps for its later pages, stored by column: videos, scores, head probabilities,
 * source names and reasons in arrays, with no object per item. Thousands of sessions of hundreds of items sit in the
 * cache; as objects they were millions of long-lived heap objects that every major garbage collection had to mark
 * (measured as ~0.3 s of marking work in the middle of a load test). Items are materialised only for the page served.
 *
 * Columns are sized exactly on each append (a session is appended to once when ranked, rarely again by a fill):
 * grown by push they carried up to 50 % spare capacity, and the numbers are typed arrays — head probabilities in
 * float32, the precision the models produce them in. A cached 500-item session went from ~70 KB to ~44 KB (heap
 * and typed arrays, feed-micro at 100k videos, 1,000 sessions apart).
 */
export class SessionItems {
  private videoList: Video[] = [];
  private scoreList = new Float64Array(0);
  /** Row-major `length × headNames.length`; NaN where an item has no such head (popularity fill, no ranker). */
  private headValues = new Float32Array(0);
  private sourceLists: string[][] = [];
  private reasonList: Reason[] = [];

  /** @param headNames the ranker heads the items may carry, in a fixed order */
  constructor(private readonly headNames: readonly string[]) {}

  get length(): number {
    return this.videoList.length;
  }

  /** The videos in order (read-only view: the re-rank stages' servedEarlier). */
  get videos(): readonly Video[] {
    return this.videoList;
  }

  append(ranked: readonly ScoredCandidate[]): void {
    if (ranked.length === 0) return;
    const from = this.length;
    const n = from + ranked.length;
    const width = this.headNames.length;
    const videos = new Array<Video>(n);
    const sources = new Array<string[]>(n);
    const reasons = new Array<Reason>(n);
    for (let i = 0; i < from; i++) {
      videos[i] = this.videoList[i];
      sources[i] = this.sourceLists[i];
      reasons[i] = this.reasonList[i];
    }
    const scores = new Float64Array(n);
    scores.set(this.scoreList);
    const heads = new Float32Array(n * width);
    heads.set(this.headValues);
    for (let r = 0; r < ranked.length; r++) {
      const c = ranked[r];
      const i = from + r;
      videos[i] = c.video;
      scores[i] = c.score;
      for (let h = 0; h < width; h++) {
        const p = c.heads[this.headNames[h]];
        heads[i * width + h] = p === undefined ? Number.NaN : p;
      }
      sources[i] = sourceNames(c);
      reasons[i] = c.reason;
    }
    this.videoList = videos;
    this.scoreList = scores;
    this.headValues = heads;
    this.sourceLists = sources;
    this.reasonList = reasons;
  }

  /** The lowest score of the list (1 when empty): the ceiling for items appended below it. */
  minScore(): number {
    let min = Infinity;
    for (const s of this.scoreList) if (s < min) min = s;
    return min === Infinity ? 1 : min;
  }

  /** Items [from, to) as objects. */
  slice(from: number, to: number): SessionItem[] {
    const out: SessionItem[] = [];
    const width = this.headNames.length;
    for (let i = Math.max(0, from); i < Math.min(to, this.length); i++) {
      const heads: Record<string, number> = {};
      for (let h = 0; h < width; h++) {
        const p = this.headValues[i * width + h];
        if (!Number.isNaN(p)) heads[this.headNames[h]] = p;
      }
      out.push({ video: this.videoList[i], score: this.scoreList[i], heads, sources: this.sourceLists[i], reason: this.reasonList[i] });
    }
    return out;
  }
}

/** Source-name lists are shared between items (there are few distinct ones); bounded in case a plugin varies them. */
const sharedSourceLists = new Map<string, string[]>();

function sourceNames(c: ScoredCandidate): string[] {
  const key = c.sources.length === 1 ? c.sources[0].source : c.sources.map((a) => a.source).join("\u0000");
  let names = sharedSourceLists.get(key);
  if (!names) {
    names = c.sources.map((a) => a.source);
    if (sharedSourceLists.size < 4096) sharedSourceLists.set(key, names);
  }
  return names;
}
