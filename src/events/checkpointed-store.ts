import type { ReelEvent, Video } from "../data/types";
import type { StateStore } from "../stores/state-store";

/**
 * A state store that records, together with the state, the log position it has applied up to. The consumer
 * resumes from there, so a batch is applied exactly once even across crashes (Redis: the cursor is written in the
 * same MULTI as the state; memory: state and cursor are lost together and rebuilt from the start of the log).
 */
export interface CheckpointedStateStore extends StateStore {
  /** `apply`, then remember `cursor` as applied, atomically. */
  applyAt(events: readonly ReelEvent[], videoOf: (id: string) => Video | undefined, cursor: string): Promise<void>;
  /** The cursor of the last batch applied with `applyAt`; undefined for a fresh store. */
  checkpoint(): Promise<string | undefined>;
}

export function isCheckpointedStateStore(store: StateStore): store is CheckpointedStateStore {
  const s = store as Partial<CheckpointedStateStore>;
  return typeof s.applyAt === "function" && typeof s.checkpoint === "function";
}

/** Forward decay (Cormode et al.): a hit at t adds 2^((t − landmark)/halfLife); dividing by 2^((now − landmark)/halfLife) gives the decayed count now. */
export function forwardDecayWeight(t: number, landmark: number, halfLifeMs: number): number {
  return Math.pow(2, (t - landmark) / halfLifeMs);
}

/** Past this many half-lives after the landmark, scores are rescaled and the landmark moved (doubles stay exact). */
export const LANDMARK_REBASE_HALF_LIVES = 64;
