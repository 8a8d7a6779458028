import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EVENT_TYPES, type ReelEvent } from "../../src/data/types";
import { createIngestor, summarizeResults } from "../../src/events/ingest";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import type { EventLog } from "../../src/stores/event-log";
import { allSampleEvents, sampleEvent } from "./sample-events";

let dir: string;
let log: FileEventLog;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-ingest-"));
  log = await createFileEventLog({ dir });
});
afterEach(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

async function logged(l: EventLog): Promise<ReelEvent[]> {
  return (await l.read(undefined, 10_000)).map((r) => r.event);
}

describe("createIngestor", () => {
  it("accepts every event type with its fields and makes them durable", async () => {
    const accepted: ReelEvent[] = [];
    const ingestor = createIngestor({ log, onAccepted: (e) => accepted.push(...e) });
    const batch = allSampleEvents();
    const results = await ingestor.ingest(batch);
    expect(results.map((r) => r.status)).toEqual(EVENT_TYPES.map(() => "ACCEPTED"));
    expect(results.map((r) => r.index)).toEqual(batch.map((_, i) => i));
    expect((await logged(log)).map((e) => e.type)).toEqual([...EVENT_TYPES]);
    expect(accepted.length).toBe(EVENT_TYPES.length);
  });

  it("rejects one bad event without rejecting the others", async () => {
    const ingestor = createIngestor({ log });
    const good1 = sampleEvent("like", 1);
    const bad: Record<string, unknown> = { ...sampleEvent("watch", 2), watchedSec: -5 };
    const good2 = sampleEvent("share", 3);
    const results = await ingestor.ingest([good1, bad, good2, 42]);
    expect(results).toMatchObject([
      { index: 0, status: "ACCEPTED", id: good1.id },
      { index: 1, status: "REJECTED", code: "INVALID_FIELD", field: "watchedSec", id: bad.id },
      { index: 2, status: "ACCEPTED" },
      { index: 3, status: "REJECTED", code: "INVALID_EVENT" },
    ]);
    expect((await logged(log)).map((e) => e.id)).toEqual([good1.id, good2.id]);
    // What /metrics reports as reelfeed_events_ingested_total, by status; a replay adds duplicates.
    expect(ingestor.stats!()).toEqual({ accepted: 2, duplicates: 0, rejected: 2 });
    await ingestor.ingest([good1, good2]);
    expect(ingestor.stats!()).toEqual({ accepted: 2, duplicates: 2, rejected: 2 });
  });

  it("does not count a retried batch twice, also after a restart", async () => {
    const batch = [sampleEvent("like", 1), sampleEvent("like", 2)];
    const first = await createIngestor({ log }).ingest(batch);
    expect(summarizeResults(first)).toEqual({ accepted: 2, duplicates: 0, rejected: 0 });
    const retry = await createIngestor({ log }).ingest([...batch, batch[0]]);
    expect(summarizeResults(retry)).toEqual({ accepted: 0, duplicates: 3, rejected: 0 });
    await log.close();
    log = await createFileEventLog({ dir });
    const afterRestart = await createIngestor({ log }).ingest([batch[1], sampleEvent("like", 3)]);
    expect(afterRestart.map((r) => r.status)).toEqual(["DUPLICATE", "ACCEPTED"]);
    expect((await logged(log)).length).toBe(3);
  });

  it("concurrent retries of one batch are stored once", async () => {
    const ingestor = createIngestor({ log });
    const batch = Array.from({ length: 20 }, (_, i) => sampleEvent("watch", i));
    const all = await Promise.all([ingestor.ingest(batch), ingestor.ingest(batch), ingestor.ingest(batch)]);
    const accepted = all.flat().filter((r) => r.status === "ACCEPTED").length;
    expect(accepted).toBe(20);
    expect((await logged(log)).length).toBe(20);
  });

  it("refuses a batch over the bound with PAYLOAD_TOO_LARGE and stores nothing", async () => {
    const ingestor = createIngestor({ log, maxBatch: 3 });
    await expect(ingestor.ingest([1, 2, 3, 4].map((i) => sampleEvent("like", i)))).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(await logged(log)).toEqual([]);
  });

  it("answers UNAVAILABLE when the log cannot write, and a retry then succeeds", async () => {
    let down = true;
    const flaky = {
      ...log,
      appendNew: (events: readonly ReelEvent[]) => (down ? Promise.reject(new Error("disk gone")) : log.appendNew(events)),
    };
    const ingestor = createIngestor({ log: flaky });
    const batch = [sampleEvent("like", 1)];
    await expect(ingestor.ingest(batch)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    down = false;
    expect((await ingestor.ingest(batch))[0].status).toBe("ACCEPTED");
  });

  it("needs a dedupe for a log that cannot deduplicate itself", () => {
    const plain: EventLog = { kind: "file", append: async () => {}, read: async () => [], close: async () => {} };
    expect(() => createIngestor({ log: plain })).toThrow(expect.objectContaining({ code: "BAD_CONFIG" }));
  });
});
