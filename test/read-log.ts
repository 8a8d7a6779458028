import type { LoadedRuntime } from "../src/app/runtime";
import type { ReelEvent } from "../src/data/types";

/** Every event in a runtime's event log, in log order (what the tests check logged impressions against). */
export async function readLog(rt: Pick<LoadedRuntime, "log">): Promise<ReelEvent[]> {
  const out: ReelEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const recs = await rt.log.read(cursor, 1000);
    if (recs.length === 0) return out;
    out.push(...recs.map((r) => r.event));
    cursor = recs[recs.length - 1].cursor;
  }
}
