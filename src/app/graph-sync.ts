import type { Follow, ReelEvent } from "../data/types";
import type { EngagementKind, GraphStore } from "../stores/graph-store";
import { isBatchedGraphStore, type GraphWrite } from "../stores/graph-store-neo4j";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";

/**
 * Keeps the social graph in step with events: `follow` events add edges, engagement events (watch, like, share,
 * save, comment) add engagements. The same function serves the start-up bootstrap (the bundle's history) and the
 * consumer's `onEvents` hook (new events), so both paths build the same graph.
 *
 * A batched store (Neo4j) gets the writes of a whole batch at once (UNWIND, thousands of rows per transaction) and
 * remembers its bootstrap by data id, so a restart neither replays the history nor double-counts it; its writes
 * are idempotent, so a batch retried or written by two consumers changes nothing the second time.
 */
const ENGAGEMENT: Partial<Record<ReelEvent["type"], EngagementKind>> = {
  watch: "watch",
  like: "like",
  share: "share",
  save: "save",
  comment: "comment",
};

/** The graph write one event implies, as data (none for most event types). */
export function graphWriteOf(event: ReelEvent): GraphWrite | undefined {
  if (event.type === "follow") return event.followeeId === event.userId ? undefined : { type: "follow", followerId: event.userId, followeeId: event.followeeId, ts: event.ts };
  const kind = ENGAGEMENT[event.type];
  if (kind && "videoId" in event) return { type: "engage", userId: event.userId, videoId: event.videoId, kind, ts: event.ts };
  return undefined;
}

/** The graph writes one event implies (none for most event types). */
export function graphWrites(graph: GraphStore, event: ReelEvent): Array<() => Promise<void>> {
  if (event.type === "follow") {
    if (event.followeeId === event.userId) return [];
    return [() => graph.follow(event.userId, event.followeeId, event.ts)];
  }
  const kind = ENGAGEMENT[event.type];
  if (kind && "videoId" in event) return [() => graph.recordEngagement(event.userId, event.videoId, kind, event.ts)];
  return [];
}

export interface ApplyGraphOptions {
  /** Writes in flight at once (Neo4j round trips; the embedded store is synchronous anyway). @default 16 */
  concurrency?: number;
}

/** Applies events to the graph in order of submission, at most `concurrency` writes in flight. */
export async function applyToGraph(graph: GraphStore, events: readonly ReelEvent[], options: ApplyGraphOptions = {}): Promise<number> {
  const { concurrency = 16 } = options;
  if (isBatchedGraphStore(graph)) {
    const writes = events.map(graphWriteOf).filter((w): w is GraphWrite => w !== undefined);
    await graph.applyWrites(writes);
    return writes.length;
  }
  const writes = events.flatMap((e) => graphWrites(graph, e));
  if (graph.kind === "embedded") {
    for (const w of writes) await w();
    return writes.length;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < writes.length) await writes[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, writes.length) }, worker));
  return writes.length;
}

export interface BootstrapGraphOptions {
  /** Follow edges of the dataset (some predate its events, so they are not all `follow` events). */
  follows: readonly Follow[];
  /** The history. */
  events: readonly ReelEvent[];
  /** @default silentProgress */
  progress?: Progress;
  /** Events per progress tick. @default 20_000 */
  chunk?: number;
  /**
   * Identifies the history (the bundle's data fingerprint): a batched store that already holds it skips the
   * bootstrap, and marks it once loaded. @default undefined (always load)
   */
  dataId?: string;
}

/** Loads a dataset's follows and engagements into the graph. Returns the number of writes. */
export async function bootstrapGraph(graph: GraphStore, options: BootstrapGraphOptions): Promise<number> {
  const { follows, events, progress = silentProgress, chunk = 20_000, dataId } = options;
  const batched = isBatchedGraphStore(graph) ? graph : undefined;
  if (batched && dataId !== undefined && (await batched.bootstrapped(dataId))) {
    progress.log(`graph (${graph.kind}): history ${dataId.slice(0, 8)} already loaded; not replayed`);
    return 0;
  }
  let writes = 0;
  const followWrites: GraphWrite[] = follows.filter((f) => f.followerId !== f.followeeId).map((f) => ({ type: "follow", followerId: f.followerId, followeeId: f.followeeId, ts: f.ts }));
  if (batched) await batched.applyWrites(followWrites);
  else for (const f of followWrites) if (f.type === "follow") await graph.follow(f.followerId, f.followeeId, f.ts);
  writes += followWrites.length;
  const step = progress.step(`graph: ${follows.length} follows + engagements from ${events.length} events`, events.length);
  for (let i = 0; i < events.length; i += chunk) {
    const batch = events.slice(i, i + chunk);
    writes += await applyToGraph(graph, batch);
    step.tick(batch.length);
  }
  // Marked only once complete: a start-up that died half-way loads it again (the writes are idempotent).
  if (batched && dataId !== undefined) await batched.markBootstrapped(dataId);
  step.done(`${writes} writes`);
  return writes;
}
