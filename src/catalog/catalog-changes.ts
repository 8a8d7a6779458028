import type { Creator, User, Video } from "../data/types";

/**
 * A catalogue change as it is written to the catalogue log and applied by every process that tails it. The log is
 * the source of truth for everything added after the bundle: a process rebuilds its live catalogue by replaying it
 * over the bundle's data at start-up, and follows it while serving.
 *
 * Versions: an upsert carries `updatedAt` (epoch ms), the source system's modification time of the item. A change
 * takes effect only when its `updatedAt` is strictly newer than the one already applied for that item; an equal one
 * is the same change again (a retry, a replay: DUPLICATE) and an older one is STALE. Items from the bundle count as
 * version 0, so any upsert replaces them. A removal is final: it wins over every version, and a removed video id
 * cannot be upserted again (REMOVED) — a takedown must not be undone by a partner's re-sent feed.
 *
 * `id` is the record's idempotency key in the log (the log's deduplication by id works on it): the same item and
 * version is stored once, however often it is sent.
 */
export type CatalogChange =
  | { id: string; kind: "video"; updatedAt: number; video: Video; vectors?: CarriedVectors }
  | { id: string; kind: "removal"; videoId: string; reason: string; removedAt: number }
  | { id: string; kind: "user"; updatedAt: number; user: User }
  | { id: string; kind: "creator"; updatedAt: number; creator: Creator };

/**
 * The vectors the writing process computed for a video change, carried in its log record so that no other process
 * (a replica, a restart replaying the log) runs the content model and the video tower again. Each names the model it
 * came from by a fingerprint of that model (video-embedder.ts); a process whose model differs — a replica still on
 * another bundle, the two-tower side after a hot swap — ignores it and embeds the video itself. Never taken from a
 * client: the writer adds them after validation.
 */
export interface CarriedVectors {
  content?: CarriedVector;
  twoTower?: CarriedVector;
}

/** `vector`: little-endian float32 values, base64 (util/float32-base64.ts). Absent: the model gives this video no vector (content: no known word). */
export interface CarriedVector {
  model: string;
  vector?: string;
}

export type CatalogChangeKind = CatalogChange["kind"];
export const CATALOG_CHANGE_KINDS: readonly CatalogChangeKind[] = ["video", "removal", "user", "creator"];

/** The log key of a change: one record per item and version (a removal has one per video). */
export function changeId(kind: CatalogChangeKind, itemId: string, version?: number): string {
  return kind === "removal" ? `catalog:removal:${itemId}` : `catalog:${kind}:${itemId}@${version}`;
}

/** The item id a change is about. */
export function changeItemId(change: CatalogChange): string {
  switch (change.kind) {
    case "video":
      return change.video.id;
    case "removal":
      return change.videoId;
    case "user":
      return change.user.id;
    case "creator":
      return change.creator.id;
  }
}

/**
 * Outcome of one item of a catalogue write, in input order: ACCEPTED (durable in the log, applied here before the
 * answer), DUPLICATE (this version is already applied or logged: nothing changes), STALE (a newer version is already
 * applied), REJECTED (invalid, with code and field).
 */
export type CatalogStatus = "ACCEPTED" | "DUPLICATE" | "STALE" | "REJECTED";

export interface CatalogResult {
  /** Position in the batch. */
  index: number;
  /** The item's id when it had a usable one. */
  id?: string;
  status: CatalogStatus;
  /** MISSING_FIELD, INVALID_FIELD, FUTURE_TIMESTAMP, REMOVED, INVALID_ITEM, INVALID_JSON, ... */
  code?: string;
  /** The offending field, e.g. "durationSec" or "tags[2]". */
  field?: string;
  message?: string;
}
