import type { Follow, ReelEvent } from "../data/types";
import type { EngagementKind, GraphStore } from "../stores/graph-store";
import type { Progress } from "../util/progress";
import { silentProgress } from "../util/progress";

/**
 * Keeps the social graph in step with events: `follow` events add edges, engagement events (watch, like, share,
 * save, comment) add engagements. The same function serves the start-up bootstrap (the bundle's history) and the
 * consumer's `onEvents` hook (new events), so both paths build the same graph.
 */
const ENGAGEMENT: Partial<Record<ReelEvent["type"], EngagementKind>> = {
  watch: "watch",
  like: "like",
  share: "share",
  save: "save",
  comment: "comment",
};

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
}

/** Loads a dataset's follows and engagements into the graph. Returns the number of writes. */
export async function bootstrapGraph(graph: GraphStore, options: BootstrapGraphOptions): Promise<number> {
  const { follows, events, progress = silentProgress, chunk = 20_000 } = options;
  let writes = 0;
  for (const f of follows) {
    if (f.followerId === f.followeeId) continue;
    await graph.follow(f.followerId, f.followeeId, f.ts);
    writes++;
  }
  const step = progress.step(`graph: ${follows.length} follows + engagements from ${events.length} events`, events.length);
  for (let i = 0; i < events.length; i += chunk) {
    const batch = events.slice(i, i + chunk);
    writes += await applyToGraph(graph, batch);
    step.tick(batch.length);
  }
  step.done(`${writes} writes`);
  return writes;
}
