import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createEventConsumer, type EventConsumer } from "../../src/events/consumer";
import { createIngestor } from "../../src/events/ingest";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import type { StateStore } from "../../src/stores/state-store";
import { createMemoryStateStore } from "../../src/stores/state-store-memory";
import { sampleEvent } from "./sample-events";

let dir: string;
let log: FileEventLog;
let consumer: EventConsumer | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-consumer-"));
  log = await createFileEventLog({ dir: join(dir, "log") });
});
afterEach(async () => {
  await consumer?.stop();
  consumer = undefined;
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

describe("event consumer", () => {
  it("makes an accepted event visible to the next feed read well within a second", async () => {
    const store = createMemoryStateStore();
    const hooked: ReelEvent[] = [];
    consumer = createEventConsumer({ log, store, videoOf: () => undefined, onEvents: (e) => void hooked.push(...e), pollMs: 20 });
    const ingestor = createIngestor({ log, onAccepted: () => consumer?.nudge() });
    await consumer.start();
    const t0 = Date.now();
    await ingestor.ingest([sampleEvent("not_interested", 1), { ...sampleEvent("follow", 2), userId: "u1" }]);
    const u = sampleEvent("not_interested", 1).userId as string;
    const deadline = Date.now() + 1000;
    while ((await store.getRelations(u)).notInterested.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await store.getRelations(u)).notInterested).toEqual(["v1"]);
    expect(hooked.map((e) => e.type)).toEqual(["not_interested", "follow"]);
    expect(await consumer.catchUp()).toBe(log.end());
    expect(consumer.applied).toBe(2);
  });

  it("resumes from its persisted cursor and applies each record once", async () => {
    const cursorFile = join(dir, "cursor");
    const ingestor = createIngestor({ log });
    await ingestor.ingest(Array.from({ length: 30 }, (_, i) => ({ ...sampleEvent("like", i), userId: "fan" })));
    const counting = (): { store: StateStore; applied: () => number } => {
      const inner = createMemoryStateStore();
      let n = 0;
      // A store without checkpoint support: the consumer persists its cursor to the file.
      const { applyAt: _a, checkpoint: _c, ...plain } = inner;
      const store: StateStore = { ...plain, apply: async (ev, vo) => void ((n += ev.length), await inner.apply(ev, vo)) };
      return { store, applied: () => n };
    };
    const first = counting();
    consumer = createEventConsumer({ log, store: first.store, videoOf: () => undefined, cursorFile, batchSize: 7 });
    await consumer.start();
    await consumer.waitUntilApplied(log.end()!);
    await consumer.stop();
    expect(first.applied()).toBe(30);
    expect((await readFile(cursorFile, "utf8")).trim()).toBe(log.end());

    await ingestor.ingest(Array.from({ length: 5 }, (_, i) => sampleEvent("like", 100 + i)));
    const second = counting();
    consumer = createEventConsumer({ log, store: second.store, videoOf: () => undefined, cursorFile });
    await consumer.start();
    await consumer.catchUp();
    expect(second.applied()).toBe(5);
  });

  it("retries a batch the store failed to apply, reporting the error", async () => {
    const inner = createMemoryStateStore();
    let fail = 2;
    const errors: Error[] = [];
    const store = { ...inner, applyAt: async (...args: Parameters<typeof inner.applyAt>) => { if (fail-- > 0) throw new Error("store down"); return inner.applyAt(...args); } };
    consumer = createEventConsumer({ log, store, videoOf: () => undefined, pollMs: 10, onError: (e) => errors.push(e) });
    await createIngestor({ log }).ingest([{ ...sampleEvent("like", 1), userId: "z" }]);
    await consumer.start();
    await consumer.waitUntilApplied(log.end()!, 2000);
    expect(errors.length).toBe(2);
    expect((await inner.getUser("z"))?.likes).toBe(1);
  });

  it("times out waitUntilApplied with a clear error", async () => {
    consumer = createEventConsumer({ log, store: createMemoryStateStore(), videoOf: () => undefined });
    await consumer.start();
    await expect(consumer.waitUntilApplied("0000000009:000000000001", 100)).rejects.toThrow(/not reached within 100 ms/);
  });
});
