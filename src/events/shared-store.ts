import type { Video } from "../data/types";
import type { LogRecord } from "../stores/event-log";
import type { CheckpointedStateStore } from "./checkpointed-store";

/**
 * A state store that any number of consumer processes apply one log to together (the Redis store).
 *
 * Work is divided by key, not by record: every event has a user side (user aggregates, seen set, watched filter,
 * relations) owned by the partition of its user id, and a video side (video aggregates, trending) owned by the
 * partition of its video id. Each partition has one checkpoint, and a batch's effects and its new checkpoints are
 * written in one atomic step that first compares every checkpoint with the one the consumer started from. So:
 *
 * - each record's effects on a partition are applied exactly once, whoever applies them and whenever a consumer
 *   dies (kill -9 between read and write, a reply lost after the write: the retry finds the checkpoint moved);
 * - every key has one writer at a time, so the aggregates stay read-modify-write through the training code path
 *   (applyUserEvent / applyVideoEvent) with no re-implementation on the server, in log order per user and per video
 *   as with one consumer;
 * - leases only spread the partitions over the live consumers (a fair share each, renewed while they live, taken
 *   over when they expire); correctness never depends on a lease, only on the checkpoint comparison.
 */
export interface ConsumerShare {
  /** The consumer's identity (unique per process start). */
  readonly owner: string;
  /** The partitions this consumer holds → the log cursor each is applied through (undefined: nothing yet). */
  readonly partitions: ReadonlyMap<number, string | undefined>;
}

export interface SharedStateStore extends CheckpointedStateStore {
  /** Number of partitions (fixed per key prefix). */
  readonly partitionCount: number;
  /**
   * Joins or renews: registers `owner` as live, renews its leases, releases what is over its fair share and takes
   * free partitions up to it. Returns what it holds now, with each partition's checkpoint as stored.
   */
  joinShare(owner: string): Promise<ConsumerShare>;
  /** Releases every lease of `owner` (a clean stop hands its partitions over at once). */
  leaveShare(owner: string): Promise<void>;
  /**
   * Applies the effects of `records` that fall in `share`'s partitions after each one's checkpoint, and moves those
   * checkpoints to the last record (or to `through`, at or after it: records left out on purpose, a parked event),
   * atomically. Resolves with the share after the batch and the number of records that had effects here, or
   * `undefined` when a checkpoint moved under this consumer (another one took the partition over): nothing was
   * written, and the caller joins again before retrying.
   */
  applyShare(
    records: readonly LogRecord[],
    videoOf: (id: string) => Video | undefined,
    share: ConsumerShare,
    through?: string,
  ): Promise<{ share: ConsumerShare; applied: number } | undefined>;
}

export function isSharedStateStore(store: object): store is SharedStateStore {
  const s = store as Partial<SharedStateStore>;
  return typeof s.joinShare === "function" && typeof s.applyShare === "function" && typeof s.leaveShare === "function";
}

/** Stable partition of an id: FNV-1a (32 bit) over its UTF-16 code units, modulo `partitions`. */
export function partitionOf(id: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
